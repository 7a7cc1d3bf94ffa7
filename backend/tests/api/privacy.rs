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
    let persona_id = app.persona(&owner).await;
    let db = app.sql().await;
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

/// A diary of `token`'s user, `days_ago`, with `visibility` (absent: the default).
async fn diary(app: &TestApp, token: &str, days_ago: i64, visibility: Option<&str>) -> i64 {
    let date = (chrono::Utc::now().date_naive() - chrono::Duration::days(days_ago)).to_string();
    let mut body = json!({ "title": format!("일기 {days_ago}"), "content": "비밀스러운 하루", "diary_date": date });
    if let Some(v) = visibility {
        body["visibility"] = json!(v);
    }
    let created = json_of(app.post("/api/v1/diaries", Some(token), body).await, StatusCode::CREATED).await;
    assert_eq!(created["visibility"], visibility.unwrap_or("self"));
    created["id"].as_i64().unwrap()
}

/// The diary ids in `token`'s access log, with the reader each read was for.
async fn access_log(app: &TestApp, token: &str) -> Vec<(i64, Option<String>, String)> {
    app.wait_for_replica().await;
    let log = json_of(app.get("/api/v1/diaries/access-log?limit=100", Some(token)).await, StatusCode::OK).await;
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["diary_id"].as_i64().unwrap(),
                e["reader_username"].as_str().map(str::to_owned),
                e["job_kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_private_diary_never_reaches_an_llm_and_every_read_is_in_the_owners_log() {
    let app = TestApp::builder().worker().spawn().await;
    let owner = app.user("owner").await;
    let private = diary(&app, &owner, 0, Some("private")).await;
    let own = diary(&app, &owner, 1, None).await;
    app.wait_for_jobs().await;
    let db = app.sql().await;
    let analysed: Vec<i64> =
        db.query("select diary_id from mental_analyses", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(analysed, vec![own], "the private diary is not analysed");
    let log = access_log(&app, &owner).await;
    assert!(log.iter().all(|(id, _, _)| *id != private), "{log:?}");
    assert!(log.iter().any(|(id, reader, kind)| *id == own && reader.is_none() && kind == "diary_analysis"), "{log:?}");
    // Made private later: the jobs its update triggers read nothing more of it.
    let reads = |log: &[(i64, Option<String>, String)]| log.iter().filter(|(id, _, _)| *id == own).count();
    let before = reads(&log);
    let res = app.patch(&format!("/api/v1/diaries/{own}"), Some(&owner), json!({ "visibility": "private" })).await;
    assert_eq!(json_of(res, StatusCode::OK).await["visibility"], "private");
    let bad = app.patch(&format!("/api/v1/diaries/{own}"), Some(&owner), json!({ "visibility": "public" })).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.wait_for_jobs().await;
    assert_eq!(reads(&access_log(&app, &owner).await), before, "no read after it was made private");
}

#[tokio::test]
async fn a_friends_chat_remembers_only_diaries_shared_with_friends_and_the_owner_sees_who_read_them() {
    let app = TestApp::builder().worker().spawn().await;
    let (owner, friend, chat_id) = friend_chat(&app).await;
    let own_only = diary(&app, &owner, 0, None).await;
    let shared = diary(&app, &owner, 1, Some("friends")).await;
    let private = diary(&app, &owner, 2, Some("private")).await;
    app.wait_for_jobs().await;
    let res =
        app.post(&format!("/api/v1/chats/{chat_id}/messages"), Some(&friend), json!({ "content": "요즘 어때?" })).await;
    json_of(res, StatusCode::OK).await;
    let log = access_log(&app, &owner).await;
    let by_friend: Vec<i64> =
        log.iter().filter(|(_, reader, _)| reader.as_deref() == Some("friend")).map(|(id, _, _)| *id).collect();
    assert_eq!(by_friend, vec![shared], "the friend's chat read only the shared diary: {log:?}");
    assert!(log.iter().all(|(id, _, _)| *id != private), "{log:?}");
    // The owner's own chat remembers both of theirs (not the private one).
    let own_persona: i64 =
        app.sql().await.query_one("select persona_id from chats where id = $1", &[&chat_id]).await.unwrap().get(0);
    let own_chat = json_of(
        app.post("/api/v1/chats", Some(&owner), json!({ "persona_id": own_persona })).await,
        StatusCode::CREATED,
    )
    .await;
    let res = app
        .post(&format!("/api/v1/chats/{}/messages", own_chat["id"]), Some(&owner), json!({ "content": "안녕" }))
        .await;
    json_of(res, StatusCode::OK).await;
    let mut by_owner: Vec<i64> = access_log(&app, &owner)
        .await
        .iter()
        .filter(|(_, reader, kind)| reader.is_none() && kind == "chat_reply")
        .map(|(id, _, _)| *id)
        .collect();
    by_owner.sort_unstable();
    assert_eq!(by_owner, vec![own_only, shared]);
}
