//! Contract 4.1: registration, login, verification, reset, logout, rate limits.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_detail, json_of, within_one_rate_window};

fn register_body(name: &str) -> serde_json::Value {
    json!({ "email": format!("{name}@example.com"), "username": name, "password": "password123" })
}

#[tokio::test]
async fn register_returns_201_with_the_new_account_and_a_message() {
    let app = TestApp::spawn().await;
    let body =
        json_of(app.post("/api/v1/auth/register", None, register_body("minji")).await, StatusCode::CREATED).await;
    assert!(body["id"].as_i64().unwrap() > 0);
    assert_eq!(body["email"], "minji@example.com");
    assert_eq!(body["username"], "minji");
    assert!(body["message"].as_str().unwrap().contains("회원가입"));
    let stored: String = app.sql().await.query_one("select password_hash from users", &[]).await.unwrap().get(0);
    assert!(stored.starts_with("$argon2id$"), "passwords are stored as Argon2id hashes");
}

#[tokio::test]
async fn register_rejects_duplicate_email_and_username_with_400() {
    let app = TestApp::spawn().await;
    app.post("/api/v1/auth/register", None, register_body("minji")).await;
    let dup_email = json!({ "email": "MINJI@example.com", "username": "other", "password": "password123" });
    assert_detail(
        app.post("/api/v1/auth/register", None, dup_email).await,
        StatusCode::BAD_REQUEST,
        "Email already registered",
    )
    .await;
    let dup_name = json!({ "email": "new@example.com", "username": "minji", "password": "password123" });
    assert_detail(
        app.post("/api/v1/auth/register", None, dup_name).await,
        StatusCode::BAD_REQUEST,
        "Username already taken",
    )
    .await;
}

#[tokio::test]
async fn register_validates_email_username_and_password_lengths() {
    let app = TestApp::spawn().await;
    let res =
        app.post("/api/v1/auth/register", None, json!({ "email": "nope", "username": "a", "password": "short" })).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let locs: Vec<String> =
        body["detail"].as_array().unwrap().iter().map(|e| e["loc"][1].as_str().unwrap().to_owned()).collect();
    assert_eq!(locs, ["email", "username", "password"]);
    assert_eq!(body["detail"][2]["msg"], "String should have at least 8 characters");
}

#[tokio::test]
async fn login_checks_credentials_then_activity_then_verification() {
    let app = TestApp::spawn().await;
    app.post("/api/v1/auth/register", None, register_body("minji")).await;
    let login = |password: &'static str| json!({ "email": "minji@example.com", "password": password });
    assert_detail(
        app.post("/api/v1/auth/login/json", None, login("wrong-pass")).await,
        StatusCode::UNAUTHORIZED,
        "Incorrect email or password",
    )
    .await;
    let unknown = json!({ "email": "ghost@example.com", "password": "password123" });
    assert_detail(
        app.post("/api/v1/auth/login/json", None, unknown).await,
        StatusCode::UNAUTHORIZED,
        "Incorrect email or password",
    )
    .await;
    assert_detail(
        app.post("/api/v1/auth/login/json", None, login("password123")).await,
        StatusCode::FORBIDDEN,
        "Email not verified",
    )
    .await;
    let db = app.sql().await;
    db.execute("update users set email_verified = true, is_active = false", &[]).await.unwrap();
    assert_detail(
        app.post("/api/v1/auth/login/json", None, login("password123")).await,
        StatusCode::BAD_REQUEST,
        "Inactive user",
    )
    .await;
    db.execute("update users set is_active = true", &[]).await.unwrap();
    let token = json_of(app.post("/api/v1/auth/login/json", None, login("password123")).await, StatusCode::OK).await;
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["access_token"].as_str().unwrap().split('.').count(), 3, "the frontend requires a three-part JWT");
}

#[tokio::test]
async fn oauth2_form_login_works_and_sends_www_authenticate_on_failure() {
    let app = TestApp::spawn().await;
    app.user("minji").await;
    let form = |pw: &str| {
        app.http.post(app.url("/api/v1/auth/login")).form(&[("username", "minji@example.com"), ("password", pw)])
    };
    let ok = json_of(form("password123").send().await.unwrap(), StatusCode::OK).await;
    assert!(ok["access_token"].is_string());
    let bad = form("nope").send().await.unwrap();
    assert_eq!(bad.headers()["www-authenticate"], "Bearer");
    assert_detail(bad, StatusCode::UNAUTHORIZED, "Incorrect email or password").await;
}

#[tokio::test]
async fn the_verification_link_verifies_once_and_logs_the_user_in() {
    let app = TestApp::spawn().await;
    app.post("/api/v1/auth/register", None, register_body("minji")).await;
    let mail = app.state.mailer.outbox();
    let link = &mail.last().expect("a verification mail was sent").link;
    assert!(link.starts_with("http://localhost:5173/verify-email?token="));
    let token = link.split("token=").nth(1).unwrap();
    let body = json_of(app.get(&format!("/api/v1/auth/verify-email?token={token}"), None).await, StatusCode::OK).await;
    let me = json_of(app.get("/api/v1/users/me", body["access_token"].as_str()).await, StatusCode::OK).await;
    assert_eq!(me["email_verified"], true);
    let again = app.get(&format!("/api/v1/auth/verify-email?token={token}"), None).await;
    assert_detail(again, StatusCode::BAD_REQUEST, "Invalid or expired verification token").await;
    let missing = json_of(app.get("/api/v1/auth/verify-email", None).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(missing["detail"][0]["loc"], json!(["query", "token"]));
}

#[tokio::test]
async fn resend_verification_answers_the_same_for_strangers_and_sends_at_most_one_a_minute() {
    let app = TestApp::spawn().await;
    app.post("/api/v1/auth/register", None, register_body("minji")).await;
    let stranger = json_of(
        app.post("/api/v1/auth/resend-verification", None, json!({ "email": "ghost@example.com" })).await,
        StatusCode::OK,
    )
    .await;
    // Registration just sent one: an immediate resend answers exactly the same, and sends nothing.
    let res = app.post("/api/v1/auth/resend-verification", None, json!({ "email": "minji@example.com" })).await;
    assert_eq!(json_of(res, StatusCode::OK).await, stranger);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.state.mailer.outbox().len(), 1, "only registration's mail");
}

/// The mails the log mailer holds, once there are `n` (sends run in the background).
async fn mails(app: &TestApp, n: usize) -> Vec<dearme::platform::mail::SentMail> {
    for _ in 0..100 {
        let outbox = app.state.mailer.outbox();
        if outbox.len() >= n {
            return outbox;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} mails were sent");
}

#[tokio::test]
async fn password_reset_changes_the_password_and_revokes_every_session() {
    let app = TestApp::spawn().await;
    let old_token = app.user("minji").await;
    let before = app.state.mailer.outbox().len();
    json_of(
        app.post("/api/v1/auth/forgot-password", None, json!({ "email": "minji@example.com" })).await,
        StatusCode::OK,
    )
    .await;
    let link = mails(&app, before + 1).await.last().unwrap().link.clone();
    // Within the minute: the same answer, and no second mail.
    json_of(
        app.post("/api/v1/auth/forgot-password", None, json!({ "email": "minji@example.com" })).await,
        StatusCode::OK,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.state.mailer.outbox().len(), before + 1);
    assert!(link.contains("/reset-password?token="));
    let token = link.split("token=").nth(1).unwrap();

    let short = app.post("/api/v1/auth/reset-password", None, json!({ "token": token, "password": "short" })).await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    json_of(
        app.post("/api/v1/auth/reset-password", None, json!({ "token": token, "password": "newpassword1" })).await,
        StatusCode::OK,
    )
    .await;

    assert_detail(
        app.get("/api/v1/users/me", Some(&old_token)).await,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
    )
    .await;
    app.login("minji@example.com", "newpassword1").await;
    let reused =
        app.post("/api/v1/auth/reset-password", None, json!({ "token": token, "password": "another-one" })).await;
    assert_detail(reused, StatusCode::BAD_REQUEST, "Invalid or expired password reset token").await;
}

#[tokio::test]
async fn forgot_password_does_not_reveal_whether_an_account_exists() {
    let app = TestApp::spawn().await;
    let res = json_of(
        app.post("/api/v1/auth/forgot-password", None, json!({ "email": "ghost@example.com" })).await,
        StatusCode::OK,
    )
    .await;
    assert!(res["message"].is_string());
    app.user("minji").await;
    let before = app.state.mailer.outbox().len();
    let known = app
        .post("/api/v1/auth/forgot-password", None, json!({ "email": "minji@example.com" }))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&known).unwrap(), res, "the same body for a real account");
    mails(&app, before + 1).await;
}

#[tokio::test]
async fn logout_revokes_only_the_calling_session() {
    let app = TestApp::spawn().await;
    let first = app.user("minji").await;
    let second = app.login("minji@example.com", "password123").await;
    json_of(app.post("/api/v1/auth/logout", Some(&first), json!({})).await, StatusCode::OK).await;
    assert_detail(
        app.get("/api/v1/users/me", Some(&first)).await,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
    )
    .await;
    json_of(app.get("/api/v1/users/me", Some(&second)).await, StatusCode::OK).await;
}

#[tokio::test]
async fn protected_endpoints_distinguish_missing_and_invalid_credentials() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/users/me", None).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_detail(res, StatusCode::UNAUTHORIZED, "Not authenticated").await;
    assert_detail(
        app.get("/api/v1/users/me", Some("not.a.jwt")).await,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
    )
    .await;
    let token = app.user("minji").await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_detail(
        app.get("/api/v1/users/me", Some(&tampered)).await,
        StatusCode::UNAUTHORIZED,
        "Could not validate credentials",
    )
    .await;
    let id: i64 =
        app.sql().await.query_one("update users set is_active = false returning id", &[]).await.unwrap().get(0);
    // The cached user still says active: deactivation is an admin write that clears the cache.
    app.state.redis.del(&[dearme::api::users::cache_key(&app.state.redis, id)]).await;
    assert_detail(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::BAD_REQUEST, "Inactive user").await;
}

#[tokio::test]
async fn auth_endpoints_are_rate_limited_per_real_client_address() {
    let app = TestApp::builder().settings(|s| s.rate_limit_enabled = true).spawn().await;
    let login = json!({ "email": "ghost@example.com", "password": "password123" });
    let from =
        |ip: &'static str| app.http.post(app.url("/api/v1/auth/login/json")).header("x-real-ip", ip).json(&login);
    within_one_rate_window().await;
    for _ in 0..5 {
        assert_eq!(from("203.0.113.1").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let limited = from("203.0.113.1").send().await.unwrap();
    assert_detail(limited, StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please try again later.").await;
    // Another client behind the same trusted proxy has its own budget.
    assert_eq!(from("203.0.113.2").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_addresses_from_untrusted_peers_are_ignored() {
    let app = TestApp::builder()
        .settings(|s| {
            s.rate_limit_enabled = true;
            s.trusted_proxies = vec![];
        })
        .spawn()
        .await;
    let login = json!({ "email": "ghost@example.com", "password": "password123" });
    for i in 0..5 {
        let res = app
            .http
            .post(app.url("/api/v1/auth/login/json"))
            .header("x-real-ip", format!("203.0.113.{i}"))
            .json(&login)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .http
        .post(app.url("/api/v1/auth/login/json"))
        .header("x-real-ip", "203.0.113.99")
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "spoofed X-Real-IP must not buy a fresh budget");
}

#[tokio::test]
async fn auto_verify_lets_a_new_account_log_in_at_once() {
    let app = TestApp::builder().settings(|s| s.auto_verify_email = true).spawn().await;
    app.post("/api/v1/auth/register", None, register_body("minji")).await;
    app.login("minji@example.com", "password123").await;
    assert!(app.state.mailer.outbox().is_empty(), "no verification mail when accounts are auto-verified");
}

/// A minimal SMTP server at the network edge: accepts every message and hands its raw text over.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut in_data = false;
                let mut message = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            tx.send(std::mem::take(&mut message)).unwrap();
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// An app mailing through the SMTP server on `port`, with `tls`.
async fn with_smtp(port: u16, tls: dearme::platform::settings::SmtpTls) -> TestApp {
    TestApp::builder()
        .settings(move |s| {
            s.smtp = Some(dearme::platform::settings::SmtpSettings {
                host: "127.0.0.1".into(),
                port,
                username: None,
                password: None,
                from: "DearMe <no-reply@dearme.test>".into(),
                tls,
            });
        })
        .spawn()
        .await
}

#[tokio::test]
async fn with_smtp_configured_the_verification_link_is_mailed() {
    let (port, mut inbox) = smtp_sink().await;
    // The sink speaks plain SMTP only.
    let app = with_smtp(port, dearme::platform::settings::SmtpTls::None).await;
    json_of(app.post("/api/v1/auth/register", None, register_body("minji")).await, StatusCode::CREATED).await;
    let message =
        tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv()).await.expect("a mail arrives").unwrap();
    assert!(message.contains("To: minji@example.com"), "{message}");
    // The body is transfer-encoded (Korean text): base64 or quoted-printable.
    let (head, body) = message.split_once("\n\n").expect("headers, then the body");
    let text = if head.contains("Content-Transfer-Encoding: base64") {
        use base64::Engine;
        let joined: String = body.lines().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined.trim()).unwrap()).unwrap()
    } else {
        body.replace("=\n", "").replace("=3D", "=")
    };
    let token = text
        .split("verify-email?token=")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect::<String>())
        .expect("the mail carries the link");
    assert!(app.state.mailer.outbox().is_empty(), "nothing is only logged when SMTP is configured");
    json_of(app.get(&format!("/api/v1/auth/verify-email?token={token}"), None).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_relay_without_starttls_gets_no_mail_unless_plain_text_is_asked_for() {
    let (port, mut inbox) = smtp_sink().await;
    let app = with_smtp(port, dearme::platform::settings::SmtpTls::Required).await;
    // Registration still succeeds; the link (a token) is not sent in the clear.
    json_of(app.post("/api/v1/auth/register", None, register_body("minji")).await, StatusCode::CREATED).await;
    let nothing = tokio::time::timeout(std::time::Duration::from_secs(2), inbox.recv()).await;
    assert!(nothing.is_err(), "a mail went out over plain text: {nothing:?}");
}
