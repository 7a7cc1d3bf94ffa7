//! Contract 4.5 with section 8's fixes: every rule, error and limit of the friend endpoints.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail, json_of};

async fn request(app: &TestApp, from: &str, to: i64) -> reqwest::Response {
    app.post("/api/v1/friends/request", Some(from), json!({ "addressee_id": to })).await
}

async fn befriend(app: &TestApp, a: &str, b: &str) {
    let b_id = app.user_id(b).await;
    let req = json_of(request(app, a, b_id).await, StatusCode::CREATED).await;
    let path = format!("/api/v1/friends/requests/{}", req["id"]);
    json_of(app.patch(&path, Some(b), json!({ "status": "accepted" })).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_request_is_pending_visible_to_both_sides_and_notifies_the_addressee() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    let f = json_of(request(&app, &a, b_id).await, StatusCode::CREATED).await;
    assert_eq!(
        (f["requester_id"].as_i64(), f["addressee_id"].as_i64(), f["status"].as_str()),
        (Some(a_id), Some(b_id), Some("pending"))
    );
    // Bob reads a request alice made: not his own write, so it reaches him once the replica has it.
    app.wait_for_replica().await;
    let received = json_of(app.get("/api/v1/friends/requests/received", Some(&b)).await, StatusCode::OK).await;
    assert_eq!(received[0]["requester"]["username"], "alice");
    assert_eq!(received[0]["addressee"], Value::Null);
    assert_eq!(received[0]["requester"]["email"], "a***@e***", "not a friend yet: e-mail masked");
    let sent = json_of(app.get("/api/v1/friends/requests/sent", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(sent[0]["addressee"]["username"], "bob");
    assert_eq!(sent[0]["requester"], Value::Null);
    let kinds: Vec<String> = app
        .sql()
        .await
        .query("select type from notifications where user_id = $1", &[&b_id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["friend_request"]);
}

#[tokio::test]
async fn request_checks_self_then_existence_then_relation() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    assert_detail(request(&app, &a, a_id).await, StatusCode::BAD_REQUEST, "Cannot send friend request to yourself")
        .await;
    assert_detail(request(&app, &a, 999_999).await, StatusCode::NOT_FOUND, "User not found").await;
    json_of(request(&app, &a, b_id).await, StatusCode::CREATED).await;
    assert_detail(request(&app, &a, b_id).await, StatusCode::BAD_REQUEST, "Friend request already exists").await;
    assert_detail(request(&app, &b, a_id).await, StatusCode::BAD_REQUEST, "Friend request already exists").await;
    // Bob reads a request alice made: not his own write, so it reaches him once the replica has it.
    app.wait_for_replica().await;
    let received = json_of(app.get("/api/v1/friends/requests/received", Some(&b)).await, StatusCode::OK).await;
    let path = format!("/api/v1/friends/requests/{}", received[0]["id"]);
    json_of(app.patch(&path, Some(&b), json!({ "status": "accepted" })).await, StatusCode::OK).await;
    assert_detail(request(&app, &a, b_id).await, StatusCode::BAD_REQUEST, "Already friends").await;
    let bad = json_of(
        app.post("/api/v1/friends/request", Some(&a), json!({ "addressee_id": "x" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["detail"][0]["loc"], json!(["body", "addressee_id"]));
}

#[tokio::test]
async fn a_rejected_request_can_be_asked_again_in_either_direction() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let (a_id, b_id) = (app.user_id(&a).await, app.user_id(&b).await);
    let req = json_of(request(&app, &a, b_id).await, StatusCode::CREATED).await;
    let path = format!("/api/v1/friends/requests/{}", req["id"]);
    let rejected = json_of(app.patch(&path, Some(&b), json!({ "status": "rejected" })).await, StatusCode::OK).await;
    assert_eq!(rejected["status"], "rejected");
    let again = json_of(request(&app, &a, b_id).await, StatusCode::CREATED).await;
    assert_eq!(again["status"], "pending");
    json_of(
        app.patch(&format!("/api/v1/friends/requests/{}", again["id"]), Some(&b), json!({ "status": "rejected" }))
            .await,
        StatusCode::OK,
    )
    .await;
    let reverse = json_of(request(&app, &b, a_id).await, StatusCode::CREATED).await;
    assert_eq!((reverse["requester_id"].as_i64(), reverse["status"].as_str()), (Some(b_id), Some("pending")));
}

#[tokio::test]
async fn only_the_addressee_may_answer_a_pending_request() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let c = app.user("carol").await;
    let b_id = app.user_id(&b).await;
    let req = json_of(request(&app, &a, b_id).await, StatusCode::CREATED).await;
    let path = format!("/api/v1/friends/requests/{}", req["id"]);
    assert_detail(
        app.patch(&path, Some(&a), json!({ "status": "accepted" })).await,
        StatusCode::NOT_FOUND,
        "Friend request not found",
    )
    .await;
    assert_detail(
        app.patch(&path, Some(&c), json!({ "status": "accepted" })).await,
        StatusCode::NOT_FOUND,
        "Friend request not found",
    )
    .await;
    let bad =
        json_of(app.patch(&path, Some(&b), json!({ "status": "maybe" })).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["detail"][0]["type"], "enum");
    json_of(app.patch(&path, Some(&b), json!({ "status": "accepted" })).await, StatusCode::OK).await;
    assert_detail(
        app.patch(&path, Some(&b), json!({ "status": "rejected" })).await,
        StatusCode::NOT_FOUND,
        "Friend request not found",
    )
    .await;
    let a_id = app.user_id(&a).await;
    let kinds: Vec<String> = app
        .sql()
        .await
        .query("select type from notifications where user_id = $1", &[&a_id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["friend_accepted"], "acceptance notifies the requester");
}

#[tokio::test]
async fn friends_list_both_directions_and_removal_takes_a_user_id() {
    let app = TestApp::spawn().await;
    let a = app.user("alice").await;
    let b = app.user("bob").await;
    let c = app.user("carol").await;
    befriend(&app, &a, &b).await;
    befriend(&app, &c, &a).await;
    let list = json_of(app.get("/api/v1/friends", Some(&a)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 2);
    let names: Vec<&str> =
        list["friends"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob", "carol"]);
    let c_id = app.user_id(&c).await;
    assert_eq!(app.delete(&format!("/api/v1/friends/{c_id}"), Some(&a)).await.status(), StatusCode::NO_CONTENT);
    assert_detail(
        app.delete(&format!("/api/v1/friends/{c_id}"), Some(&a)).await,
        StatusCode::NOT_FOUND,
        "Friendship not found",
    )
    .await;
    let b_id = app.user_id(&b).await;
    assert_detail(
        app.delete(&format!("/api/v1/friends/{b_id}"), Some(&c)).await,
        StatusCode::NOT_FOUND,
        "Friendship not found",
    )
    .await;
}

#[tokio::test]
async fn the_free_plan_allows_three_friends_and_premium_unlimited() {
    let app = TestApp::spawn().await;
    let me = app.user("me").await;
    for name in ["f1", "f2", "f3"] {
        let friend = app.user(name).await;
        befriend(&app, &friend, &me).await; // accepting is never limited
    }
    let fourth = app.user("f4").await;
    let fourth_id = app.user_id(&fourth).await;
    let res = request(&app, &me, fourth_id).await;
    let body = json_of(res, StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains('3'), "{body}");
    json_of(app.post("/api/v1/subscriptions/upgrade", Some(&me), json!({})).await, StatusCode::OK).await;
    json_of(request(&app, &me, fourth_id).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn persona_fields_show_only_public_personas_and_recommendations_are_bounded_strangers() {
    let app = TestApp::spawn().await;
    let me = app.user("me").await;
    let friend = app.user("friend").await;
    let private = app.user("private").await;
    befriend(&app, &me, &friend).await;
    befriend(&app, &me, &private).await;
    let db = app.sql().await;
    db.batch_execute(
        "insert into personas (user_id, name, personality, is_public) \
         select id, username || '봇', '밝음', username <> 'private' from users where username in ('friend', 'private');
         insert into users (email, username, password_hash, email_verified) \
         select 's' || i || '@example.com', 'stranger' || i, 'x', true from generate_series(1, 25) i;
         insert into personas (user_id, name, personality) select id, username || '봇', '차분함' from users where username like 'stranger%';",
    )
    .await
    .unwrap();
    app.wait_for_replica().await;
    let list = json_of(app.get("/api/v1/friends/with-persona", Some(&me)).await, StatusCode::OK).await;
    let by_name = |n: &str| list.as_array().unwrap().iter().find(|f| f["username"] == n).unwrap().clone();
    assert_eq!(by_name("friend")["persona_name"], "friend봇");
    assert!(by_name("friend")["persona_id"].is_i64());
    assert_eq!(by_name("private")["persona_name"], Value::Null);
    assert_eq!(by_name("private")["persona_id"], Value::Null);

    let recs = json_of(app.get("/api/v1/friends/recommendations", Some(&me)).await, StatusCode::OK).await;
    let users = recs["users"].as_array().unwrap();
    assert_eq!(users.len(), 20, "bounded");
    assert!(users.iter().all(|u| u["username"].as_str().unwrap().starts_with("stranger")), "no friends, no self");
    assert!(users.iter().all(|u| u["email"].as_str().unwrap().contains("***")), "no stranger's e-mail");
}
