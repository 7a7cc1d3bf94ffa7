//! Contract 4.8 (all but the reports): current analysis and its feedback, radar, history, the
//! negative-trend check and book picks, over analyses arranged directly (the diary job writes
//! them in production).

use std::collections::HashSet;

use chrono::{Duration, Utc};
use dearme::api::mental::{axis_books, fallback_feedback, status_books};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::Client;

use crate::helpers::{TestApp, assert_detail, json_of};

const NO_ANALYSIS: &str = "No mental analysis found. Write a diary first.";
const ANALYSIS_NOT_FOUND: &str = "Mental analysis not found.";

fn day(days_ago: i64) -> String {
    (Utc::now().date_naive() - Duration::days(days_ago)).to_string()
}

/// Arranges an analysis dated `days_ago` days back (created then, too); scores in axis order
/// (emotional_stability, vitality, self_esteem, positivity, social_connection, resilience).
/// Analyses arranged later in a test are newer, even on the same day.
async fn analysis(db: &Client, user_id: i64, days_ago: i64, scores: [i16; 6], status: &str) -> i64 {
    let date = Utc::now().date_naive() - Duration::days(days_ago);
    let created_at = Utc::now() - Duration::days(days_ago);
    db.query_one(
        "insert into mental_analyses (user_id, emotional_stability_score, vitality_score, self_esteem_score, \
         positivity_score, social_connection_score, resilience_score, overall_status, analysis_date, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
        &[
            &user_id,
            &scores[0],
            &scores[1],
            &scores[2],
            &scores[3],
            &scores[4],
            &scores[5],
            &status,
            &date,
            &created_at,
        ],
    )
    .await
    .unwrap()
    .get(0)
}

fn sorted_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

fn radar_data(scores: [i64; 6]) -> Value {
    json!({
        "emotional_stability": scores[0], "vitality": scores[1], "self_esteem": scores[2],
        "positivity": scores[3], "social_connection": scores[4], "resilience": scores[5],
    })
}

/// The radar once the replica has every arranged analysis.
async fn radar(app: &TestApp, token: &str) -> Value {
    app.wait_for_replica().await;
    json_of(app.get("/api/v1/mental/radar", Some(token)).await, StatusCode::OK).await
}

async fn negative_trend(app: &TestApp, token: &str, query: &str) -> Value {
    let path = format!("/api/v1/mental/check-negative-trend{query}");
    json_of(app.get(&path, Some(token)).await, StatusCode::OK).await
}

async fn feedback(app: &TestApp, token: &str, body: Option<Value>) -> reqwest::Response {
    app.send(Method::POST, "/api/v1/mental/feedback", Some(token), body).await
}

fn titles(body: &Value) -> Vec<String> {
    body["books"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap().to_owned()).collect()
}

fn catalogue_titles(books: &[dearme::api::mental::Book]) -> HashSet<String> {
    books.iter().map(|b| b.title.to_owned()).collect()
}

#[tokio::test]
async fn without_any_analysis_current_books_and_feedback_are_404_and_the_rest_neutral() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    assert_detail(app.get("/api/v1/mental/current", Some(&token)).await, StatusCode::NOT_FOUND, NO_ANALYSIS).await;
    assert_detail(
        app.get("/api/v1/mental/book-recommendations", Some(&token)).await,
        StatusCode::NOT_FOUND,
        NO_ANALYSIS,
    )
    .await;
    assert_detail(
        app.post("/api/v1/mental/feedback", Some(&token), json!({})).await,
        StatusCode::NOT_FOUND,
        ANALYSIS_NOT_FOUND,
    )
    .await;
    assert_eq!(
        json_of(app.get("/api/v1/mental/radar", Some(&token)).await, StatusCode::OK).await,
        json!({ "current": radar_data([50; 6]), "previous": null, "trend": "stable" })
    );
    assert_eq!(
        json_of(app.get("/api/v1/mental/history", Some(&token)).await, StatusCode::OK).await,
        json!({ "items": [], "total": 0 })
    );
    assert_eq!(
        json_of(app.get("/api/v1/mental/check-negative-trend", Some(&token)).await, StatusCode::OK).await,
        json!({ "is_negative_trend": false, "days_checked": 7 })
    );
}

#[tokio::test]
async fn current_serves_the_latest_analysis_with_the_fallback_until_feedback_is_stored() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let other = app.user("other").await;
    let (user_id, other_id) = (app.user_id(&token).await, app.user_id(&other).await);
    let db = app.sql().await;
    analysis(&db, user_id, 1, [80; 6], "good").await;
    let latest = analysis(&db, user_id, 0, [30, 35, 40, 45, 50, 55], "concerning").await;
    analysis(&db, other_id, 0, [90; 6], "good").await;
    // Arranged outside the API, so not the user's own write: wait for the replica to have it.
    app.wait_for_replica().await;

    let current = json_of(app.get("/api/v1/mental/current", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        sorted_keys(&current),
        [
            "analysis_date",
            "created_at",
            "diary_id",
            "emotional_stability_score",
            "feedback",
            "id",
            "overall_status",
            "positivity_score",
            "resilience_score",
            "self_esteem_score",
            "social_connection_score",
            "user_id",
            "vitality_score",
        ]
    );
    assert_eq!((current["id"].as_i64(), current["user_id"].as_i64()), (Some(latest), Some(user_id)));
    assert_eq!(current["diary_id"], Value::Null);
    assert_eq!(current["overall_status"], "concerning");
    assert_eq!(current["analysis_date"], day(0));
    let scores: Vec<i64> = [
        "emotional_stability_score",
        "vitality_score",
        "self_esteem_score",
        "positivity_score",
        "social_connection_score",
        "resilience_score",
    ]
    .iter()
    .map(|k| current[*k].as_i64().unwrap())
    .collect();
    assert_eq!(scores, [30, 35, 40, 45, 50, 55]);
    assert_eq!(current["feedback"], serde_json::to_value(fallback_feedback("concerning")).unwrap());
    assert_eq!(sorted_keys(&current["feedback"]), ["emoji", "encouragement", "message", "status_label", "suggestion"]);

    // The job stores the feedback (here without a suggestion): from then on it is served.
    let stored = json!({ "status_label": "주의", "message": "요즘 지쳐 보여요", "encouragement": "잘하고 있어요", "emoji": "🌧️" });
    db.execute("update mental_analyses set feedback = $1 where id = $2", &[&stored, &latest]).await.unwrap();
    app.wait_for_replica().await;
    let current = json_of(app.get("/api/v1/mental/current", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        current["feedback"],
        json!({ "status_label": "주의", "message": "요즘 지쳐 보여요", "encouragement": "잘하고 있어요", "suggestion": null, "emoji": "🌧️" })
    );
}

#[tokio::test]
async fn radar_trend_is_stable_within_fifteen_points_and_moves_beyond_them() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let user_id = app.user_id(&token).await;
    let db = app.sql().await;

    analysis(&db, user_id, 0, [50; 6], "neutral").await;
    assert_eq!(
        radar(&app, &token).await,
        json!({ "current": radar_data([50; 6]), "previous": null, "trend": "stable" })
    );

    analysis(&db, user_id, 0, [55, 55, 55, 50, 50, 50], "neutral").await;
    assert_eq!(
        radar(&app, &token).await,
        json!({ "current": radar_data([55, 55, 55, 50, 50, 50]), "previous": radar_data([50; 6]), "trend": "stable" }),
        "exactly +15 is stable"
    );
    analysis(&db, user_id, 0, [50; 6], "neutral").await;
    assert_eq!(radar(&app, &token).await["trend"], "stable", "exactly -15 is stable");
    analysis(&db, user_id, 0, [56, 55, 55, 50, 50, 50], "good").await;
    assert_eq!(radar(&app, &token).await["trend"], "improving", "+16 is improving");
    analysis(&db, user_id, 0, [50; 6], "neutral").await;
    assert_eq!(radar(&app, &token).await["trend"], "declining", "-16 is declining");
}

#[tokio::test]
async fn history_lists_the_window_newest_first_and_pages() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let other = app.user("other").await;
    let (user_id, other_id) = (app.user_id(&token).await, app.user_id(&other).await);
    let db = app.sql().await;
    analysis(&db, user_id, 40, [10; 6], "critical").await;
    analysis(&db, user_id, 10, [30; 6], "concerning").await;
    analysis(&db, user_id, 2, [50; 6], "neutral").await;
    analysis(&db, user_id, 0, [61, 62, 63, 64, 65, 66], "good").await;
    analysis(&db, other_id, 0, [90; 6], "good").await;
    app.wait_for_replica().await;

    let dates = |body: &Value| -> Vec<String> {
        body["items"].as_array().unwrap().iter().map(|i| i["date"].as_str().unwrap().to_owned()).collect()
    };
    let history = json_of(app.get("/api/v1/mental/history", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(dates(&history), [day(0), day(2), day(10)], "30 days by default, newest first");
    assert_eq!(history["total"], 3);
    assert_eq!(
        history["items"][0],
        json!({
            "date": day(0), "overall_status": "good",
            "emotional_stability_score": 61, "vitality_score": 62, "self_esteem_score": 63,
            "positivity_score": 64, "social_connection_score": 65, "resilience_score": 66,
        })
    );

    let edge = json_of(app.get("/api/v1/mental/history?days=10", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(dates(&edge), [day(0), day(2), day(10)], "today-days itself is inside the window");
    let inside = json_of(app.get("/api/v1/mental/history?days=9", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((dates(&inside).len(), inside["total"].as_i64()), (2, Some(2)));

    let page =
        json_of(app.get("/api/v1/mental/history?days=365&skip=1&limit=2", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(dates(&page), [day(2), day(10)]);
    assert_eq!(page["total"], 4);
    let beyond = json_of(app.get("/api/v1/mental/history?skip=5", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(beyond, json!({ "items": [], "total": 3 }));

    for (query, field, kind) in [
        ("days=0", "days", "greater_than_equal"),
        ("days=400", "days", "less_than_equal"),
        ("skip=-1", "skip", "greater_than_equal"),
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=101", "limit", "less_than_equal"),
        ("days=abc", "days", "int_parsing"),
    ] {
        let res = app.get(&format!("/api/v1/mental/history?{query}"), Some(&token)).await;
        let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
        assert_eq!(body["detail"][0]["type"], kind, "{query}");
    }
}

#[tokio::test]
async fn negative_trend_needs_three_analyses_of_which_half_are_concerning_or_critical() {
    let app = TestApp::spawn().await;
    let few = app.user("few").await;
    let half = app.user("half").await;
    let (few_id, half_id) = (app.user_id(&few).await, app.user_id(&half).await);
    let db = app.sql().await;
    analysis(&db, few_id, 0, [10; 6], "critical").await;
    analysis(&db, few_id, 1, [10; 6], "critical").await;
    analysis(&db, few_id, 20, [10; 6], "critical").await;
    for (days_ago, status) in [(0, "concerning"), (1, "good"), (2, "concerning"), (3, "neutral")] {
        analysis(&db, half_id, days_ago, [50; 6], status).await;
    }
    app.wait_for_replica().await;

    assert_eq!(
        negative_trend(&app, &few, "").await,
        json!({ "is_negative_trend": false, "days_checked": 7 }),
        "two analyses in the window are too few, even critical ones"
    );
    assert_eq!(
        negative_trend(&app, &few, "?days=30").await,
        json!({ "is_negative_trend": true, "days_checked": 30 }),
        "a wider window holds the third"
    );
    assert_eq!(negative_trend(&app, &half, "").await["is_negative_trend"], true, "two of four is half");
    assert_eq!(negative_trend(&app, &half, "?days=2").await["is_negative_trend"], true, "two of three");
    assert_eq!(negative_trend(&app, &half, "?days=1").await["is_negative_trend"], false, "only two in the window");

    analysis(&db, half_id, 4, [50; 6], "good").await;
    app.wait_for_replica().await;
    assert_eq!(negative_trend(&app, &half, "").await["is_negative_trend"], false, "two of five is less than half");

    for (query, kind) in [("days=0", "greater_than_equal"), ("days=31", "less_than_equal")] {
        let res = app.get(&format!("/api/v1/mental/check-negative-trend?{query}"), Some(&few)).await;
        let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["detail"][0]["loc"], json!(["query", "days"]), "{query}");
        assert_eq!(body["detail"][0]["type"], kind, "{query}");
    }
}

#[tokio::test]
async fn book_recommendations_are_three_distinct_books_for_the_latest_status() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let user_id = app.user_id(&token).await;
    let db = app.sql().await;
    analysis(&db, user_id, 1, [20; 6], "critical").await;
    // The latest decides; its lowest axis is 40, which is not low.
    analysis(&db, user_id, 0, [60, 70, 80, 40, 90, 65], "good").await;
    app.wait_for_replica().await;

    let good = catalogue_titles(status_books("good"));
    for _ in 0..5 {
        let body = json_of(app.get("/api/v1/mental/book-recommendations", Some(&token)).await, StatusCode::OK).await;
        assert_eq!(body["based_on_status"], "good");
        assert_eq!(sorted_keys(&body["books"][0]), ["author", "category", "description", "reason", "title"]);
        let picked = titles(&body);
        assert_eq!(picked.len(), 3);
        assert_eq!(picked.iter().collect::<HashSet<_>>().len(), 3, "no duplicates: {picked:?}");
        assert!(picked.iter().all(|t| good.contains(t)), "all from the status list: {picked:?}");
    }
}

#[tokio::test]
async fn an_axis_below_forty_contributes_one_book_from_its_own_list() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let user_id = app.user_id(&token).await;
    analysis(&app.sql().await, user_id, 0, [60, 39, 70, 70, 70, 70], "concerning").await;
    app.wait_for_replica().await;

    let vitality = catalogue_titles(axis_books("vitality"));
    let concerning = catalogue_titles(status_books("concerning"));
    for _ in 0..5 {
        let body = json_of(app.get("/api/v1/mental/book-recommendations", Some(&token)).await, StatusCode::OK).await;
        assert_eq!(body["based_on_status"], "concerning");
        let picked = titles(&body);
        assert_eq!(picked.len(), 3);
        assert_eq!(picked.iter().collect::<HashSet<_>>().len(), 3, "no duplicates: {picked:?}");
        assert!(picked.iter().any(|t| vitality.contains(t)), "one for the weak axis: {picked:?}");
        assert!(
            picked.iter().all(|t| vitality.contains(t) || concerning.contains(t)),
            "the rest from the status list: {picked:?}"
        );
    }
}

#[tokio::test]
async fn feedback_serves_the_stored_or_fallback_feedback_of_my_own_analyses_only() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let other = app.user("other").await;
    let user_id = app.user_id(&token).await;
    let db = app.sql().await;
    let older = analysis(&db, user_id, 1, [70; 6], "good").await;
    let stored =
        json!({ "status_label": "좋음", "message": "m", "encouragement": "e", "suggestion": "s", "emoji": "😊" });
    db.execute("update mental_analyses set feedback = $1 where id = $2", &[&stored, &older]).await.unwrap();
    let latest = analysis(&db, user_id, 0, [20; 6], "critical").await;
    app.wait_for_replica().await;

    let fallback = serde_json::to_value(fallback_feedback("critical")).unwrap();
    assert_eq!(
        json_of(feedback(&app, &token, Some(json!({}))).await, StatusCode::OK).await,
        fallback,
        "latest by default"
    );
    assert_eq!(json_of(feedback(&app, &token, None).await, StatusCode::OK).await, fallback, "no body at all is {{}}");
    assert_eq!(
        json_of(feedback(&app, &token, Some(json!({ "analysis_id": null }))).await, StatusCode::OK).await,
        fallback
    );
    assert_eq!(
        json_of(feedback(&app, &token, Some(json!({ "analysis_id": latest }))).await, StatusCode::OK).await,
        fallback
    );
    assert_eq!(
        json_of(feedback(&app, &token, Some(json!({ "analysis_id": older }))).await, StatusCode::OK).await,
        stored
    );

    assert_detail(
        feedback(&app, &other, Some(json!({ "analysis_id": older }))).await,
        StatusCode::NOT_FOUND,
        ANALYSIS_NOT_FOUND,
    )
    .await;
    assert_detail(feedback(&app, &other, Some(json!({}))).await, StatusCode::NOT_FOUND, ANALYSIS_NOT_FOUND).await;
    assert_detail(
        feedback(&app, &token, Some(json!({ "analysis_id": 999_999 }))).await,
        StatusCode::NOT_FOUND,
        ANALYSIS_NOT_FOUND,
    )
    .await;
    let bad =
        json_of(feedback(&app, &token, Some(json!({ "analysis_id": "x" }))).await, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "analysis_id"]));
}

#[tokio::test]
async fn mental_endpoints_require_a_token() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/mental/current",
        "/api/v1/mental/radar",
        "/api/v1/mental/history",
        "/api/v1/mental/check-negative-trend",
        "/api/v1/mental/book-recommendations",
    ] {
        assert_detail(app.get(path, None).await, StatusCode::UNAUTHORIZED, "Not authenticated").await;
    }
    let res = app.post("/api/v1/mental/feedback", None, json!({})).await;
    assert_detail(res, StatusCode::UNAUTHORIZED, "Not authenticated").await;
}
