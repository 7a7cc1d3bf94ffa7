//! `dearme users verify|create`: the first sign-up on a stack without SMTP. The real binary runs
//! as its own process against the test app's database, and the API then logs the account in.

use std::process::{Output, Stdio};

use reqwest::StatusCode;
use serde_json::json;
use tokio::{io::AsyncWriteExt, process::Command};

use crate::helpers::{TestApp, assert_detail, json_of};

/// Where `users create` finds the password.
enum Password<'a> {
    Env(&'a str),
    Stdin(&'a str),
    Absent,
}

/// Runs `dearme ARGS` with the app's database and Redis settings; its exit status and output.
async fn dearme(app: &TestApp, args: &[&str], password: Password<'_>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dearme"));
    command
        .args(args)
        .envs(app.binary_env())
        .env_remove("DEARME_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Password::Env(p) = password {
        command.env("DEARME_PASSWORD", p);
    }
    let mut child = command.spawn().expect("the dearme binary");
    let mut stdin = child.stdin.take().unwrap();
    if let Password::Stdin(p) = password {
        stdin.write_all(format!("{p}\n").as_bytes()).await.unwrap();
    }
    drop(stdin);
    tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("dearme users finishes")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn users_create_makes_a_verified_account_that_logs_in_with_the_password_from_env_or_stdin() {
    let app = TestApp::spawn().await;
    let out = dearme(&app, &["users", "create", "first@example.com", "first"], Password::Env("password123")).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1, "one line: {}", text(&out.stdout));
    assert!(text(&out.stdout).contains("first@example.com"));
    let token = app.login("first@example.com", "password123").await;
    let me = json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((me["username"].as_str(), me["email_verified"].as_bool()), (Some("first"), Some(true)));
    let stored: String = app.sql().await.query_one("select password_hash from users", &[]).await.unwrap().get(0);
    assert!(stored.starts_with("$argon2id$"), "hashed like a registration");

    let out = dearme(&app, &["users", "create", "second@example.com", "second"], Password::Stdin("s3cret pass")).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    app.login("second@example.com", "s3cret pass").await;

    // A taken e-mail is refused in the endpoint's words; a password on the command line is no
    // way to pass it (usage, exit 2).
    let out = dearme(&app, &["users", "create", "FIRST@example.com", "third"], Password::Env("password123")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Email already registered"), "stderr: {}", text(&out.stderr));
    let out = dearme(&app, &["users", "create", "x@example.com", "x", "password123"], Password::Absent).await;
    assert_eq!(out.status.code(), Some(2));
    let count: i64 = app.sql().await.query_one("select count(*) from users", &[]).await.unwrap().get(0);
    assert_eq!(count, 2);
}

#[tokio::test]
async fn users_verify_lets_an_unverified_account_log_in() {
    let app = TestApp::spawn().await;
    let body = json!({ "email": "minji@example.com", "username": "minji", "password": "password123" });
    json_of(app.post("/api/v1/auth/register", None, body).await, StatusCode::CREATED).await;
    let login = json!({ "email": "minji@example.com", "password": "password123" });
    assert_detail(app.post("/api/v1/auth/login/json", None, login).await, StatusCode::FORBIDDEN, "Email not verified")
        .await;

    let out = dearme(&app, &["users", "verify", "MinJi@Example.com"], Password::Absent).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("verified minji@example.com"), "stdout: {}", text(&out.stdout));
    app.login("minji@example.com", "password123").await;

    let again = dearme(&app, &["users", "verify", "minji@example.com"], Password::Absent).await;
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("already verified"), "stdout: {}", text(&again.stdout));
}

#[tokio::test]
async fn users_verify_of_an_unknown_email_exits_1_saying_so() {
    let app = TestApp::spawn().await;
    let out = dearme(&app, &["users", "verify", "nobody@example.com"], Password::Absent).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no account with the e-mail nobody@example.com"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn users_create_refuses_a_short_password_with_the_registration_rule() {
    let app = TestApp::spawn().await;
    // The endpoint's own message for the same input.
    let body = json!({ "email": "kim@example.com", "username": "kim", "password": "short" });
    let refused = json_of(app.post("/api/v1/auth/register", None, body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let rule = refused["detail"][0]["msg"].as_str().unwrap().to_owned();
    assert_eq!(refused["detail"][0]["loc"][1], "password");

    let out = dearme(&app, &["users", "create", "kim@example.com", "kim"], Password::Env("short")).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("password: {rule}")), "stderr: {stderr}");
    // And from stdin: an empty line is a too-short password, not an empty account.
    let out = dearme(&app, &["users", "create", "kim@example.com", "kim"], Password::Stdin("")).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("password: {rule}")));
    let count: i64 = app.sql().await.query_one("select count(*) from users", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}
