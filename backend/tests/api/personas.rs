//! Contract 4.4 with section 8: persona generation in the worker (waited for, or 202 with
//! `Prefer: respond-async`), regeneration keeping the persona, visibility to friends, and LLM
//! failures reported as failures.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail, json_of};

/// Seven diaries: four through the API (today..3 days ago), three arranged further back.
pub async fn seven_diaries(app: &TestApp, token: &str) {
    for days_ago in 0..4 {
        app.diary(token, days_ago, Some(if days_ago % 2 == 0 { "happy" } else { "calm" })).await;
    }
    let id = app.user_id(token).await;
    app.sql()
        .await
        .execute(
            "insert into diaries (user_id, title, content, mood, diary_date) \
             select $1, '지난 일기 ' || i, '산책을 하며 생각을 정리했다.', 'grateful', current_date - 10 - i from generate_series(1, 3) i",
            &[&id],
        )
        .await
        .unwrap();
}

async fn faults(app: &TestApp, faults: Value) {
    let res = app.http.post(format!("{}/_control/faults", app.llm)).json(&faults).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

async fn llm_requests(app: &TestApp) -> u64 {
    let stats: Value = app.http.get(format!("{}/_control/stats", app.llm)).send().await.unwrap().json().await.unwrap();
    stats["requests"].as_u64().unwrap()
}

#[tokio::test]
async fn generate_needs_seven_diaries_then_returns_the_persona_made_by_the_worker() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let status = json_of(app.get("/api/v1/personas/status", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(status, json!({ "diary_count": 0, "required_count": 7, "can_generate": false, "has_persona": false }));
    assert_detail(
        app.post("/api/v1/personas/generate", Some(&token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "You need at least 7 diaries to generate a persona. Current: 0",
    )
    .await;
    assert_detail(
        app.get("/api/v1/personas/me", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "Persona not found. Write at least 7 diaries to generate your persona.",
    )
    .await;

    seven_diaries(&app, &token).await;
    let body = json_of(app.post("/api/v1/personas/generate", Some(&token), json!({})).await, StatusCode::OK).await;
    let persona = &body["persona"];
    assert!(body["message"].is_string());
    assert_eq!((persona["level"].as_str(), persona["is_public"].as_bool()), (Some("complete"), Some(true)));
    assert!(persona["name"].as_str().unwrap().contains("페르소나"), "the dev LLM's answer was stored: {persona}");
    assert_eq!(persona["traits"].as_array().unwrap().len(), 3);
    assert_eq!(persona["customization"], Value::Null);
    let me = json_of(app.get("/api/v1/personas/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(me["id"], persona["id"]);
    let status = json_of(app.get("/api/v1/personas/status", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((status["has_persona"].as_bool(), status["can_generate"].as_bool()), (Some(true), Some(true)));
    assert_detail(
        app.post("/api/v1/personas/generate", Some(&token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "Persona already exists. Use regenerate endpoint to update.",
    )
    .await;
    let kinds: Vec<String> = app
        .sql()
        .await
        .query("select type from notifications where type like 'persona%'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["persona_updated"], "persona ready notification");
}

#[tokio::test]
async fn respond_async_returns_202_and_the_job_reports_its_result_to_its_owner_only() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let other = app.user("other").await;
    seven_diaries(&app, &token).await;
    let res = app
        .http
        .post(app.url("/api/v1/personas/generate"))
        .bearer_auth(&token)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v1/jobs/"));
    let mut job = Value::Null;
    for _ in 0..100 {
        job = json_of(app.get(&location, Some(&token)).await, StatusCode::OK).await;
        if job["status"] == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (job["status"].as_str(), job["progress"].as_i64(), job["kind"].as_str()),
        (Some("done"), Some(100), Some("persona"))
    );
    assert!(job["result"]["persona_id"].is_i64());
    assert_detail(app.get(&location, Some(&other)).await, StatusCode::NOT_FOUND, "Job not found").await;
}

#[tokio::test]
async fn regenerate_keeps_the_persona_its_chats_and_customization() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    seven_diaries(&app, &token).await;
    let first =
        json_of(app.post("/api/v1/personas/generate", Some(&token), json!({})).await, StatusCode::OK).await["persona"]
            .clone();
    json_of(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/personas/me/customize",
            Some(&token),
            Some(json!({ "speaking_style_tone": "cute" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let chat = json_of(
        app.post("/api/v1/chats", Some(&token), json!({ "persona_id": first["id"] })).await,
        StatusCode::CREATED,
    )
    .await;
    let again = json_of(app.post("/api/v1/personas/regenerate", Some(&token), json!({})).await, StatusCode::OK).await["persona"].clone();
    assert_eq!(again["id"], first["id"], "same persona");
    assert_eq!(again["customization"]["speaking_style_tone"], "cute");
    json_of(app.get(&format!("/api/v1/chats/{}", chat["id"]), Some(&token)).await, StatusCode::OK).await;
}

#[tokio::test]
async fn llm_failures_are_retried_with_backoff_then_reported_as_a_failure_not_a_generic_persona() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    seven_diaries(&app, &token).await;
    app.wait_for_jobs().await; // the diaries' own analysis jobs must not eat the injected faults
    let before = llm_requests(&app).await;
    // Three attempts: a 500, a 429 asking for 1 s, then a hang (cut by the 5 s attempt timeout).
    faults(&app, json!([{ "kind": "status", "status": 500 }, { "kind": "status", "status": 429, "retry_after_secs": 1 }, { "kind": "hang" }])).await;
    let started = Instant::now();
    let res = app.post("/api/v1/personas/generate", Some(&token), json!({})).await;
    assert_detail(res, StatusCode::INTERNAL_SERVER_ERROR, "Failed to generate persona. Please try again.").await;
    assert!(started.elapsed() >= Duration::from_secs(1), "the 429's Retry-After was honoured");
    assert_eq!(llm_requests(&app).await - before, 3, "three attempts, then it gives up");
    let db = app.sql().await;
    let personas: i64 = db.query_one("select count(*) from personas", &[]).await.unwrap().get(0);
    assert_eq!(personas, 0, "no fallback persona was invented");
    let job = db.query_one("select status, error from ai_jobs where kind = 'persona'", &[]).await.unwrap();
    assert_eq!(job.get::<_, String>(0), "failed");
    assert!(job.get::<_, String>(1).contains("AI service"), "the failure is recorded with its error");
    // The job stays failed in the queue too (not silently retried forever).
    let queue: String = db.query_one("select status from apalis.jobs where job_type = 'dearme.ai' and id = (select id from ai_jobs where kind = 'persona')", &[]).await.unwrap().get(0);
    assert_eq!(queue, "Failed");
}

#[tokio::test]
async fn persona_edits_and_customization_merge_and_validate() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    assert_detail(
        app.send(reqwest::Method::PUT, "/api/v1/personas/me", Some(&token), Some(json!({ "name": "x" }))).await,
        StatusCode::NOT_FOUND,
        "Persona not found.",
    )
    .await;
    seven_diaries(&app, &token).await;
    json_of(app.post("/api/v1/personas/generate", Some(&token), json!({})).await, StatusCode::OK).await;
    let updated = json_of(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/personas/me",
            Some(&token),
            Some(json!({ "name": "새 이름", "is_public": false })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!((updated["name"].as_str(), updated["is_public"].as_bool()), (Some("새 이름"), Some(false)));
    let me = json_of(app.get("/api/v1/personas/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(me["name"], "새 이름", "the cached persona was invalidated");
    let c = json_of(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/personas/me/customize",
            Some(&token),
            Some(json!({ "speaking_style_tone": "formal", "custom_greeting": "안녕" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        c["customization"],
        json!({ "speaking_style_tone": "formal", "speaking_style_emoji": null, "personality_traits_override": null, "custom_greeting": "안녕" })
    );
    let c = json_of(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/personas/me/customize",
            Some(&token),
            Some(json!({ "speaking_style_emoji": true })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (c["customization"]["speaking_style_tone"].as_str(), c["customization"]["speaking_style_emoji"].as_bool()),
        (Some("formal"), Some(true)),
        "merged"
    );
    let bad = json_of(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/personas/me/customize",
            Some(&token),
            Some(json!({ "speaking_style_tone": "rude" })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["detail"][0]["type"], "enum");
    let many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let bad = json_of(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/personas/me/customize",
            Some(&token),
            Some(json!({ "personality_traits_override": many })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["detail"][0]["type"], "too_long");
}

#[tokio::test]
async fn a_friends_persona_is_visible_to_accepted_friends_while_public() {
    let app = TestApp::spawn().await;
    let me = app.user("me").await;
    let friend = app.user("friend").await;
    let stranger = app.user("stranger").await;
    let friend_id = app.user_id(&friend).await;
    let me_id = app.user_id(&me).await;
    let path = format!("/api/v1/personas/{friend_id}");
    assert_detail(
        app.get(&format!("/api/v1/personas/{me_id}"), Some(&me)).await,
        StatusCode::BAD_REQUEST,
        "Use /personas/me endpoint for your own persona",
    )
    .await;
    assert_detail(
        app.get(&path, Some(&stranger)).await,
        StatusCode::FORBIDDEN,
        "You can only view persona of your friends",
    )
    .await;
    let req = json_of(
        app.post("/api/v1/friends/request", Some(&me), json!({ "addressee_id": friend_id })).await,
        StatusCode::CREATED,
    )
    .await;
    app.wait_for_replica().await;
    json_of(
        app.patch(&format!("/api/v1/friends/requests/{}", req["id"]), Some(&friend), json!({ "status": "accepted" }))
            .await,
        StatusCode::OK,
    )
    .await;
    app.wait_for_replica().await;
    assert_detail(app.get(&path, Some(&me)).await, StatusCode::NOT_FOUND, "Friend does not have a persona yet").await;
    app.sql()
        .await
        .execute("insert into personas (user_id, name, personality) values ($1, '친구봇', '밝음')", &[&friend_id])
        .await
        .unwrap();
    app.state
        .cache
        .invalidate(&[dearme::platform::cache::CacheKey::new(dearme::platform::cache::Cache::Persona, friend_id)])
        .await;
    app.wait_for_replica().await;
    assert_eq!(json_of(app.get(&path, Some(&me)).await, StatusCode::OK).await["name"], "친구봇");
    // The friend makes it private through the API: the cached copy is invalidated at once.
    json_of(
        app.send(reqwest::Method::PUT, "/api/v1/personas/me", Some(&friend), Some(json!({ "is_public": false }))).await,
        StatusCode::OK,
    )
    .await;
    app.wait_for_replica().await;
    assert_detail(app.get(&path, Some(&me)).await, StatusCode::FORBIDDEN, "This persona is private").await;
}

#[tokio::test]
async fn a_stored_customization_of_another_shape_is_served_as_null() {
    let app = TestApp::spawn().await;
    let token = app.user("mina").await;
    let id = app.user_id(&token).await;
    app.sql()
        .await
        .execute(
            "insert into personas (user_id, name, personality, traits, customization) \
             values ($1, '하루', '다정함', '{따뜻한}', '[1, 2]'::jsonb)",
            &[&id],
        )
        .await
        .unwrap();
    // Arranged behind the API's back, so no read-your-writes position steers the read.
    app.wait_for_replica().await;

    let persona = json_of(app.get("/api/v1/personas/me", Some(&token)).await, StatusCode::OK).await;

    assert_eq!(persona["customization"], Value::Null);
    assert_eq!(persona["name"], "하루");
}
