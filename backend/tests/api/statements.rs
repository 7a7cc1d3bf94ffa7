//! Named prepared statements (`DB_NAMED_STATEMENTS`). Debian's PgBouncer 1.18 cannot keep them in
//! transaction mode, so these tests connect directly, as a PgBouncer >= 1.21 with
//! `max_prepared_statements` would let them be used.

use dearme::platform::{
    db::Role,
    settings::{Secret, Settings},
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, env, json_of, with_db};

/// Direct connections, one per pool (so the pool's one connection shows its cache). The read
/// pool goes to the replica, or (`replica: false`) to the primary too: a server that has replayed
/// everything, so every read takes the read pool and the same requests run the same statements.
fn direct(s: &mut Settings, named: bool, replica: bool) {
    let db_name = s.database_url.expose().rsplit_once('/').unwrap().1.to_owned();
    s.database_url = Secret::new(with_db(&env("DATABASE_DIRECT_URL"), &db_name));
    let read = if replica { "DATABASE_REPLICA_DIRECT_URL" } else { "DATABASE_DIRECT_URL" };
    s.database_read_urls = vec![Secret::new(with_db(&env(read), &db_name))];
    s.db_named_statements = named;
    // Recent writers' reads run the replay check and the read in one transaction: named too.
    s.database_read_verify_lsn = true;
    s.db_pool_size = 1;
}

/// Statements prepared and cached on the pool's one connection of `role`.
async fn cached(app: &TestApp, role: Role) -> usize {
    app.state.db.pool(role).get().await.unwrap().statement_cache.size()
}

/// A user's round of requests: a write in a transaction, an edit, reads on either server.
async fn round(app: &TestApp, token: &str, days_ago: i64) {
    let id = app.diary(token, days_ago, Some("happy")).await["id"].as_i64().unwrap();
    let edit = json!({ "title": format!("고친 제목 {days_ago}") });
    json_of(app.patch(&format!("/api/v1/diaries/{id}"), Some(token), edit).await, StatusCode::OK).await;
    let diary = json_of(app.get(&format!("/api/v1/diaries/{id}"), Some(token)).await, StatusCode::OK).await;
    assert_eq!(diary["title"], format!("고친 제목 {days_ago}"));
    let list = json_of(app.get("/api/v1/diaries?per_page=20", Some(token)).await, StatusCode::OK).await;
    assert!(list["items"].as_array().unwrap().iter().any(|d| d["id"] == id), "{list}");
}

#[tokio::test]
async fn with_named_statements_each_is_prepared_once_per_connection_and_reused() {
    let app = TestApp::builder().settings(|s| direct(s, true, false)).spawn().await;
    let (minji, jisoo) = (app.user("minji").await, app.user("jisoo").await);
    for days_ago in 0..2 {
        round(&app, &minji, days_ago).await;
    }
    let (writes, reads) = (cached(&app, Role::Primary).await, cached(&app, Role::Replica(0)).await);
    assert!(writes > 0 && reads > 0, "prepared on both connections: {writes} / {reads}");
    for days_ago in 2..4 {
        round(&app, &minji, days_ago).await;
    }
    for days_ago in 0..2 {
        round(&app, &jisoo, days_ago).await;
    }
    let again = (cached(&app, Role::Primary).await, cached(&app, Role::Replica(0)).await);
    assert_eq!(again, (writes, reads), "the same requests prepare nothing new");
    let list = json_of(app.get("/api/v1/diaries?page=1&per_page=10", Some(&minji)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 4);
}

#[tokio::test]
async fn named_statements_run_on_a_streaming_replica() {
    let app = TestApp::builder().settings(|s| direct(s, true, true)).spawn().await;
    let token = app.user("minji").await;
    round(&app, &token, 0).await;
    app.wait_for_replica().await;
    round(&app, &token, 1).await;
    let list = json_of(app.get("/api/v1/diaries?page=1&per_page=10", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 2);
    assert!(cached(&app, Role::Replica(0)).await > 0, "the replica's connection prepared its reads");
}

#[tokio::test]
async fn without_named_statements_nothing_is_prepared() {
    let app = TestApp::builder().settings(|s| direct(s, false, false)).spawn().await;
    let token = app.user("minji").await;
    round(&app, &token, 0).await;
    assert_eq!((cached(&app, Role::Primary).await, cached(&app, Role::Replica(0)).await), (0, 0));
}
