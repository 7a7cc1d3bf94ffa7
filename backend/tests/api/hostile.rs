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
