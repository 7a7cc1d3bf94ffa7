//! A persona remembers the diaries that matter to the question, not the latest ones, cites them,
//! and keeps remembering by words when embeddings are down.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, metric};

/// A user with a persona, 300 everyday diaries, and one from 200 days ago about spring worries;
/// everything embedded. Returns `(token, chat id, the spring diary's id)`.
async fn ten_months_of_diaries(app: &TestApp) -> (String, i64, i64) {
    let token = app.user("minji").await;
    let me = app.user_id(&token).await;
    let db = app.sql().await;
    db.execute(
        "insert into diaries (user_id, title, content, diary_date) \
         select $1, '평범한 하루 ' || g, '회사에 가서 일을 하고 저녁을 먹었다. 퇴근길에 장을 봤다.', current_date - g \
         from generate_series(1, 300) g where g <> 200",
        &[&me],
    )
    .await
    .unwrap();
    let spring: i64 = db
        .query_one(
            "insert into diaries (user_id, title, content, diary_date) values ($1, '봄날', \
             '벚꽃이 다 지기 전에 중간고사 시험 걱정 때문에 잠을 못 잤다.', current_date - 200) returning id",
            &[&me],
        )
        .await
        .unwrap()
        .get(0);
    app.backfill_embeddings(&[]).await;
    let chat = app.own_chat(&token).await;
    (token, chat, spring)
}

async fn ask(app: &TestApp, token: &str, chat: i64, question: &str) -> Value {
    let res = app.post(&format!("/api/v1/chats/{chat}/messages"), Some(token), json!({ "content": question })).await;
    json_of(res, StatusCode::OK).await
}

fn cited(reply: &Value) -> Vec<i64> {
    reply["sources"]
        .as_array()
        .expect("a reply lists its sources")
        .iter()
        .map(|s| s["diary_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_persona_asked_about_a_worry_from_months_ago_recalls_that_diary_and_cites_it() {
    let app = TestApp::builder().worker().spawn().await;
    let (token, chat, spring) = ten_months_of_diaries(&app).await;
    let hybrid = metric("retrieval_total{mode=\"hybrid\"}");

    let reply = ask(&app, &token, chat, "봄에 시험 걱정했던 거 기억나?").await;
    assert_eq!(cited(&reply)[0], spring, "the relevant diary, not the latest: {reply}");
    assert_eq!(reply["sources"][0]["title"], "봄날");
    assert!(metric("retrieval_total{mode=\"hybrid\"}") > hybrid);

    let path = format!("/api/v1/chats/{chat}/messages/{}/sources", reply["id"]);
    let sources = json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(sources, reply["sources"]);
    let log: i64 = app
        .sql()
        .await
        .query_one("select count(*) from diary_access_log where diary_id = $1 and job_kind = 'chat_reply'", &[&spring])
        .await
        .unwrap()
        .get(0);
    assert_eq!(log, 1, "the owner sees the read");
    // Someone else's view of the same reply: not theirs.
    let other = app.user("jisoo").await;
    json_of(app.get(&path, Some(&other)).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn with_embeddings_down_a_persona_still_recalls_by_words_and_the_metric_says_so() {
    let app = TestApp::builder().worker().spawn().await;
    let (token, chat, spring) = ten_months_of_diaries(&app).await;
    app.http.post(format!("{}/_control/embeddings", app.llm)).json(&json!({ "down": true })).send().await.unwrap();
    let lexical = metric("retrieval_total{mode=\"lexical_only\"}");

    let reply = ask(&app, &token, chat, "중간고사 걱정").await;
    assert_eq!(cited(&reply)[0], spring, "{reply}");
    assert!(metric("retrieval_total{mode=\"lexical_only\"}") > lexical, "the degraded mode is counted");
}
