//! Authorization at every step: a friend's persona answers only while the friendship holds and
//! the persona is public, checked when a message is sent and again when its reply job runs.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    ai::WorkerProcess,
    helpers::{TestApp, assert_detail, json_of},
};

const FRIENDS_ONLY: &str = "You can only chat with persona of your friends";

/// `owner` with a persona, `friend` befriended, and `friend`'s chat with that persona.
async fn friend_chat(app: &TestApp) -> (String, String, i64) {
    let owner = app.user("owner").await;
    let friend = app.user("friend").await;
    let (owner_id, friend_id) = (app.user_id(&owner).await, app.user_id(&friend).await);
    let db = app.sql().await;
    let persona_id: i64 = db
        .query_one(
            "insert into personas (user_id, name, personality) values ($1, '하루', '다정함') returning id",
            &[&owner_id],
        )
        .await
        .unwrap()
        .get(0);
    db.execute(
        "insert into friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')",
        &[&owner_id, &friend_id],
    )
    .await
    .unwrap();
    app.wait_for_replica().await;
    let chat = json_of(
        app.post("/api/v1/chats", Some(&friend), json!({ "persona_id": persona_id })).await,
        StatusCode::CREATED,
    )
    .await;
    (owner, friend, chat["id"].as_i64().unwrap())
}

async fn reply_jobs(app: &TestApp) -> i64 {
    app.sql().await.query_one("select count(*) from ai_jobs where kind = 'chat_reply'", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn after_unfriending_the_chat_answers_403_and_no_job_runs() {
    let app = TestApp::spawn().await;
    let (owner, friend, chat_id) = friend_chat(&app).await;
    let owner_id = app.user_id(&owner).await;
    let res = app.delete(&format!("/api/v1/friends/{owner_id}"), Some(&friend)).await;
    assert!(res.status().is_success(), "{}", res.status());
    for path in [format!("/api/v1/chats/{chat_id}/messages/stream"), format!("/api/v1/chats/{chat_id}/messages")] {
        let res = app.post(&path, Some(&friend), json!({ "content": "기억나는 일기를 그대로 읊어줘" })).await;
        assert_detail(res, StatusCode::FORBIDDEN, FRIENDS_ONLY).await;
    }
    assert_eq!(reply_jobs(&app).await, 0);
    let stored: i64 = app.sql().await.query_one("select count(*) from chat_messages", &[]).await.unwrap().get(0);
    assert_eq!(stored, 0, "a refused message is not stored");
}

#[tokio::test]
async fn a_persona_made_private_stops_friends_chats_and_new_ones() {
    let app = TestApp::spawn().await;
    let (owner, friend, chat_id) = friend_chat(&app).await;
    json_of(
        app.send(reqwest::Method::PUT, "/api/v1/personas/me", Some(&owner), Some(json!({ "is_public": false }))).await,
        StatusCode::OK,
    )
    .await;
    let res = app
        .post(&format!("/api/v1/chats/{chat_id}/messages/stream"), Some(&friend), json!({ "content": "안녕" }))
        .await;
    assert_detail(res, StatusCode::FORBIDDEN, FRIENDS_ONLY).await;
    let persona_id: i64 =
        app.sql().await.query_one("select persona_id from chats where id = $1", &[&chat_id]).await.unwrap().get(0);
    let res = app.post("/api/v1/chats", Some(&friend), json!({ "persona_id": persona_id })).await;
    assert_detail(res, StatusCode::FORBIDDEN, FRIENDS_ONLY).await;
    assert_eq!(reply_jobs(&app).await, 0);
}

#[tokio::test]
async fn a_reply_job_whose_friendship_ended_after_the_message_reads_nothing() {
    let app = TestApp::spawn().await;
    let (owner, friend, chat_id) = friend_chat(&app).await;
    app.diary(&owner, 0, Some("happy")).await;
    // Accepted while they are friends (no worker runs yet) ...
    let res = app
        .http
        .post(app.url(&format!("/api/v1/chats/{chat_id}/messages")))
        .bearer_auth(&friend)
        .header("prefer", "respond-async")
        .json(&json!({ "content": "안녕" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // ... unfriended before the job runs.
    let owner_id = app.user_id(&owner).await;
    assert!(app.delete(&format!("/api/v1/friends/{owner_id}"), Some(&friend)).await.status().is_success());
    let _worker = WorkerProcess::start(&app);
    app.wait_for_jobs().await;
    let db = app.sql().await;
    let status: String =
        db.query_one("select status from ai_jobs where kind = 'chat_reply'", &[]).await.unwrap().get(0);
    assert_eq!(status, "failed");
    let replies: i64 = db.query_one("select count(*) from chat_messages where not is_user", &[]).await.unwrap().get(0);
    assert_eq!(replies, 0);
}
