//! Framework-level behaviour the contract pins down (1.3): unknown routes, wrong methods,
//! malformed and oversize bodies, plus request ids and CORS.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_detail, json_of};

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    assert_detail(app.get("/api/v1/nope", None).await, StatusCode::NOT_FOUND, "Not Found").await;
    assert_detail(app.get("/nope", None).await, StatusCode::NOT_FOUND, "Not Found").await;
    assert_detail(
        app.send(reqwest::Method::PUT, "/api/v1/diaries", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_a_422_json_invalid() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let res = app
        .http
        .post(app.url("/api/v1/diaries"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"][0], "body");
    let res = app.post("/api/v1/diaries", Some(&token), json!([1, 2])).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "model_attributes_type");
}

#[tokio::test]
async fn oversize_bodies_are_rejected_with_413_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let huge = "가".repeat(100_000);
    let res = app
        .post(
            "/api/v1/diaries",
            Some(&token),
            json!({ "title": "t", "content": huge, "diary_date": chrono::Utc::now().date_naive() }),
        )
        .await;
    assert_detail(res, StatusCode::PAYLOAD_TOO_LARGE, "Request body too large").await;
    let count: i64 = app.sql().await.query_one("select count(*) from diaries", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept() {
    let app = TestApp::spawn().await;
    let res = app.get("/health", None).await;
    assert_eq!(res.headers()["x-request-id"].len(), 32);
    let res = app.http.get(app.url("/health")).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn cors_allows_the_frontend_origin_with_credentials() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/diaries"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert_eq!(res.headers()["vary"], VARY);
    let res = app.http.get(app.url("/health")).header("origin", "http://localhost:5173").send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = app.http.get(app.url("/health")).header("origin", "http://evil.example").send().await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(res.headers().get("access-control-allow-credentials").is_none());
    // Without an origin: nothing to allow, and still the same `Vary` (a shared cache must not
    // answer a cross-origin request with it), once.
    let res = app.http.get(app.url("/health")).send().await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(res.headers().get("access-control-allow-credentials").is_none());
    let vary: Vec<_> = res.headers().get_all("vary").iter().collect();
    assert_eq!(vary, [VARY]);
}

const VARY: &str = "origin, access-control-request-method, access-control-request-headers";

#[tokio::test]
async fn json_responses_are_compressed_when_the_client_asks() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    for days_ago in 0..4 {
        app.diary(&token, days_ago, Some("happy")).await;
    }
    let res = app
        .http
        .get(app.url("/api/v1/diaries"))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn the_openapi_document_covers_every_endpoint_and_each_is_routed() {
    let app = TestApp::spawn().await;
    let doc = json_of(app.get("/api/v1/openapi.json", None).await, StatusCode::OK).await;
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in
            item.as_object().unwrap().keys().filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
        {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    // The contract's 68 endpoints plus the added logout, job status, stream resume, diary
    // access log, diary search and a reply's sources.
    assert_eq!(operations.len(), 74, "{operations:?}");
    for (method, path) in operations {
        let concrete = path
            .replace("{diary_id}", "1")
            .replace("{user_id}", "1")
            .replace("{username}", "x")
            .replace("{friendship_id}", "1")
            .replace("{friend_id}", "1")
            .replace("{chat_id}", "1")
            .replace("{notification_id}", "1")
            .replace("{job_id}", "x")
            .replace("{message_id}", "1");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app.send(method.clone(), &concrete, None, None).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("\"Not Found\""),
            "{method} {path} is documented but not routed ({status} {body})"
        );
    }
}

#[tokio::test]
async fn the_interactive_reference_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/docs/", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = res.text().await.unwrap();
    // Every script and stylesheet is a relative path the binary serves; nothing from a CDN.
    let assets: Vec<&str> = page.split(['"', '\'']).filter(|s| s.ends_with(".js") || s.ends_with(".css")).collect();
    assert!(assets.len() >= 3, "{page}");
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"), "{page}");
    for asset in assets {
        let path = format!("/api/v1/docs/{}", asset.trim_start_matches("./"));
        let res = app.get(&path, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.bytes().await.unwrap().len() > 100, "{path}");
    }
    // The page loads the document the API serves.
    let init = app.get("/api/v1/docs/swagger-initializer.js", None).await.text().await.unwrap();
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    // Without the slash, a redirect to the page.
    let res = app.get("/api/v1/docs", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/api/v1/docs/");
}
