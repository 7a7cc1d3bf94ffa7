//! Reads over several replicas (`DATABASE_READ_URLS`): the test stack's second replica
//! (`STACK_REPLICAS=2`, reached directly) next to the first (through PgBouncer). Each replica is
//! tracked on its own: a paused one keeps serving users it has caught up with, a stopped one
//! leaves the rotation, and behind one URL that may hide several servers the read checks the
//! replay position itself.

use std::{process::Command, time::Duration};

use dearme::platform::{
    db::replica,
    settings::{Secret, Settings},
};
use reqwest::StatusCode;
use tokio_postgres::NoTls;

use crate::{
    helpers::{TestApp, env, json_of, with_db},
    replication::reads,
};

/// The diary list past its cached first page: every read reaches a database server.
const LIST: &str = "/api/v1/diaries?per_page=20";

/// Reads served by the replica named `name` (its host:port).
fn replica_reads(name: &str) -> u64 {
    let text = dearme::platform::metrics::exposition();
    let needle = format!(r#"db_reads_total{{role="replica",reason="healthy",replica="{name}"}} "#);
    text.lines().find_map(|l| l.strip_prefix(&needle)).map_or(0, |v| v.trim().parse().unwrap())
}

fn second_replica_url(db_name: &str) -> String {
    with_db(&env("DATABASE_REPLICA2_DIRECT_URL"), db_name)
}

/// The second replica's address, as the app labels it.
fn second_replica_name() -> String {
    let port = env("DATABASE_REPLICA2_DIRECT_URL").rsplit_once(':').unwrap().1.split('/').next().unwrap().to_owned();
    format!("127.0.0.1:{port}")
}

async fn admin2(sql: &str) {
    let (client, conn) = tokio_postgres::connect(&env("DATABASE_REPLICA2_ADMIN_URL"), NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
}

/// Resumes the second replica's replay, and starts it again if stopped, when dropped.
struct SecondReplicaRestored;

impl Drop for SecondReplicaRestored {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/stack");
        let up = Command::new(script).arg("up").env("STACK_DIR", env("STACK_DIR")).status();
        assert!(up.is_ok_and(|s| s.success()), "the stack must come back up");
        let resumed = Command::new("psql")
            .arg(env("DATABASE_REPLICA2_ADMIN_URL"))
            .args(["-qc", "select pg_wal_replay_resume() where pg_is_wal_replay_paused()"])
            .status();
        assert!(resumed.is_ok_and(|s| s.success()), "replay must be resumed");
    }
}

/// An app reading from both replicas: the first through PgBouncer, the second directly.
async fn two_replica_app(tweak: impl FnOnce(&mut Settings) + 'static) -> TestApp {
    TestApp::builder()
        .exclusive()
        .settings(move |s| {
            let db_name = s.database_url.expose().rsplit_once('/').unwrap().1.to_owned();
            s.database_read_urls.push(Secret::new(second_replica_url(&db_name)));
            tweak(s);
        })
        .spawn()
        .await
}

/// Both replicas have replayed everything written so far, and the app's monitor has seen it.
async fn settle(app: &TestApp) {
    app.wait_for_replica().await;
    second_replica_caught_up().await;
    replica::check(&app.state.db, &app.settings).await;
}

async fn second_replica_caught_up() {
    let primary = crate::helpers::admin(false).await;
    let (replica, conn) = tokio_postgres::connect(&env("DATABASE_REPLICA2_ADMIN_URL"), NoTls).await.unwrap();
    tokio::spawn(conn);
    let lsn: String = primary.query_one("select pg_current_wal_insert_lsn()::text", &[]).await.unwrap().get(0);
    for _ in 0..400 {
        let sql = "select pg_last_wal_replay_lsn() >= $1::text::pg_lsn";
        if replica.query_one(sql, &[&lsn]).await.unwrap().get::<_, bool>(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the second replica did not catch up");
}

#[tokio::test]
async fn reads_rotate_over_the_replicas_and_a_paused_one_serves_only_who_it_has_caught_up_with() {
    let app = two_replica_app(|_| {}).await;
    let _restore = SecondReplicaRestored;
    let (writer, bystander) = (app.user("minji").await, app.user("jisoo").await);
    app.diary(&writer, 1, None).await;
    settle(&app).await;
    let second = second_replica_name();
    assert_eq!(app.state.db.replicas().len(), 2);

    // Both replicas fresh: reads rotate over them.
    let before = replica_reads(&second);
    for _ in 0..6 {
        json_of(app.get(LIST, Some(&bystander)).await, StatusCode::OK).await;
    }
    assert!(replica_reads(&second) >= before + 2, "the second replica takes its turn");

    // The second replica stops replaying; the writer writes again.
    admin2("select pg_wal_replay_pause()").await;
    app.diary(&writer, 0, None).await;
    app.wait_for_replica().await;
    replica::check(&app.state.db, &app.settings).await;
    assert!(app.state.db.replicas()[1].health.is_usable(), "a short pause stays within the lag bounds");

    let (second_before, primary_before) = (replica_reads(&second), reads("primary", "read_your_writes"));
    for _ in 0..6 {
        let list = json_of(app.get(LIST, Some(&writer)).await, StatusCode::OK).await;
        assert_eq!(list["total"], 2, "the writer always sees both diaries");
    }
    assert_eq!(replica_reads(&second), second_before, "the paused replica never serves the writer");
    assert_eq!(reads("primary", "read_your_writes"), primary_before, "the fresh replica does, not the primary");

    // Someone with no recent write may still be served by the paused replica.
    for _ in 0..6 {
        json_of(app.get(LIST, Some(&bystander)).await, StatusCode::OK).await;
    }
    assert!(replica_reads(&second) > second_before, "the paused replica still serves the bystander");
}

#[tokio::test]
async fn a_stopped_replica_leaves_the_rotation_and_its_metrics_say_so() {
    let app = two_replica_app(|_| {}).await;
    let _restore = SecondReplicaRestored;
    let token = app.user("minji").await;
    app.diary(&token, 0, None).await;
    settle(&app).await;
    let dir = format!("{}/pg/replica2", env("STACK_DIR"));
    let stopped = Command::new("runuser")
        .args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", &dir, "-m", "fast", "-w", "stop"])
        .stdout(std::process::Stdio::null())
        .status();
    assert!(stopped.is_ok_and(|s| s.success()));
    replica::check(&app.state.db, &app.settings).await;
    let health = &app.state.db.replicas()[1].health;
    assert!(!health.is_reachable() && !health.is_usable(), "the monitor sees the second replica down");
    assert!(app.state.db.replicas()[0].health.is_usable(), "the first is still in use");

    for _ in 0..6 {
        let list = tokio::time::timeout(Duration::from_secs(5), app.get(LIST, Some(&token))).await;
        assert_eq!(json_of(list.expect("no hang"), StatusCode::OK).await["total"], 1);
    }
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let up = |v: &str| format!(r#"db_replica_up{{replica="{}"}} {v}"#, second_replica_name());
    assert!(text.lines().any(|l| l == up("0")), "{text}");
    let ready = json_of(app.get("/health/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["checks"]["replicas"][1]["status"], "down", "{ready}");
    assert_eq!(ready["checks"]["replica"]["status"], "up", "the one in use stands for the replica: {ready}");
}

/// Behind one read URL (a Kubernetes `-ro` service may hide several replicas) the monitor's
/// reading says nothing of the server a read lands on: a recent writer's read checks the replay
/// position in its own transaction, and goes to the primary when that server is behind.
#[tokio::test]
async fn behind_one_read_url_a_recent_writers_read_checks_the_replay_position_itself() {
    let app = TestApp::builder()
        .exclusive()
        .settings(|s| {
            let db_name = s.database_url.expose().rsplit_once('/').unwrap().1.to_owned();
            s.database_read_urls = vec![Secret::new(second_replica_url(&db_name))];
            s.database_read_verify_lsn = true;
        })
        .spawn()
        .await;
    let _restore = SecondReplicaRestored;
    let (writer, bystander) = (app.user("minji").await, app.user("jisoo").await);
    settle(&app).await;
    admin2("select pg_wal_replay_pause()").await;
    let id = app.diary(&writer, 0, Some("happy")).await["id"].as_i64().unwrap();
    replica::check(&app.state.db, &app.settings).await;
    assert!(app.state.db.replicas()[0].health.is_usable(), "within the lag bounds: in rotation");

    let checked = reads("primary", "read_your_writes_checked");
    let diary = json_of(app.get(&format!("/api/v1/diaries/{id}"), Some(&writer)).await, StatusCode::OK).await;
    assert_eq!(diary["id"], id, "the writer sees the diary the replica does not have yet");
    assert!(reads("primary", "read_your_writes_checked") > checked, "the read itself found the replica behind");

    let served = replica_reads(&second_replica_name());
    json_of(app.get(LIST, Some(&bystander)).await, StatusCode::OK).await;
    assert!(replica_reads(&second_replica_name()) > served, "without a recent write there is nothing to check");

    admin2("select pg_wal_replay_resume()").await;
    settle(&app).await;
    let checked = reads("primary", "read_your_writes_checked");
    json_of(app.get(&format!("/api/v1/diaries/{id}"), Some(&writer)).await, StatusCode::OK).await;
    assert_eq!(reads("primary", "read_your_writes_checked"), checked, "once replayed, the replica answers");
}
