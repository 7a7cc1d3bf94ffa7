//! Contract 4.7: the notification inbox, its counters and read marks, owner scoping.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::Client;

use crate::helpers::{TestApp, assert_detail, json_of};

/// Arranges a notification created `minutes_ago` minutes ago; returns its id.
async fn notify(db: &Client, user_id: i64, title: &str, is_read: bool, minutes_ago: i64) -> i64 {
    let created_at = Utc::now() - Duration::minutes(minutes_ago);
    db.query_one(
        "insert into notifications (user_id, type, title, content, is_read, created_at) \
         values ($1, 'diary_reminder', $2, '내용', $3, $4) returning id",
        &[&user_id, &title, &is_read, &created_at],
    )
    .await
    .unwrap()
    .get(0)
}

fn titles(list: &Value) -> Vec<&str> {
    list["notifications"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap()).collect()
}

async fn unread_count(app: &TestApp, token: &str) -> Value {
    json_of(app.get("/api/v1/notifications/unread-count", Some(token)).await, StatusCode::OK).await
}

async fn read(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    app.send(Method::PATCH, &format!("/api/v1/notifications/{id}/read"), Some(token), None).await
}

#[tokio::test]
async fn list_returns_own_notifications_newest_first_with_both_counters() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    let db = app.sql().await;
    notify(&db, a_id, "oldest", true, 30).await;
    notify(&db, a_id, "middle", false, 20).await;
    notify(&db, a_id, "newest", false, 10).await;
    notify(&db, b_id, "bob's", false, 5).await;
    // Arranged outside the API, so not the user's own write: wait for the replica to have it.
    app.wait_for_replica().await;

    let list = json_of(app.get("/api/v1/notifications", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(titles(&list), ["newest", "middle", "oldest"]);
    assert_eq!((list["total_count"].as_i64(), list["unread_count"].as_i64()), (Some(3), Some(2)));
    let first = &list["notifications"][0];
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["content", "created_at", "id", "is_read", "related_id", "title", "type", "user_id"]);
    assert_eq!((first["type"].as_str(), first["user_id"].as_i64()), (Some("diary_reminder"), Some(a_id)));
    assert_eq!((first["is_read"].as_bool(), first["related_id"].is_null()), (Some(false), true));

    let unread = json_of(app.get("/api/v1/notifications?unread_only=true", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(titles(&unread), ["newest", "middle"]);
    assert_eq!(
        (unread["total_count"].as_i64(), unread["unread_count"].as_i64()),
        (Some(2), Some(2)),
        "total_count follows the filter"
    );
    let all = json_of(app.get("/api/v1/notifications?unread_only=false", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(all["total_count"], 3);

    let page = json_of(app.get("/api/v1/notifications?skip=1&limit=1", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(titles(&page), ["middle"]);
    assert_eq!((page["total_count"].as_i64(), page["unread_count"].as_i64()), (Some(3), Some(2)));
    let beyond = json_of(app.get("/api/v1/notifications?skip=3", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(beyond, json!({ "notifications": [], "total_count": 3, "unread_count": 2 }));

    let bobs = json_of(app.get("/api/v1/notifications", Some(&b)).await, StatusCode::OK).await;
    assert_eq!(titles(&bobs), ["bob's"]);
    assert_eq!((bobs["total_count"].as_i64(), bobs["unread_count"].as_i64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn list_validates_skip_limit_and_unread_only() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let empty = json_of(app.get("/api/v1/notifications", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(empty, json!({ "notifications": [], "total_count": 0, "unread_count": 0 }));
    for (query, field, kind) in [
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=101", "limit", "less_than_equal"),
        ("skip=-1", "skip", "greater_than_equal"),
        ("limit=abc", "limit", "int_parsing"),
        ("unread_only=maybe", "unread_only", "bool_parsing"),
    ] {
        let res = app.get(&format!("/api/v1/notifications?{query}"), Some(&token)).await;
        let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
        assert_eq!(body["detail"][0]["type"], kind, "{query}");
    }
    json_of(app.get("/api/v1/notifications?limit=100&skip=0", Some(&token)).await, StatusCode::OK).await;
}

#[tokio::test]
async fn unread_count_and_mark_all_read_touch_only_my_unread_notifications() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    let db = app.sql().await;
    notify(&db, a_id, "one", false, 3).await;
    notify(&db, a_id, "two", false, 2).await;
    notify(&db, a_id, "seen", true, 1).await;
    notify(&db, b_id, "bob's", false, 1).await;
    app.wait_for_replica().await;

    assert_eq!(unread_count(&app, &a).await, json!({ "unread_count": 2 }));
    assert_eq!(unread_count(&app, &b).await, json!({ "unread_count": 1 }));

    let res = app.send(Method::POST, "/api/v1/notifications/mark-all-read", Some(&a), None).await;
    assert_eq!(json_of(res, StatusCode::OK).await, json!({ "updated_count": 2 }), "only rows that were unread");
    assert_eq!(unread_count(&app, &a).await, json!({ "unread_count": 0 }));
    let res = app.send(Method::POST, "/api/v1/notifications/mark-all-read", Some(&a), None).await;
    assert_eq!(json_of(res, StatusCode::OK).await, json!({ "updated_count": 0 }));
    assert_eq!(unread_count(&app, &b).await, json!({ "unread_count": 1 }), "bob's inbox is untouched");
}

#[tokio::test]
async fn reading_a_notification_marks_it_read_and_returns_it() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let user_id = app.user_id(&token).await;
    let id = notify(&app.sql().await, user_id, "hello", false, 1).await;
    app.wait_for_replica().await;

    let path = format!("/api/v1/notifications/{id}");
    let before = json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await;
    assert_eq!((before["id"].as_i64(), before["is_read"].as_bool()), (Some(id), Some(false)));

    let marked = json_of(read(&app, &token, id).await, StatusCode::OK).await;
    assert_eq!((marked["id"].as_i64(), marked["is_read"].as_bool()), (Some(id), Some(true)));
    assert_eq!(marked["title"], "hello");
    let again = json_of(read(&app, &token, id).await, StatusCode::OK).await;
    assert_eq!(again["is_read"], true, "reading a read notification is fine");
    let after = json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(after["is_read"], true);
    assert_eq!(unread_count(&app, &token).await, json!({ "unread_count": 0 }));

    assert_detail(read(&app, &token, 999_999).await, StatusCode::NOT_FOUND, "Notification not found").await;
    assert_detail(
        app.get("/api/v1/notifications/999999", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "Notification not found",
    )
    .await;
    let bad = json_of(app.get("/api/v1/notifications/abc", Some(&token)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["detail"][0]["loc"], json!(["path", "notification_id"]));
}

#[tokio::test]
async fn deleting_a_notification_returns_204_and_then_404() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let user_id = app.user_id(&token).await;
    let id = notify(&app.sql().await, user_id, "bye", false, 1).await;
    app.wait_for_replica().await;

    let path = format!("/api/v1/notifications/{id}");
    let res = app.delete(&path, Some(&token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.text().await.unwrap().is_empty());
    assert_detail(app.get(&path, Some(&token)).await, StatusCode::NOT_FOUND, "Notification not found").await;
    assert_detail(app.delete(&path, Some(&token)).await, StatusCode::NOT_FOUND, "Notification not found").await;
    let list = json_of(app.get("/api/v1/notifications", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((list["total_count"].as_i64(), list["unread_count"].as_i64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn another_users_notification_is_not_found_and_cannot_be_marked() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner").await;
    let intruder = app.user("intruder").await;
    let owner_id = app.user_id(&owner).await;
    let id = notify(&app.sql().await, owner_id, "private", false, 1).await;
    app.wait_for_replica().await;

    let path = format!("/api/v1/notifications/{id}");
    assert_detail(app.get(&path, Some(&intruder)).await, StatusCode::NOT_FOUND, "Notification not found").await;
    assert_detail(read(&app, &intruder, id).await, StatusCode::NOT_FOUND, "Notification not found").await;
    assert_detail(app.delete(&path, Some(&intruder)).await, StatusCode::NOT_FOUND, "Notification not found").await;
    let res = app.post("/api/v1/notifications/mark-read", Some(&intruder), json!({ "notification_ids": [id] })).await;
    assert_eq!(json_of(res, StatusCode::OK).await, json!({ "updated_count": 0 }));
    let res = app.send(Method::POST, "/api/v1/notifications/mark-all-read", Some(&intruder), None).await;
    assert_eq!(json_of(res, StatusCode::OK).await, json!({ "updated_count": 0 }));
    let theirs = json_of(app.get("/api/v1/notifications", Some(&intruder)).await, StatusCode::OK).await;
    assert_eq!((theirs["total_count"].as_i64(), theirs["unread_count"].as_i64()), (Some(0), Some(0)));

    let still = json_of(app.get(&path, Some(&owner)).await, StatusCode::OK).await;
    assert_eq!(still["is_read"], false, "nothing the intruder sent changed it");
}

#[tokio::test]
async fn mark_read_counts_my_matched_notifications_whether_read_or_not() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    let db = app.sql().await;
    let unread = notify(&db, a_id, "unread", false, 2).await;
    let seen = notify(&db, a_id, "seen", true, 1).await;
    let bobs = notify(&db, b_id, "bob's", false, 1).await;
    app.wait_for_replica().await;

    let ids = json!({ "notification_ids": [unread, seen, bobs, 999_999, unread] });
    let res = app.post("/api/v1/notifications/mark-read", Some(&a), ids).await;
    assert_eq!(json_of(res, StatusCode::OK).await, json!({ "updated_count": 2 }));
    assert_eq!(unread_count(&app, &a).await, json!({ "unread_count": 0 }));
    assert_eq!(unread_count(&app, &b).await, json!({ "unread_count": 1 }), "bob's notification stays unread");
}

#[tokio::test]
async fn mark_read_rejects_an_empty_missing_or_mistyped_list() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let res = app.post("/api/v1/notifications/mark-read", Some(&token), json!({ "notification_ids": [] })).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        body["detail"],
        json!([{
            "type": "too_short",
            "loc": ["body", "notification_ids"],
            "msg": "List should have at least 1 item after validation, not 0",
            "input": [],
            "ctx": { "field_type": "List", "min_length": 1, "actual_length": 0 }
        }])
    );
    let res = app.post("/api/v1/notifications/mark-read", Some(&token), json!({})).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        (body["detail"][0]["type"].as_str(), body["detail"][0]["msg"].as_str()),
        (Some("missing"), Some("Field required"))
    );
    assert_eq!(body["detail"][0]["loc"], json!(["body", "notification_ids"]));
    let res = app.post("/api/v1/notifications/mark-read", Some(&token), json!({ "notification_ids": ["x"] })).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "notification_ids", 0]));
}

#[tokio::test]
async fn a_friend_request_shows_up_in_the_addressees_inbox() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let b_id = app.user_id(&b).await;
    json_of(app.post("/api/v1/friends/request", Some(&a), json!({ "addressee_id": b_id })).await, StatusCode::CREATED)
        .await;
    // Alice's write: bob reads it once the replica has it.
    app.wait_for_replica().await;
    let list = json_of(app.get("/api/v1/notifications", Some(&b)).await, StatusCode::OK).await;
    assert_eq!(list["notifications"][0]["type"], "friend_request");
    assert_eq!(list["unread_count"], 1);
    let mine = json_of(app.get("/api/v1/notifications", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(mine["total_count"], 0);
}

#[tokio::test]
async fn notification_endpoints_require_a_token() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/notifications", "/api/v1/notifications/unread-count", "/api/v1/notifications/1"] {
        assert_detail(app.get(path, None).await, StatusCode::UNAUTHORIZED, "Not authenticated").await;
    }
    let res = app.send(Method::POST, "/api/v1/notifications/mark-all-read", None, None).await;
    assert_detail(res, StatusCode::UNAUTHORIZED, "Not authenticated").await;
}
