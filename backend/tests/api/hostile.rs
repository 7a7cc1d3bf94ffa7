//! Input an attacker or a careless client sends: every one gets a 4xx in the contract's shape,
//! decodable whatever encoding the client accepts, and nothing is stored.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

/// A 422 whose body decodes as JSON when the client accepts gzip (as every browser does): either
/// not encoded, or really gzip.
async fn gzip_safe_422(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.http.get(app.url(path)).bearer_auth(token).header("accept-encoding", "gzip").send().await.unwrap();
    let status = res.status();
    let encoding = res.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.bytes().await.unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {bytes:?}");
    match encoding.as_deref() {
        None => serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{path}: not JSON: {bytes:?}")),
        Some("gzip") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
                .unwrap_or_else(|e| panic!("{path}: says gzip, is not: {e}"));
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        }
        Some(other) => panic!("{path}: unexpected encoding {other}"),
    }
}

#[tokio::test]
async fn malformed_path_parameters_are_422s_a_browser_can_decode() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let body = gzip_safe_422(&app, &token, "/api/v1/chats/abc/messages/1/stream").await;
    assert_eq!(body["detail"][0]["loc"], json!(["path", "chat_id"]));
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    let body = gzip_safe_422(&app, &token, "/api/v1/chats/abc/messages/xyz/stream").await;
    assert_eq!(body["detail"].as_array().unwrap().len(), 2, "{body}");
    let body = gzip_safe_422(&app, &token, "/api/v1/users/search/%FF").await;
    assert_eq!(body["detail"][0]["type"], "string_unicode");
    let body = gzip_safe_422(&app, &token, "/api/v1/jobs/%00").await;
    assert_eq!(body["detail"][0]["loc"], json!(["path", "job_id"]));
    let body = gzip_safe_422(&app, &token, "/api/v1/users/search/a%00b").await;
    assert_eq!(body["detail"][0]["type"], "string_pattern_mismatch");
}

#[tokio::test]
async fn nul_characters_are_refused_wherever_they_are_sent() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let diary = json!({ "title": "a\u{0}b", "content": "ok\u{0}", "diary_date": today });
    let body = json_of(app.post("/api/v1/diaries", Some(&token), diary).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let locs: Vec<&Value> = body["detail"].as_array().unwrap().iter().map(|e| &e["loc"]).collect();
    assert_eq!(locs, vec![&json!(["body", "content"]), &json!(["body", "title"])], "{body}");
    let register = json!({ "email": "nul@example.com", "username": "nu\u{0}l", "password": "password123" });
    json_of(app.post("/api/v1/auth/register", None, register).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    // The form login and a query string, percent-encoded.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=minji%00%40example.com&password=password123")
        .send()
        .await
        .unwrap();
    json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    json_of(app.get("/api/v1/diaries?page=1%00", Some(&token)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Nothing was stored.
    let list = json_of(app.get("/api/v1/diaries", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn stored_text_has_limits_and_the_document_states_them() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let long = |n: usize| "가".repeat(n);
    let diary = json!({ "title": "t", "content": long(20_001), "diary_date": today });
    let body = json_of(app.post("/api/v1/diaries", Some(&token), diary).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "string_too_long");
    assert_eq!(body["detail"][0]["ctx"]["max_length"], 20_000);
    let diary = json!({ "title": "t", "content": long(20_000), "diary_date": today });
    json_of(app.post("/api/v1/diaries", Some(&token), diary).await, StatusCode::CREATED).await;
    let image = json!({ "profile_image": format!("https://example.com/{}", "a".repeat(2_048)) });
    json_of(app.patch("/api/v1/users/me", Some(&token), image).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let traits = json!({ "personality_traits_override": [long(51)] });
    let res = app.send(reqwest::Method::PUT, "/api/v1/personas/me/customize", Some(&token), Some(traits)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Every string and list of every request body in the OpenAPI document carries its limit.
    let doc = json_of(app.get("/api/v1/openapi.json", None).await, StatusCode::OK).await;
    let mut unbounded = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(reference) = op
                .pointer("/requestBody/content")
                .and_then(|c| c.as_object())
                .and_then(|c| c.values().find_map(|m| m["schema"]["$ref"].as_str().map(str::to_owned)))
            else {
                continue;
            };
            let name = reference.rsplit('/').next().unwrap();
            let schema = &doc["components"]["schemas"][name];
            for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
                let kinds = prop["type"].as_array().cloned().unwrap_or_else(|| vec![prop["type"].clone()]);
                let is = |t: &str| kinds.iter().any(|k| k == t);
                let bounded = (is("string") && (prop.get("maxLength").is_some() || prop.get("format").is_some()))
                    || (is("array") && prop.get("maxItems").is_some())
                    || !(is("string") || is("array"));
                if !bounded {
                    unbounded.push(format!("{method} {path}: {name}.{field}"));
                }
            }
        }
    }
    assert!(unbounded.is_empty(), "request fields without a documented limit: {unbounded:#?}");
}

#[tokio::test]
async fn chat_messages_are_capped_and_a_chat_read_returns_the_latest() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let chat_id = app.own_chat(&token).await;
    let res = app
        .post(&format!("/api/v1/chats/{chat_id}/messages"), Some(&token), json!({ "content": "가".repeat(4_001) }))
        .await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["ctx"]["max_length"], 4_000);
    app.sql().await.execute(
        "insert into chat_messages (chat_id, content, is_user) select $1, 'm' || n, true from generate_series(1, 205) n",
        &[&chat_id],
    )
    .await
    .unwrap();
    app.wait_for_replica().await;
    let read = json_of(app.get(&format!("/api/v1/chats/{chat_id}"), Some(&token)).await, StatusCode::OK).await;
    let messages = read["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 200);
    assert_eq!(messages[0]["content"], "m6", "the latest 200, oldest first");
    assert_eq!(messages[199]["content"], "m205");
}

#[tokio::test]
async fn a_session_marker_is_trusted_for_five_minutes_at_most() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let key = format!("{}:sess:{}", app.settings.redis_prefix, claims["sid"].as_str().unwrap());
    let client = redis::Client::open(crate::helpers::env("REDIS_URL")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    // A lost tombstone can keep a revoked session usable on another instance this long at most.
    assert!((1..=300).contains(&ttl), "marker TTL {ttl}");
}

#[tokio::test]
async fn the_document_describes_what_the_api_accepts_and_answers() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    // An optional body may be absent (nothing changes) but is never `null`, as documented.
    let me = app.send(reqwest::Method::PATCH, "/api/v1/users/me", Some(&token), None).await;
    assert_eq!(me.status(), StatusCode::OK);
    let null = app.patch("/api/v1/users/me", Some(&token), Value::Null).await;
    json_of(null, StatusCode::UNPROCESSABLE_ENTITY).await;
    let blank = app.http.post(app.url("/api/v1/subscriptions/upgrade")).bearer_auth(&token).body("\n").send().await;
    let blank = json_of(blank.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(blank["detail"][0]["type"], "json_invalid", "whitespace is not an absent body");
    // A whole-number float is an integer, as JSON Schema reads it; a fraction is not.
    let mark =
        |id: Value| app.post("/api/v1/notifications/mark-read", Some(&token), json!({ "notification_ids": [id] }));
    json_of(mark(json!(1.5)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    json_of(mark(json!(7.0)).await, StatusCode::OK).await;

    let doc = json_of(app.get("/api/v1/openapi.json", None).await, StatusCode::OK).await;
    let update = &doc["paths"]["/api/v1/users/me"]["patch"];
    assert_eq!(update["requestBody"]["required"], Value::Null, "optional");
    assert!(update["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string(), "not nullable");
    let list = &doc["paths"]["/api/v1/diaries"]["get"];
    let per_page = list["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "per_page").unwrap();
    assert_eq!((per_page["in"].as_str(), per_page["schema"]["maximum"].as_i64()), (Some("query"), Some(100)));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_some_and(|s| !s.as_array().unwrap().is_empty()) {
                assert!(op["responses"]["401"].is_object(), "{method} {path}: no 401");
            }
        }
    }
}
