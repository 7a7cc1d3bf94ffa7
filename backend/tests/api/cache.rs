//! Cache-aside: every cached read is served from Redis when present (proved by planting a value
//! and seeing it served), recomputed on a miss, replaced after the reader's own write, computed
//! once under a stampede, and still correct with Redis down.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, metric};

/// Replaces the cached value of `key` (`c:<cache>:<id>`) with `value`, keeping its envelope.
async fn plant(app: &TestApp, key: &str, value: Value) {
    let full = format!("{}:{key}", app.settings.redis_prefix);
    let raw = app.state.redis.get(&full).await.expect("redis up").unwrap_or_else(|| panic!("{key} was not cached"));
    let mut envelope: Value = serde_json::from_str(&raw).unwrap();
    envelope["v"] = value;
    app.state.redis.set_ex(&full, &envelope.to_string(), std::time::Duration::from_secs(60)).await;
    // As a write would: this instance's first level forgets its copy too.
    let (cache, id) = key.strip_prefix("c:").unwrap().split_once(':').unwrap();
    let cache = dearme::platform::cache::Cache::ALL.into_iter().find(|c| c.name() == cache).unwrap();
    app.state.cache.evict_local(&dearme::platform::cache::CacheKey::new(cache, id));
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

#[tokio::test]
async fn stats_are_served_from_cache_and_replaced_after_the_readers_write() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let id = app.user_id(&token).await;
    app.diary(&token, 1, Some("happy")).await;
    let first = json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(first["total_count"], 1);
    let key = format!("c:stats:{id}:{}", today());
    let mut planted = first.clone();
    planted["total_count"] = json!(999);
    plant(&app, &key, planted).await;
    let hit = json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(hit["total_count"], 999, "a hit is served from Redis");
    app.diary(&token, 0, None).await;
    let fresh = json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(fresh["total_count"], 2, "the reader's write invalidated the entry");
    assert_eq!(fresh["current_streak"], 2);
}

#[tokio::test]
async fn calendar_weekly_insight_and_count_are_cached_and_invalidated_by_diary_writes() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let id = app.user_id(&token).await;
    let diary = app.diary(&token, 0, Some("happy")).await;
    let (y, m) = (chrono::Datelike::year(&today()), chrono::Datelike::month(&today()));
    let cal_path = format!("/api/v1/diaries/calendar?year={y}&month={m}");
    json_of(app.get(&cal_path, Some(&token)).await, StatusCode::OK).await;
    json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await;
    json_of(app.get("/api/v1/diaries/count", Some(&token)).await, StatusCode::OK).await;

    plant(&app, &format!("c:calendar:{id}:{y}-{m}"), json!({ "items": [], "year": y, "month": m })).await;
    let mut insight = json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await;
    insight["dominant_mood"] = json!("planted");
    plant(&app, &format!("c:weekly_insight:{id}:{}", today()), insight).await;
    plant(&app, &format!("c:diary_count:{id}"), json!({ "count": 42 })).await;
    assert_eq!(json_of(app.get(&cal_path, Some(&token)).await, StatusCode::OK).await["items"], json!([]));
    assert_eq!(
        json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await["dominant_mood"],
        "planted"
    );
    assert_eq!(json_of(app.get("/api/v1/diaries/count", Some(&token)).await, StatusCode::OK).await["count"], 42);

    let path = format!("/api/v1/diaries/{}", diary["id"]);
    json_of(app.patch(&path, Some(&token), json!({ "mood": "sad" })).await, StatusCode::OK).await;
    let cal = json_of(app.get(&cal_path, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(cal["items"][0]["mood"], "sad");
    assert_eq!(
        json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await["dominant_mood"],
        "sad"
    );
    assert_eq!(json_of(app.get("/api/v1/diaries/count", Some(&token)).await, StatusCode::OK).await["count"], 1);
    assert_eq!(app.delete(&path, Some(&token)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(json_of(app.get("/api/v1/diaries/count", Some(&token)).await, StatusCode::OK).await["count"], 0);
    assert_eq!(json_of(app.get(&cal_path, Some(&token)).await, StatusCode::OK).await["items"], json!([]));
}

#[tokio::test]
async fn friend_lists_are_cached_and_invalidated_for_both_users() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    assert_eq!(json_of(app.get("/api/v1/friends", Some(&a)).await, StatusCode::OK).await["total"], 0);
    assert_eq!(json_of(app.get("/api/v1/friends/with-persona", Some(&b)).await, StatusCode::OK).await, json!([]));
    plant(&app, &format!("c:friends:{a_id}"), json!({ "friends": [], "total": 7 })).await;
    assert_eq!(
        json_of(app.get("/api/v1/friends", Some(&a)).await, StatusCode::OK).await["total"],
        7,
        "served from cache"
    );

    let req = json_of(
        app.post("/api/v1/friends/request", Some(&a), json!({ "addressee_id": b_id })).await,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/api/v1/friends/requests/{}", req["id"]);
    json_of(app.patch(&path, Some(&b), json!({ "status": "accepted" })).await, StatusCode::OK).await;
    app.wait_for_replica().await;
    let a_friends = json_of(app.get("/api/v1/friends", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(a_friends["total"], 1, "the accept by bob invalidated alice's list too");
    let b_view = json_of(app.get("/api/v1/friends/with-persona", Some(&b)).await, StatusCode::OK).await;
    assert_eq!(b_view[0]["username"], "alice");

    assert_eq!(app.delete(&format!("/api/v1/friends/{b_id}"), Some(&a)).await.status(), StatusCode::NO_CONTENT);
    app.wait_for_replica().await;
    assert_eq!(json_of(app.get("/api/v1/friends", Some(&b)).await, StatusCode::OK).await["total"], 0);
    assert_eq!(json_of(app.get("/api/v1/friends/with-persona", Some(&a)).await, StatusCode::OK).await, json!([]));
}

#[tokio::test]
async fn two_hundred_concurrent_misses_on_one_key_compute_it_once() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    app.diary(&token, 0, Some("happy")).await;
    let series = r#"cache_recompute_duration_seconds_count{cache="stats"}"#;
    let before = metric(series);
    let requests = (0..200).map(|_| app.get("/api/v1/diaries/stats", Some(&token)));
    let responses = futures_util::future::join_all(requests).await;
    for res in responses {
        assert_eq!(res.json::<Value>().await.unwrap()["total_count"], 1);
    }
    assert_eq!(metric(series) - before, 1.0, "one recomputation served all 200 requests");
}

#[tokio::test]
async fn with_the_cache_off_reads_are_computed_every_time() {
    let app = TestApp::builder().settings(|s| s.cache_enabled = false).spawn().await;
    let token = app.user("minji").await;
    app.diary(&token, 0, None).await;
    json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    let id = app.user_id(&token).await;
    let key = format!("{}:c:stats:{id}:{}", app.settings.redis_prefix, today());
    assert_eq!(app.state.redis.get(&key).await, Some(None), "nothing was cached");
}

#[tokio::test]
async fn cached_reads_stay_correct_while_redis_is_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::builder()
        .settings(move |s| s.redis_url = dearme::platform::settings::Secret::new(format!("redis://127.0.0.1:{port}/")))
        .spawn()
        .await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let b_id = app.user_id(&b).await;
    for days in 0..2 {
        app.diary(&a, days, Some("happy")).await;
        assert_eq!(
            json_of(app.get("/api/v1/diaries/stats", Some(&a)).await, StatusCode::OK).await["total_count"],
            days + 1
        );
        assert_eq!(json_of(app.get("/api/v1/diaries/count", Some(&a)).await, StatusCode::OK).await["count"], days + 1);
    }
    json_of(app.get("/api/v1/diaries/weekly-insight", Some(&a)).await, StatusCode::OK).await;
    let req = json_of(
        app.post("/api/v1/friends/request", Some(&a), json!({ "addressee_id": b_id })).await,
        StatusCode::CREATED,
    )
    .await;
    json_of(
        app.patch(&format!("/api/v1/friends/requests/{}", req["id"]), Some(&b), json!({ "status": "accepted" })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(json_of(app.get("/api/v1/friends", Some(&b)).await, StatusCode::OK).await["total"], 1);
    assert!(metric(r#"cache_requests_total{cache="stats",result="error"}"#) >= 2.0);
}

#[tokio::test]
async fn the_first_diary_page_is_cached_and_replaced_after_each_kind_of_diary_write() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let id = app.user_id(&token).await;
    let diary = app.diary(&token, 1, Some("happy")).await;
    let list = async || json_of(app.get("/api/v1/diaries", Some(&token)).await, StatusCode::OK).await;
    let first = list().await;
    assert_eq!(first["total"], 1);
    let mut planted = first.clone();
    planted["total"] = json!(999);
    plant(&app, &format!("c:diary_page:{id}"), planted).await;
    assert_eq!(list().await["total"], 999, "page 1 of ten, unfiltered, is served from Redis");
    let explicit = json_of(app.get("/api/v1/diaries?page=1&per_page=10", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(explicit["total"], 999, "the same page, asked for explicitly");
    for other in ["/api/v1/diaries?per_page=5", "/api/v1/diaries?page=2", "/api/v1/diaries?mood=happy"] {
        assert_eq!(
            json_of(app.get(other, Some(&token)).await, StatusCode::OK).await["total"],
            1,
            "{other} is not cached"
        );
    }

    let created = app.diary(&token, 0, Some("sad")).await;
    assert_eq!(list().await["items"][0]["id"], created["id"], "a new diary replaces the cached page");
    let path = format!("/api/v1/diaries/{}", diary["id"]);
    json_of(app.patch(&path, Some(&token), json!({ "title": "고친 제목" })).await, StatusCode::OK).await;
    assert_eq!(list().await["items"][1]["title"], "고친 제목", "so does an edit");
    assert_eq!(app.delete(&path, Some(&token)).await.status(), StatusCode::NO_CONTENT);
    let after = list().await;
    assert_eq!((after["total"].clone(), after["items"].as_array().unwrap().len()), (json!(1), 1), "and a deletion");
}
