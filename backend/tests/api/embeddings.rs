//! Diary embeddings: made with each diary's analysis by the worker, redone only when the text
//! changes, removed when a diary turns private, skipped (and counted) while the embedding
//! endpoint is down, and made for older diaries by `dearme embeddings backfill`.

use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::Client;

use crate::helpers::{TestApp, json_of, metric};

/// `(text_hash, embedded_at as text, vector bytes, bits)` of a diary's embedding, if any.
async fn stored(db: &Client, diary_id: i64) -> Option<(String, String, i32, i32)> {
    db.query_opt(
        "select text_hash, embedded_at::text, length(vector), bit_length(bits) from diary_embeddings where diary_id = $1",
        &[&diary_id],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
}

async fn edit(app: &TestApp, token: &str, id: i64, body: serde_json::Value) {
    json_of(app.patch(&format!("/api/v1/diaries/{id}"), Some(token), body).await, StatusCode::OK).await;
    app.wait_for_jobs().await;
}

#[tokio::test]
async fn a_diary_is_embedded_with_its_analysis_and_again_only_when_its_text_changes() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let id = app.diary(&token, 0, None).await["id"].as_i64().unwrap();
    app.wait_for_jobs().await;
    let db = app.sql().await;
    let (hash, at, bytes, bits) = stored(&db, id).await.expect("embedded with its analysis");
    assert_eq!((bytes, bits), (256 * 4, 256), "the configured dimension, as float4s and sign bits");

    edit(&app, &token, id, json!({ "mood": "calm" })).await;
    assert_eq!(stored(&db, id).await.unwrap().1, at, "same text: not embedded again");
    edit(&app, &token, id, json!({ "content": "한강에서 오래 산책했다" })).await;
    let (new_hash, new_at, _, _) = stored(&db, id).await.unwrap();
    assert!(new_hash != hash && new_at != at, "new text: embedded again");

    edit(&app, &token, id, json!({ "visibility": "private" })).await;
    assert!(stored(&db, id).await.is_none(), "a private diary keeps no embedding");
}

#[tokio::test]
async fn an_embedding_outage_leaves_the_analysis_done_and_the_backfill_catches_up() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let me = app.user_id(&token).await;
    let down = |on: bool| app.http.post(format!("{}/_control/embeddings", app.llm)).json(&json!({ "down": on })).send();
    down(true).await.unwrap();
    let failed = metric("embeddings_total{outcome=\"failed\"}");
    let id = app.diary(&token, 0, None).await["id"].as_i64().unwrap();
    app.wait_for_jobs().await;
    let db = app.sql().await;
    let status: String =
        db.query_one("select status from ai_jobs where kind = 'diary_analysis'", &[]).await.unwrap().get(0);
    assert_eq!(status, "done", "the analysis does not wait for embeddings");
    assert!(stored(&db, id).await.is_none());
    assert!(metric("embeddings_total{outcome=\"failed\"}") > failed, "the outage is counted");

    // Older diaries, written before embeddings existed, one of them private.
    db.execute(
        "insert into diaries (user_id, title, content, diary_date, visibility) \
         select $1, '예전 일기 ' || g, '오래전에 쓴 일기', current_date - 30 - g, \
                case when g = 1 then 'private' else 'self' end from generate_series(1, 5) g",
        &[&me],
    )
    .await
    .unwrap();
    down(false).await.unwrap();
    let nobody = app.backfill_embeddings(&["--user", &(me + 1000).to_string()]).await;
    assert_eq!(nobody, "embedded 0 diaries with dev-embedding (256 dimensions)", "--user keeps to that user");
    let line = app.backfill_embeddings(&["--user", &me.to_string()]).await;
    assert_eq!(line, "embedded 5 diaries with dev-embedding (256 dimensions)");
    let (embedded, private): (i64, i64) = {
        let row = db
            .query_one(
                "select count(*), count(*) filter (where d.visibility = 'private') \
                 from diary_embeddings e join diaries d on d.id = e.diary_id",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((embedded, private), (5, 0), "every diary but the private one");
    let logged: i64 =
        db.query_one("select count(*) from diary_access_log where job_kind = 'embedding'", &[]).await.unwrap().get(0);
    assert_eq!(logged, 5, "each read is in its owner's access log");
}
