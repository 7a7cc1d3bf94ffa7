//! Contract 4.10: plans, status, usage, the mock upgrade, cancellation and lazy expiry.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail, json_of};

#[tokio::test]
async fn plans_are_public_and_list_monthly_and_yearly() {
    let app = TestApp::spawn().await;
    let plans = json_of(app.get("/api/v1/subscriptions/plans", None).await, StatusCode::OK).await;
    let summary: Vec<(i64, i64)> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["price"].as_i64().unwrap(), p["period_days"].as_i64().unwrap()))
        .collect();
    assert_eq!(summary, [(4900, 30), (39900, 365)]);
    assert!(plans.as_array().unwrap().iter().all(|p| p["currency"] == "KRW"));
    assert_eq!(plans[1]["features"].as_array().unwrap().len(), plans[0]["features"].as_array().unwrap().len() + 1);
}

#[tokio::test]
async fn a_new_user_is_free_with_the_free_limits() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let status = json_of(app.get("/api/v1/subscriptions/status", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        status,
        json!({ "is_premium": false, "plan": "free", "status": "active", "expires_at": null, "cancelled_at": null,
                "days_remaining": null, "is_in_grace_period": false })
    );
    let usage = json_of(app.get("/api/v1/subscriptions/usage", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(usage["daily_chat_messages"], json!({ "used": 0, "limit": 5, "remaining": 5 }));
    assert_eq!(usage["friends"], json!({ "count": 0, "limit": 3 }));
    assert_eq!(
        usage["features"],
        json!({ "can_chat_with_friends": false, "advanced_stats": false, "chemistry_analysis": false })
    );
    let mine = json_of(app.get("/api/v1/subscriptions/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((mine["plan"].as_str(), mine["status"].as_str()), (Some("free"), Some("active")));
    assert_detail(
        app.post("/api/v1/subscriptions/cancel", Some(&token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "Cannot cancel free plan",
    )
    .await;
}

#[tokio::test]
async fn cancel_without_a_subscription_is_404() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    assert_detail(
        app.post("/api/v1/subscriptions/cancel", Some(&token), json!({})).await,
        StatusCode::NOT_FOUND,
        "Subscription not found",
    )
    .await;
}

#[tokio::test]
async fn upgrade_cancel_and_resubscribe_follow_the_contract() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    assert_detail(
        app.post("/api/v1/subscriptions/upgrade", Some(&token), json!({ "period_days": 7 })).await,
        StatusCode::BAD_REQUEST,
        "Invalid subscription period",
    )
    .await;
    // No body at all means 30 days.
    let res = app.http.post(app.url("/api/v1/subscriptions/upgrade")).bearer_auth(&token).send().await.unwrap();
    let sub = json_of(res, StatusCode::OK).await;
    assert_eq!((sub["plan"].as_str(), sub["status"].as_str()), (Some("premium"), Some("active")));
    let status = json_of(app.get("/api/v1/subscriptions/status", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(status["is_premium"], true);
    assert!(matches!(status["days_remaining"].as_i64(), Some(29 | 30)));
    let usage = json_of(app.get("/api/v1/subscriptions/usage", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(usage["daily_chat_messages"]["limit"], Value::Null);
    assert_eq!(usage["friends"]["limit"], Value::Null);

    let cancelled =
        json_of(app.post("/api/v1/subscriptions/cancel", Some(&token), json!({})).await, StatusCode::OK).await;
    assert_eq!((cancelled["status"].as_str(), cancelled["plan"].as_str()), (Some("cancelled"), Some("premium")));
    assert!(cancelled["cancelled_at"].is_string());
    let status = json_of(app.get("/api/v1/subscriptions/status", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((status["is_premium"].as_bool(), status["is_in_grace_period"].as_bool()), (Some(true), Some(true)));
    assert_detail(
        app.post("/api/v1/subscriptions/cancel", Some(&token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "Subscription already cancelled",
    )
    .await;

    // Re-subscribing during the grace period extends the current expiry by the period.
    let expires = chrono::DateTime::parse_from_rfc3339(cancelled["expires_at"].as_str().unwrap()).unwrap();
    let renewed = json_of(
        app.post("/api/v1/subscriptions/upgrade", Some(&token), json!({ "period_days": 365 })).await,
        StatusCode::OK,
    )
    .await;
    let new_expiry = chrono::DateTime::parse_from_rfc3339(renewed["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((new_expiry - expires).num_days(), 365);
    assert_eq!((renewed["status"].as_str(), renewed["cancelled_at"].as_null()), (Some("active"), Some(())));
}

#[tokio::test]
async fn an_expired_premium_lapses_to_free_when_next_read() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    json_of(app.post("/api/v1/subscriptions/upgrade", Some(&token), json!({})).await, StatusCode::OK).await;
    app.sql().await.execute("update subscriptions set expires_at = now() - interval '1 minute'", &[]).await.unwrap();
    let status = json_of(app.get("/api/v1/subscriptions/status", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        (status["is_premium"].as_bool(), status["plan"].as_str(), status["status"].as_str()),
        (Some(false), Some("free"), Some("expired"))
    );
    assert_eq!(status["days_remaining"], Value::Null);
    let stored: String = app.sql().await.query_one("select status from subscriptions", &[]).await.unwrap().get(0);
    assert_eq!(stored, "expired", "lazy expiry rewrote the row");
    assert_detail(
        app.post("/api/v1/subscriptions/cancel", Some(&token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "Subscription already expired",
    )
    .await;
}

#[tokio::test]
async fn subscription_endpoints_need_a_session_except_plans() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/subscriptions/status", "/api/v1/subscriptions/usage", "/api/v1/subscriptions/me"] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}
