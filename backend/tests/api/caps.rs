//! Caps on what one user can hold open: reply streams per user (429 above the cap, nothing
//! stored), all of them over one shared Redis pub/sub connection.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_detail, json_of, metric};

#[tokio::test]
async fn a_user_holds_at_most_five_streams_over_one_shared_redis_connection() {
    // No worker: the replies never come, so each stream stays open until its idle timeout.
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let me = app.user_id(&token).await;
    let persona: i64 = app
        .sql()
        .await
        .query_one(
            "insert into personas (user_id, name, personality) values ($1, '하루', '다정함') returning id",
            &[&me],
        )
        .await
        .unwrap()
        .get(0);
    let chat =
        json_of(app.post("/api/v1/chats", Some(&token), json!({ "persona_id": persona })).await, StatusCode::CREATED)
            .await;
    let path = format!("/api/v1/chats/{}/messages/stream", chat["id"]);
    let first = app.post(&path, Some(&token), json!({ "content": "안녕" })).await;
    assert_eq!(first.status(), StatusCode::OK);
    let message_id: i64 = app.sql().await.query_one("select id from chat_messages", &[]).await.unwrap().get(0);
    let resume = format!("/api/v1/chats/{}/messages/{message_id}/stream", chat["id"]);
    let mut open = vec![first];
    for _ in 0..4 {
        let res = app.get(&resume, Some(&token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        open.push(res);
    }
    let limited = "Too many requests. Please try again later.";
    assert_detail(app.get(&resume, Some(&token)).await, StatusCode::TOO_MANY_REQUESTS, limited).await;
    let refused = app.post(&path, Some(&token), json!({ "content": "여섯 번째" })).await;
    assert_detail(refused, StatusCode::TOO_MANY_REQUESTS, limited).await;
    let stored: i64 = app.sql().await.query_one("select count(*) from chat_messages", &[]).await.unwrap().get(0);
    assert_eq!(stored, 1, "the refused message was not stored");
    assert_eq!(metric("redis_pubsub_connections_total"), 1.0, "five streams, one pub/sub connection");
    assert_eq!(app.state.redis.subscribed_channels().await, 1, "one channel: one reply");
    // A closed stream frees its slot.
    drop(open.pop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.get(&resume, Some(&token)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_flood_of_background_work_does_not_delay_another_users_chat_reply() {
    let app = TestApp::builder().worker().settings(|s| s.llm.max_concurrency = 2).spawn().await;
    // Every LLM call takes 2 s: the flood below is about a minute of background calls. Without
    // the reservation the reply's call queues behind them (4 s and more); with it, it starts at once.
    let config = json!({ "latency_ms": 2_000, "token_latency_ms": 0 });
    app.http.post(format!("{}/_control/config", app.llm)).json(&config).send().await.unwrap();
    for name in ["flood1", "flood2", "flood3"] {
        let token = app.user(name).await;
        for days_ago in 0..4 {
            app.diary(&token, days_ago, Some("happy")).await;
        }
    }
    let chatter = app.user("minji").await;
    let me = app.user_id(&chatter).await;
    let persona: i64 = app
        .sql()
        .await
        .query_one(
            "insert into personas (user_id, name, personality) values ($1, '하루', '다정함') returning id",
            &[&me],
        )
        .await
        .unwrap()
        .get(0);
    let chat =
        json_of(app.post("/api/v1/chats", Some(&chatter), json!({ "persona_id": persona })).await, StatusCode::CREATED)
            .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    let res =
        app.post(&format!("/api/v1/chats/{}/messages", chat["id"]), Some(&chatter), json!({ "content": "안녕" })).await;
    json_of(res, StatusCode::OK).await;
    let waited = started.elapsed();
    let unfinished: i64 = app
        .sql()
        .await
        .query_one("select count(*) from ai_jobs where kind <> 'chat_reply' and status in ('pending', 'running')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(unfinished >= 10, "the flood was still running ({unfinished} jobs left)");
    assert!(
        waited < std::time::Duration::from_millis(3_500),
        "the chat reply waited {waited:?} behind background work"
    );
    assert!(metric("job_queue_latency_seconds_count{job=\"chat_reply\",class=\"interactive\"}") >= 1.0);
}

#[tokio::test]
async fn persona_requests_while_one_is_in_flight_join_it() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    crate::personas::seven_diaries(&app, &token).await;
    // No worker yet: the first job stays pending, and every further request joins it.
    let (a, b, c) = tokio::join!(
        crate::ai::generate_async(&app, &token),
        crate::ai::generate_async(&app, &token),
        crate::ai::generate_async(&app, &token)
    );
    assert!(a == b && b == c, "{a} {b} {c}");
    let jobs: i64 =
        app.sql().await.query_one("select count(*) from ai_jobs where kind = 'persona'", &[]).await.unwrap().get(0);
    assert_eq!(jobs, 1);
}
