//! Read/write split: read-your-writes with replay paused, a lagging replica taken out of rotation,
//! a stopped replica, and Redis down, stopped mid-run or refusing writes. These tests disrupt
//! shared services, so they run exclusively (see `helpers`) and restore the service even when
//! they fail.

use std::{process::Command, time::Duration};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, admin, env, json_of, with_db, within_one_rate_window};

/// The diary list past its cached first page: every read reaches a database server.
const LIST: &str = "/api/v1/diaries?per_page=20";

/// Reads routed to `role` for `reason`, over every replica label.
pub fn reads(role: &str, reason: &str) -> u64 {
    let text = dearme::platform::metrics::exposition();
    let needle = format!(r#"db_reads_total{{role="{role}",reason="{reason}""#);
    text.lines()
        .filter(|l| l.starts_with(&needle))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.trim().parse::<u64>().unwrap())
        .sum()
}

/// Resumes replay when dropped, even if the test panicked.
struct ReplayPaused;

impl ReplayPaused {
    async fn start() -> Self {
        admin(true).await.batch_execute("select pg_wal_replay_pause()").await.unwrap();
        Self
    }
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        let status = Command::new("psql")
            .arg(env("DATABASE_REPLICA_ADMIN_URL"))
            .args(["-qc", "select pg_wal_replay_resume()"])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "replay must be resumed");
    }
}

#[tokio::test]
async fn a_user_sees_their_own_write_at_once_while_replica_replay_is_paused() {
    let app = TestApp::builder().exclusive().spawn().await;
    let token = app.user("minji").await;
    app.wait_for_replica().await;
    let paused = ReplayPaused::start().await;

    let before = reads("primary", "read_your_writes");
    let diary = app.diary(&token, 0, Some("happy")).await;
    let id = diary["id"].as_i64().unwrap();

    // The replica really does not have it...
    let url = with_db(&env("DATABASE_REPLICA_DIRECT_URL"), &app.db_name);
    let (replica, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = replica.query("select 1 from diaries where id = $1", &[&id]).await.unwrap();
    assert!(rows.is_empty(), "replay is paused, so the replica must not have the diary yet");

    // ...yet the author reads it back at once, through the API.
    let got = json_of(app.get(&format!("/api/v1/diaries/{id}"), Some(&token)).await, StatusCode::OK).await;
    assert_eq!(got["id"], id);
    let list = json_of(app.get(LIST, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 1);
    let stats = json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(stats["total_count"], 1);
    assert!(reads("primary", "read_your_writes") >= before + 3, "those reads were routed to the primary");

    drop(paused);
    app.wait_for_replica().await;
    let before_replica = reads("replica", "healthy");
    json_of(app.get(LIST, Some(&token)).await, StatusCode::OK).await;
    assert!(reads("replica", "healthy") > before_replica, "once replayed, reads return to the replica");
}

#[tokio::test]
async fn a_replica_lagging_past_the_bound_is_taken_out_of_rotation() {
    let app = TestApp::builder().exclusive().settings(|s| s.replica_max_lag_bytes = 1024).spawn().await;
    let token = app.user("minji").await;
    let bystander = app.user("bystander").await;
    app.wait_for_replica().await;
    let _paused = ReplayPaused::start().await;
    // Another user writes enough WAL to push the replica past the bound.
    app.sql()
        .await
        .batch_execute("create table filler as select repeat('x', 1000) as pad from generate_series(1, 200)")
        .await
        .unwrap();
    let mut out_of_rotation = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if !app.state.db.replicas()[0].health.is_usable() {
            out_of_rotation = true;
            break;
        }
    }
    assert!(
        out_of_rotation,
        "lag of {} bytes should exceed the 1 KiB bound",
        app.state.db.replicas()[0].health.lag_bytes()
    );
    let before = reads("primary", "replica_unhealthy");
    json_of(app.get(LIST, Some(&bystander)).await, StatusCode::OK).await;
    assert!(
        reads("primary", "replica_unhealthy") > before,
        "a user with no recent write is also served by the primary"
    );
    let ready = json_of(app.get("/health/ready", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["replica"]["in_use"], false);
}

/// Starts the replica again (through the stack script) when dropped.
struct ReplicaStopped;

impl Drop for ReplicaStopped {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/stack");
        let status = Command::new(script).arg("up").env("STACK_DIR", env("STACK_DIR")).status();
        assert!(status.is_ok_and(|s| s.success()), "the stack must come back up");
    }
}

fn pg_ctl_replica(action: &str) {
    let dir = format!("{}/pg/replica", env("STACK_DIR"));
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", &dir, "-m", "fast", "-w", action])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {action}");
}

#[tokio::test]
async fn reads_fall_back_to_the_primary_without_hanging_when_the_replica_is_down() {
    let app = TestApp::builder().exclusive().spawn().await;
    let token = app.user("minji").await;
    app.diary(&token, 0, None).await;
    app.wait_for_replica().await;
    let _restart = ReplicaStopped;
    pg_ctl_replica("stop");

    for _ in 0..3 {
        let res = tokio::time::timeout(Duration::from_secs(8), app.get(LIST, Some(&token)))
            .await
            .expect("a read must not hang on a dead replica");
        assert_eq!(json_of(res, StatusCode::OK).await["total"], 1);
    }
    let ready = json_of(app.get("/health/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["replica"]["status"], "down");
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("db_replica_up{replica=") && l.ends_with(" 0")), "{metrics}");
}

/// A read URL nobody answers at boot (the replica container absent, or still cloning): the API
/// starts, serves every read from the primary, and readiness says the replica is down without
/// failing (the primary is up).
#[tokio::test]
async fn the_api_starts_and_serves_from_the_primary_when_the_replica_is_unreachable_at_boot() {
    let port = free_port();
    let app = TestApp::builder()
        .settings(move |s| {
            s.database_read_urls = vec![dearme::platform::settings::Secret::new(format!(
                "postgres://dearme:unused@127.0.0.1:{port}/dearme"
            ))];
        })
        .spawn()
        .await;
    assert!(!app.state.db.replicas()[0].health.is_reachable(), "the check before serving saw no replica");
    let token = app.user("minji").await;
    let before = reads("primary", "replica_unhealthy");
    let me = json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(me["username"], "minji");
    app.diary(&token, 0, None).await;
    let list = json_of(app.get(LIST, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(list["total"], 1);
    assert!(reads("primary", "replica_unhealthy") > before, "reads went to the primary");
    assert_eq!(reads("replica", "healthy"), 0, "nothing was read from the dead replica");

    let ready = json_of(app.get("/health/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["checks"]["primary"], "up");
    assert_eq!(ready["checks"]["replica"]["status"], "down");
    assert_eq!(ready["checks"]["replica"]["in_use"], false);
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private Redis server for one test, so stopping it disturbs no one else.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed by the stack script");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child: Some(child) }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn everything_works_from_postgres_when_redis_is_unreachable() {
    let port = free_port();
    let app = TestApp::builder()
        .settings(move |s| s.redis_url = dearme::platform::settings::Secret::new(format!("redis://127.0.0.1:{port}/")))
        .spawn()
        .await;
    let token = app.user("minji").await;
    let me = json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(me["username"], "minji");
    let diary = app.diary(&token, 0, None).await;
    json_of(app.get(&format!("/api/v1/diaries/{}", diary["id"]), Some(&token)).await, StatusCode::OK).await;
    json_of(app.post("/api/v1/auth/logout", Some(&token), json!({})).await, StatusCode::OK).await;
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED,
        "logout holds without Redis"
    );
    let ready = json_of(app.get("/health/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["checks"]["redis"], "down");
}

#[tokio::test]
async fn a_login_budget_lost_with_redis_is_still_spent_in_this_instance() {
    let port = free_port();
    let mut redis = PrivateRedis::start(port);
    let app = TestApp::builder()
        .settings(move |s| {
            s.rate_limit_enabled = true;
            s.redis_url = dearme::platform::settings::Secret::new(format!("redis://127.0.0.1:{port}/"));
        })
        .spawn()
        .await;
    let login = json!({ "email": "ghost@example.com", "password": "password123" });
    let attempt =
        || app.http.post(app.url("/api/v1/auth/login/json")).header("x-real-ip", "203.0.113.9").json(&login).send();
    within_one_rate_window().await;
    // Three counted in Redis, two while it is down; then a new, empty Redis: its count is 1.
    for _ in 0..3 {
        assert_eq!(attempt().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    redis.stop();
    for _ in 0..2 {
        assert_eq!(attempt().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let _redis = PrivateRedis::start(redis.port);
    let limited = attempt().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "the sixth attempt in this instance");
}

#[tokio::test]
async fn sessions_survive_redis_stopping_mid_run_and_use_it_again_when_it_returns() {
    let port = free_port();
    let mut redis = PrivateRedis::start(port);
    let app = TestApp::builder()
        .settings(move |s| s.redis_url = dearme::platform::settings::Secret::new(format!("redis://127.0.0.1:{port}/")))
        .spawn()
        .await;
    let token = app.user("minji").await;
    json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;

    redis.stop();
    for _ in 0..3 {
        let res = tokio::time::timeout(Duration::from_secs(3), app.get("/api/v1/users/me", Some(&token)))
            .await
            .expect("no hang on a dead Redis");
        json_of(res, StatusCode::OK).await;
    }
    app.diary(&token, 0, None).await;

    let _redis = PrivateRedis::start(redis.port);
    tokio::time::sleep(Duration::from_millis(1_100)).await; // past the back-off
    json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    let keys: Vec<Option<String>> =
        app.state.redis.mget(&[format!("{}:sess:x", app.settings.redis_prefix)]).await.expect("Redis is back");
    assert_eq!(keys, vec![None]);
    let cached_user = app
        .state
        .redis
        .mget(&[dearme::api::users::cache_key(&app.state.redis, me_id(&app, &token).await)])
        .await
        .unwrap();
    assert!(cached_user[0].is_some(), "the session path refilled the cache once Redis returned");
}

async fn me_id(app: &TestApp, token: &str) -> i64 {
    app.user_id(token).await
}

#[tokio::test]
async fn a_logout_whose_tombstone_redis_refused_still_holds_and_the_tombstone_lands_later() {
    let port = free_port();
    let _redis = PrivateRedis::start(port);
    let app = TestApp::builder()
        .settings(move |s| s.redis_url = dearme::platform::settings::Secret::new(format!("redis://127.0.0.1:{port}/")))
        .spawn()
        .await;
    let token = app.user("minji").await;
    json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let config = |name: &str, value: &str| redis::cmd("CONFIG").arg("SET").arg(name).arg(value).clone();
    // Redis keeps answering reads (the session's valid marker) but refuses every write.
    let () = config("maxmemory-policy", "noeviction").query_async(&mut redis).await.unwrap();
    let () = config("maxmemory", "1").query_async(&mut redis).await.unwrap();

    json_of(app.post("/api/v1/auth/logout", Some(&token), json!({})).await, StatusCode::OK).await;
    // Past the client's back-off the marker is readable again; the session must stay refused.
    for _ in 0..25 {
        assert_eq!(app.get("/api/v1/users/me", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let () = config("maxmemory", "0").query_async(&mut redis).await.unwrap();
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
    let sid = serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["sid"].as_str().unwrap().to_owned();
    let key = format!("{}:sess:{sid}", app.settings.redis_prefix);
    let mut marker = None;
    for _ in 0..150 {
        marker = redis::cmd("GET").arg(&key).query_async::<Option<String>>(&mut redis).await.unwrap();
        if marker.as_deref() == Some("revoked") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(marker.as_deref(), Some("revoked"), "the tombstone is written once Redis takes writes");
}
