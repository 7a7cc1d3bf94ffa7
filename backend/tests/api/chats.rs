//! Contract 4.6 and 4.6.1: chats, the daily limit, and reply streaming through the worker and
//! Redis — event order and termination, resuming on another API instance, Redis down.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail, json_of};

/// A persona for `token`'s user, arranged directly (generation is tested elsewhere).
async fn own_persona(app: &TestApp, token: &str) -> i64 {
    let me = app.user_id(token).await;
    app.sql()
        .await
        .query_one("insert into personas (user_id, name, personality, traits) values ($1, '하루', '다정함', '{따뜻한}') returning id", &[&me])
        .await
        .unwrap()
        .get(0)
}

/// A chat of `token`'s user with their own persona.
async fn own_chat(app: &TestApp, token: &str) -> Value {
    let persona_id = own_persona(app, token).await;
    json_of(app.post("/api/v1/chats", Some(token), json!({ "persona_id": persona_id })).await, StatusCode::CREATED)
        .await
}

fn events(body: &str) -> Vec<Value> {
    body.split('\n').filter_map(|l| l.strip_prefix("data: ")).map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn stream(app: &TestApp, token: &str, chat_id: i64, content: &str) -> (reqwest::header::HeaderMap, Vec<Value>) {
    let res =
        app.post(&format!("/api/v1/chats/{chat_id}/messages/stream"), Some(token), json!({ "content": content })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    (headers, events(&res.text().await.unwrap()))
}

#[tokio::test]
async fn a_stream_sends_the_user_message_then_chunks_then_done_with_their_concatenation() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let chat = own_chat(&app, &token).await;
    assert_eq!(chat["is_own_persona"], true);
    let chat_id = chat["id"].as_i64().unwrap();
    let (headers, events) = stream(&app, &token, chat_id, "오늘 하루 어땠어?").await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(events[0]["type"], "user_message");
    assert_eq!(
        (events[0]["message"]["content"].as_str(), events[0]["message"]["is_user"].as_bool()),
        (Some("오늘 하루 어땠어?"), Some(true))
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "done", "{events:?}");
    let chunks: Vec<&Value> = events[1..events.len() - 1].iter().collect();
    assert!(chunks.len() > 3 && chunks.iter().all(|e| e["type"] == "chunk" && e.get("seq").is_none()), "{events:?}");
    let text: String = chunks.iter().map(|e| e["content"].as_str().unwrap()).collect();
    assert_eq!(last["message"]["content"], text.as_str());
    assert_eq!(last["message"]["is_user"], false);
    let stored = json_of(app.get(&format!("/api/v1/chats/{chat_id}"), Some(&token)).await, StatusCode::OK).await;
    assert_eq!(stored["messages"].as_array().unwrap().len(), 2);
    assert_eq!(stored["messages"][1]["content"], text.as_str());
}

#[tokio::test]
async fn a_failing_llm_ends_the_stream_with_an_error_event() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let chat = own_chat(&app, &token).await;
    let faults = json!([{ "kind": "status", "status": 500, "times": 3 }]);
    app.http.post(format!("{}/_control/faults", app.llm)).json(&faults).send().await.unwrap();
    let (_, events) = stream(&app, &token, chat["id"].as_i64().unwrap(), "안녕").await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user_message", "error"]);
    assert!(events[1]["content"].as_str().unwrap().contains("AI"));
}

#[tokio::test]
async fn a_reply_streams_on_another_api_instance_than_the_one_that_enqueued_it() {
    let a = TestApp::builder().worker().spawn().await;
    // Instance B: its own server and pools, the same database and Redis namespace.
    let b = crate::helpers::TestApp::sibling(&a).await;
    let token = a.user("minji").await;
    let persona_id = own_persona(&a, &token).await;
    let chat =
        json_of(b.post("/api/v1/chats", Some(&token), json!({ "persona_id": persona_id })).await, StatusCode::CREATED)
            .await;
    let chat_id = chat["id"].as_i64().unwrap();
    let res = b
        .http
        .post(b.url(&format!("/api/v1/chats/{chat_id}/messages")))
        .bearer_auth(&token)
        .header("prefer", "respond-async")
        .json(&json!({ "content": "안녕" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let message_id: i64 =
        a.sql().await.query_one("select id from chat_messages where is_user", &[]).await.unwrap().get(0);
    let res = a.get(&format!("/api/v1/chats/{chat_id}/messages/{message_id}/stream"), Some(&token)).await;
    let events = events(&res.text().await.unwrap());
    assert_eq!(events.last().unwrap()["type"], "done", "{events:?}");
    let text: String = events.iter().filter(|e| e["type"] == "chunk").map(|e| e["content"].as_str().unwrap()).collect();
    assert_eq!(
        events.last().unwrap()["message"]["content"],
        text.as_str(),
        "the whole stream, replayed from the start"
    );
}

#[tokio::test]
async fn with_redis_down_the_stream_still_ends_with_the_reply() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::builder()
        .worker()
        .settings(move |s| s.redis_url = dearme::platform::settings::Secret::new(format!("redis://127.0.0.1:{port}/")))
        .spawn()
        .await;
    let token = app.user("minji").await;
    let chat = own_chat(&app, &token).await;
    let (_, events) = stream(&app, &token, chat["id"].as_i64().unwrap(), "안녕").await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user_message", "chunk", "done"], "the reply arrives whole, from Postgres");
    assert_eq!(events[1]["content"], events[2]["message"]["content"]);
}

#[tokio::test]
async fn send_message_waits_for_the_reply_and_the_free_plan_allows_five_a_day() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let chat = own_chat(&app, &token).await;
    let path = format!("/api/v1/chats/{}/messages", chat["id"]);
    for i in 0..5 {
        let reply =
            json_of(app.post(&path, Some(&token), json!({ "content": format!("메시지 {i}") })).await, StatusCode::OK)
                .await;
        assert_eq!(reply["is_user"], false);
    }
    let res = app.post(&path, Some(&token), json!({ "content": "여섯 번째" })).await;
    let body = json_of(res, StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains('5'));
    let usage = json_of(app.get("/api/v1/subscriptions/usage", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(usage["daily_chat_messages"], json!({ "used": 5, "limit": 5, "remaining": 0 }));
    json_of(app.post("/api/v1/subscriptions/upgrade", Some(&token), json!({})).await, StatusCode::OK).await;
    json_of(app.post(&path, Some(&token), json!({ "content": "프리미엄" })).await, StatusCode::OK).await;
    let messages = json_of(app.get(&format!("{path}?limit=3"), Some(&token)).await, StatusCode::OK).await;
    assert_eq!(messages.as_array().unwrap().len(), 3);
    assert_eq!(messages[0]["content"], "메시지 0", "the oldest messages, as the contract says");
}

#[tokio::test]
async fn chats_are_owner_scoped_and_friend_personas_need_friendship() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner").await;
    let other = app.user("other").await;
    let persona_id = own_persona(&app, &owner).await;
    assert_detail(
        app.post("/api/v1/chats", Some(&other), json!({ "persona_id": persona_id })).await,
        StatusCode::FORBIDDEN,
        "You can only chat with persona of your friends",
    )
    .await;
    assert_detail(
        app.post("/api/v1/chats", Some(&other), json!({ "persona_id": 999_999 })).await,
        StatusCode::NOT_FOUND,
        "Persona not found",
    )
    .await;
    let chat = json_of(
        app.post("/api/v1/chats", Some(&owner), json!({ "persona_id": persona_id })).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/chats/{}", chat["id"]);
    assert_detail(app.get(&path, Some(&other)).await, StatusCode::NOT_FOUND, "Chat not found").await;
    assert_detail(
        app.post(&format!("{path}/messages/stream"), Some(&other), json!({ "content": "hi" })).await,
        StatusCode::NOT_FOUND,
        "Chat not found",
    )
    .await;
    assert_detail(app.delete(&path, Some(&other)).await, StatusCode::NOT_FOUND, "Chat not found").await;
    let bad = json_of(
        app.post(&format!("{path}/messages/stream"), Some(&owner), json!({ "content": "" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "content"]));
    let list =
        json_of(app.get("/api/v1/chats?per_page=51", Some(&owner)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(list["detail"][0]["loc"], json!(["query", "per_page"]));
    let list = json_of(app.get("/api/v1/chats", Some(&owner)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 1);
    assert_eq!(app.delete(&path, Some(&owner)).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_stream_whose_worker_dies_mid_reply_still_ends_with_an_error() {
    use futures_util::StreamExt;
    // No in-process worker: a real worker process, killed after the first chunk.
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let chat = own_chat(&app, &token).await;
    let slow = json!({ "latency_ms": 0, "token_latency_ms": 300 });
    app.http.post(format!("{}/_control/config", app.llm)).json(&slow).send().await.unwrap();
    let mut worker = crate::ai::WorkerProcess::start(&app);
    let res = app
        .post(&format!("/api/v1/chats/{}/messages/stream", chat["id"]), Some(&token), json!({ "content": "안녕" }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.bytes_stream();
    let mut text = String::new();
    let started = std::time::Instant::now();
    while let Some(piece) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&piece.unwrap()));
        if reply_started(&text) {
            worker.kill();
        }
    }
    let events = events(&text);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"user_message"));
    assert!(kinds.contains(&"chunk"), "the reply had started: {kinds:?}");
    assert_eq!(kinds.last(), Some(&"error"), "the stream ends even though no one will finish it: {kinds:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "bounded by the idle timeout");
}

/// True once a chunk has arrived (the worker is mid-reply).
fn reply_started(text: &str) -> bool {
    text.contains("\"type\":\"chunk\"")
}
