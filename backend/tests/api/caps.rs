//! Caps on what one user can hold open or queue: reply streams per user (429 above the cap,
//! nothing stored) over one shared Redis pub/sub connection, LLM budgets, one persona job in
//! flight, one waiting analysis per diary, and background work kept behind interactive work.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_detail, json_of, metric};

#[tokio::test]
async fn a_user_holds_at_most_five_streams_over_one_shared_redis_connection() {
    // No worker: the replies never come, so each stream stays open until its idle timeout.
    let app = TestApp::spawn().await;
    // The cache's invalidation channel is the connection's first subscriber.
    for _ in 0..100 {
        if app.state.cache.local_in_use() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let connections = metric("redis_pubsub_connections_total");
    let token = app.user("minji").await;
    let chat = app.own_chat(&token).await;
    let path = format!("/api/v1/chats/{chat}/messages/stream");
    let first = app.post(&path, Some(&token), json!({ "content": "안녕" })).await;
    assert_eq!(first.status(), StatusCode::OK);
    let message_id: i64 = app.sql().await.query_one("select id from chat_messages", &[]).await.unwrap().get(0);
    let resume = format!("/api/v1/chats/{chat}/messages/{message_id}/stream");
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
    assert_eq!(metric("redis_pubsub_connections_total"), connections, "five streams, no new pub/sub connection");
    assert_eq!(app.state.redis.subscribed_channels().await, 2, "one channel for the reply, one for the cache");
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
    let chat = app.own_chat(&chatter).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    let res = app.post(&format!("/api/v1/chats/{chat}/messages"), Some(&chatter), json!({ "content": "안녕" })).await;
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

#[tokio::test]
async fn past_the_monthly_budget_requests_get_429_and_the_worker_calls_no_model() {
    // A free plan of 1 token: the first reply (let through at zero) spends it.
    let app = TestApp::builder().worker().settings(|s| s.budgets.free_tokens = 1).spawn().await;
    let token = app.user("minji").await;
    let chat = app.own_chat(&token).await;
    let path = format!("/api/v1/chats/{chat}/messages");
    json_of(app.post(&path, Some(&token), json!({ "content": "안녕" })).await, StatusCode::OK).await;
    app.wait_for_jobs().await;

    let usage = json_of(app.get("/api/v1/subscriptions/usage", Some(&token)).await, StatusCode::OK).await;
    let budget = &usage["llm_budget"];
    assert!(budget["tokens_used"].as_i64().unwrap() > 1, "{usage}");
    assert_eq!(budget["token_budget"], 1);
    assert!(budget["cost_used_usd"].as_f64().unwrap() > 0.0, "{usage}");

    let refused = app.post(&path, Some(&token), json!({ "content": "또 안녕" })).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=31 * 24 * 3600).contains(&retry_after), "{retry_after}");
    let body = json_of(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(body["detail"].as_str().unwrap().contains("budget"), "{body}");
    let messages: i64 = app.sql().await.query_one("select count(*) from chat_messages", &[]).await.unwrap().get(0);
    assert_eq!(messages, 2, "the refused message was not stored");
    let streamed = app.post(&format!("{path}/stream"), Some(&token), json!({ "content": "또" })).await;
    assert_eq!(streamed.status(), StatusCode::TOO_MANY_REQUESTS);

    // Background work of a user past the budget fails without calling the model.
    let stats = |app: &TestApp| {
        let url = format!("{}/_control/stats", app.llm);
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap()["requests"].clone() }
    };
    let before = stats(&app).await;
    app.diary(&token, 0, Some("happy")).await;
    app.wait_for_jobs().await;
    assert_eq!(stats(&app).await, before, "no LLM call for a user past the budget");
    let failed: String =
        app.sql().await.query_one("select error from ai_jobs where kind = 'diary_analysis'", &[]).await.unwrap().get(0);
    assert!(failed.contains("budget"), "{failed}");
}

#[tokio::test]
async fn quick_edits_of_a_diary_leave_one_waiting_analysis() {
    // No worker: every analysis stays pending.
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let diary = app.diary(&token, 0, None).await;
    let other = app.diary(&token, 1, None).await;
    for i in 0..5 {
        let edit = json!({ "content": format!("고쳐 쓴 일기 {i}") });
        json_of(app.patch(&format!("/api/v1/diaries/{}", diary["id"]), Some(&token), edit).await, StatusCode::OK).await;
    }
    let pending = |id: &serde_json::Value| {
        let id = id.as_i64().unwrap();
        let app = &app;
        async move {
            let sql =
                "select count(*) from ai_jobs where kind = 'diary_analysis' and subject_id = $1 and status = 'pending'";
            app.sql().await.query_one(sql, &[&id]).await.unwrap().get::<_, i64>(0)
        }
    };
    assert_eq!(pending(&diary["id"]).await, 1, "five edits join the analysis already waiting");
    assert_eq!(pending(&other["id"]).await, 1);
    let queued: i64 = app
        .sql()
        .await
        .query_one(
            "select count(*) from apalis.jobs where job_type = 'dearme.ai.background' and status = 'Pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(queued <= 6, "an analysis per diary plus the summaries and suggestions: {queued}");
}
