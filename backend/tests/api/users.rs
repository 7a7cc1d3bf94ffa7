//! Contract 4.2: the `/users` endpoints.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_detail, json_of};

#[tokio::test]
async fn me_returns_the_user_shape_with_nulls_present() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let me = json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    let keys: Vec<&str> = me.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["created_at", "email", "email_verified", "id", "is_active", "profile_image", "rag_context_level", "username"]
    );
    assert_eq!(me["profile_image"], serde_json::Value::Null);
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'), "datetimes carry an explicit UTC marker");
}

#[tokio::test]
async fn search_is_case_insensitive_excludes_self_and_inactive_and_masks_emails() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    app.user("MinSu").await;
    app.user("jimin").await;
    app.user("minho").await;
    app.sql().await.execute("update users set is_active = false where username = 'minho'", &[]).await.unwrap();
    app.wait_for_replica().await;
    let found = json_of(app.get("/api/v1/users/search/MIN", Some(&token)).await, StatusCode::OK).await;
    let mut names: Vec<&str> = found.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["MinSu", "jimin"]);
    assert!(
        found.as_array().unwrap().iter().all(|u| u["email"].as_str().unwrap().contains("***")),
        "no stranger's e-mail is exposed"
    );
    let wildcard = json_of(app.get("/api/v1/users/search/%25", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(wildcard, json!([]), "LIKE wildcards match literally");
}

#[tokio::test]
async fn search_returns_at_most_twenty_users() {
    let app = TestApp::spawn().await;
    let token = app.user("searcher").await;
    let db = app.sql().await;
    db.execute(
        "insert into users (email, username, password_hash, email_verified) \
         select 'u' || i || '@example.com', 'friend' || i, 'x', true from generate_series(1, 30) i",
        &[],
    )
    .await
    .unwrap();
    app.wait_for_replica().await;
    let found = json_of(app.get("/api/v1/users/search/friend", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(found.as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn patch_me_updates_username_image_and_context_level() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let me = json_of(
        app.patch(
            "/api/v1/users/me",
            Some(&token),
            json!({ "username": "minji2", "profile_image": "a.png", "rag_context_level": "detailed" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (me["username"].as_str(), me["profile_image"].as_str(), me["rag_context_level"].as_str()),
        (Some("minji2"), Some("a.png"), Some("detailed"))
    );
    // The cached user was invalidated: the next read shows the change.
    let again = json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(again["username"], "minji2");
    app.user("taken").await;
    assert_detail(
        app.patch("/api/v1/users/me", Some(&token), json!({ "username": "taken" })).await,
        StatusCode::BAD_REQUEST,
        "Username already taken",
    )
    .await;
    let bad = json_of(
        app.patch("/api/v1/users/me", Some(&token), json!({ "rag_context_level": "maximal" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["detail"][0]["type"], "enum");
}

#[tokio::test]
async fn get_user_by_id_returns_404_for_unknown_and_422_for_non_numeric_ids() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    app.user("other").await;
    app.wait_for_replica().await;
    let other_id: i64 =
        app.sql().await.query_one("select id from users where username = 'other'", &[]).await.unwrap().get(0);
    let other = json_of(app.get(&format!("/api/v1/users/{other_id}"), Some(&token)).await, StatusCode::OK).await;
    assert_eq!(other["username"], "other");
    assert_eq!(other["email"], "o***@e***");
    assert_detail(app.get("/api/v1/users/999999", Some(&token)).await, StatusCode::NOT_FOUND, "User not found").await;
    let bad = json_of(app.get("/api/v1/users/abc", Some(&token)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["detail"][0]["loc"], json!(["path", "user_id"]));
    assert_eq!(bad["detail"][0]["type"], "int_parsing");
}
