//! Time limits per route: an ordinary route is cut at `REQUEST_TIMEOUT_MS` with a 503 that the
//! metrics count, and leaves nothing in flight; an endpoint that waits for a job gets the job
//! wait instead. A request its client abandons leaves the in-flight gauge too.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_detail, json_of, metric};

#[tokio::test]
async fn a_route_past_the_request_timeout_answers_503_counted_under_its_route_with_nothing_left_in_flight() {
    // Statements may wait far longer than the request: only the route's limit can answer early.
    let app = TestApp::builder()
        .settings(|s| {
            s.request_timeout = Duration::from_secs(1);
            s.db_query_timeout = Duration::from_secs(30);
        })
        .spawn()
        .await;
    let token = app.user("minji").await;
    let id = app.user_id(&token).await;
    // The user's row locked by another transaction: the profile update waits for it.
    let lock = app.sql().await;
    lock.batch_execute(&format!("begin; select 1 from users where id = {id} for update")).await.unwrap();

    let series = r#"http_requests_total{method="PATCH",route="/api/v1/users/me",status="503"}"#;
    assert_eq!(metric(series), 0.0);
    let started = Instant::now();
    let res = app.patch("/api/v1/users/me", Some(&token), json!({ "username": "minji2" })).await;
    let elapsed = started.elapsed();
    assert_detail(res, StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable").await;
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(10), "answered after {elapsed:?}");
    assert_eq!(metric(series), 1.0, "the timeout's 503 is counted with its route");
    assert_eq!(metric("http_requests_in_flight"), 0.0, "the cut request left the in-flight gauge");

    lock.batch_execute("rollback").await.unwrap();
    // Once the lock is gone the route answers within its limit again.
    json_of(app.patch("/api/v1/users/me", Some(&token), json!({ "username": "minji3" })).await, StatusCode::OK).await;
    assert_eq!(metric("http_requests_in_flight"), 0.0);
}

#[tokio::test]
async fn an_endpoint_that_waits_for_a_job_outlasts_the_request_timeout() {
    let app = TestApp::builder()
        .worker()
        .settings(|s| {
            // Registration hashes a password under this limit too: on a loaded 2-core machine
            // half a second was not always enough for it.
            s.request_timeout = Duration::from_secs(2);
            s.job_wait_timeout = Duration::from_secs(15);
        })
        .spawn()
        .await;
    let token = app.user("minji").await;
    crate::personas::seven_diaries(&app, &token).await;
    // Every LLM answer now takes 2.5 s: the persona job outlasts the request timeout.
    let config = json!({ "latency_ms": 2500, "token_latency_ms": 5 });
    let res = app.http.post(format!("{}/_control/config", app.llm)).json(&config).send().await.unwrap();
    assert!(res.status().is_success());

    let started = Instant::now();
    let body = json_of(app.post("/api/v1/personas/generate", Some(&token), json!({})).await, StatusCode::OK).await;
    let elapsed = started.elapsed();
    assert!(body["persona"]["name"].is_string(), "{body}");
    assert!(
        elapsed > Duration::from_millis(2500),
        "the job took the LLM's 2.5 s, past the request timeout ({elapsed:?})"
    );
    let series = r#"http_requests_total{method="POST",route="/api/v1/personas/generate",status="200"}"#;
    assert_eq!(metric(series), 1.0);
}

#[tokio::test]
async fn a_request_its_client_abandons_leaves_the_in_flight_gauge() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let id = app.user_id(&token).await;
    let lock = app.sql().await;
    lock.batch_execute(&format!("begin; select 1 from users where id = {id} for update")).await.unwrap();
    // The client gives up while the update waits for the lock: the server drops the request.
    let res = app
        .http
        .patch(app.url("/api/v1/users/me"))
        .bearer_auth(&token)
        .json(&json!({ "username": "minji2" }))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(res.is_err_and(|e| e.is_timeout()));
    let deadline = Instant::now() + Duration::from_secs(3);
    while metric("http_requests_in_flight") != 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric("http_requests_in_flight"), 0.0, "the dropped request left the gauge");
    lock.batch_execute("rollback").await.unwrap();
}
