//! Test harness: every test boots the real application (port 0) against the real stack that
//! `scripts/test` starts (Postgres primary + replica, two PgBouncers, Redis), in a database of
//! its own cloned from a migrated template.
//!
//! Tests that stop or pause the replica take an exclusive cross-process lock; every other test
//! holds it shared for its lifetime, so those disruptions never overlap another test.

use std::{sync::OnceLock, time::Duration};

use dearme::{
    api::state::AppState,
    platform::settings::{Secret, Settings},
    startup::Application,
};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

const TEMPLATE: &str = "dearme_template";
/// Advisory lock key: shared by ordinary tests, exclusive for replica disruptions.
const DISRUPTION_LOCK: i64 = 7_331;

pub fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test (it starts the stack)"))
}

/// A superuser connection (unix socket) to the primary or the replica.
pub async fn admin(replica: bool) -> Client {
    let url = env(if replica { "DATABASE_REPLICA_ADMIN_URL" } else { "DATABASE_ADMIN_URL" });
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await.expect("admin connection");
    tokio::spawn(conn);
    client
}

pub fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("url has a database");
    format!("{base}/{db}")
}

/// Creates (once, under a lock, for all test processes) the migrated template database, keyed by
/// a hash of the migrations (and of what `migrate` runs after them) so a change rebuilds it.
async fn ensure_template(admin: &Client) {
    let migrations = migrations_fingerprint();
    admin.batch_execute("select pg_advisory_lock(7330)").await.unwrap();
    let current: Option<String> = admin
        .query_opt("select shobj_description(oid, 'pg_database') from pg_database where datname = $1", &[&TEMPLATE])
        .await
        .unwrap()
        .and_then(|r| r.get(0));
    if current.as_deref() != Some(migrations.as_str()) {
        admin.batch_execute(&format!("drop database if exists {TEMPLATE} with (force)")).await.unwrap();
        admin.batch_execute(&format!("create database {TEMPLATE} owner dearme")).await.unwrap();
        let direct = with_db(&env("DATABASE_DIRECT_URL"), TEMPLATE);
        dearme::platform::db::migrate::run(&direct).await.expect("migrations apply to a fresh database");
        admin.batch_execute(&format!("comment on database {TEMPLATE} is '{migrations}'")).await.unwrap();
    }
    admin.batch_execute("select pg_advisory_unlock(7330)").await.unwrap();
}

fn migrations_fingerprint() -> String {
    use std::hash::{Hash, Hasher};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for path in entries {
        path.file_name().hash(&mut hasher);
        std::fs::read(&path).unwrap().hash(&mut hasher);
    }
    // What `migrate` runs after apalis's setup is part of the schema too.
    dearme::platform::db::migrate::TRIM_QUEUE_INDEXES.hash(&mut hasher);
    format!("{:x}", hasher.finish())
}

fn init_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            dearme::platform::telemetry::init(false);
        }
    });
}

pub struct TestApp {
    pub addr: String,
    pub db_name: String,
    pub settings: Settings,
    pub state: AppState,
    pub http: reqwest::Client,
    /// Holds the disruption lock (shared or exclusive) until the test ends.
    _lock: Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    worker_stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// This test's own dev LLM server (`/_control/...` to inject latency and faults).
    pub llm: String,
}

type SettingsTweak = Box<dyn FnOnce(&mut Settings)>;

pub struct TestAppBuilder {
    exclusive: bool,
    worker: bool,
    tweak: Vec<SettingsTweak>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder { exclusive: false, worker: false, tweak: Vec::new() }
    }

    /// A second API instance (own server, pools and caches) on the same database and Redis
    /// namespace as `app`: what another replica behind nginx would be.
    pub async fn sibling(app: &TestApp) -> TestApp {
        let settings = app.settings.clone();
        let server = Application::build(settings.clone()).await.expect("app builds");
        let addr = format!("http://127.0.0.1:{}", server.port());
        let state = server.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        let lock = admin(false).await;
        lock.batch_execute(&format!("select pg_advisory_lock_shared({DISRUPTION_LOCK})")).await.unwrap();
        TestApp {
            addr,
            db_name: app.db_name.clone(),
            settings,
            state,
            http: reqwest::Client::new(),
            _lock: lock,
            shutdown: Some(tx),
            worker_stop: None,
            llm: app.llm.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(reqwest::Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.send(reqwest::Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.send(reqwest::Method::DELETE, path, token, None).await
    }

    /// A direct connection to this test's database on the primary (to arrange or inspect state).
    pub async fn sql(&self) -> Client {
        let (client, conn) =
            tokio_postgres::connect(&with_db(&env("DATABASE_DIRECT_URL"), &self.db_name), NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }

    /// Registers a verified account and logs it in; returns its token.
    pub async fn user(&self, name: &str) -> String {
        let email = format!("{name}@example.com");
        let res = self
            .post("/api/v1/auth/register", None, json!({ "email": email, "username": name, "password": "password123" }))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {name}: {}", res.text().await.unwrap());
        self.sql().await.execute("update users set email_verified = true where username = $1", &[&name]).await.unwrap();
        self.login(&email, "password123").await
    }

    /// The environment the `dearme` binary needs to run against this app's database and Redis
    /// (for tests that start it as a process: a worker, an operator command).
    pub fn binary_env(&self) -> [(&'static str, String); 7] {
        let s = &self.settings;
        [
            ("DATABASE_URL", s.database_url.expose().to_owned()),
            ("DATABASE_READ_URL", s.database_read_urls[0].expose().to_owned()),
            ("DATABASE_DIRECT_URL", s.database_direct_url.expose().to_owned()),
            ("REDIS_URL", s.redis_url.expose().to_owned()),
            ("REDIS_PREFIX", s.redis_prefix.clone()),
            ("JWT_SECRET", s.jwt_secret.expose().to_owned()),
            ("LLM_BASE_URL", s.llm.base_url.clone()),
        ]
    }

    /// Gives `token`'s user a persona, written straight to the database (no LLM); its id.
    pub async fn persona(&self, token: &str) -> i64 {
        let me = self.user_id(token).await;
        let sql = "insert into personas (user_id, name, personality) values ($1, '하루', '다정함') returning id";
        self.sql().await.query_one(sql, &[&me]).await.unwrap().get(0)
    }

    /// `token`'s user's chat with their own new persona (`persona`); its id.
    pub async fn own_chat(&self, token: &str) -> i64 {
        let persona = self.persona(token).await;
        let chat = self.post("/api/v1/chats", Some(token), json!({ "persona_id": persona })).await;
        json_of(chat, StatusCode::CREATED).await["id"].as_i64().unwrap()
    }

    /// Runs `dearme embeddings backfill ARGS` against this app (the tests' embedding model and
    /// dimension); its one line of output.
    pub async fn backfill_embeddings(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dearme"))
            .args(["embeddings", "backfill"])
            .args(args)
            .envs(self.binary_env())
            .envs([("LLM_PROVIDER", "dev"), ("EMBEDDING_MODEL", "dev-embedding"), ("EMBEDDING_DIM", "256")])
            .output()
            .await
            .expect("the dearme binary");
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// The id of the user `token` belongs to, as `GET /users/me` answers it.
    pub async fn user_id(&self, token: &str) -> i64 {
        json_of(self.get("/api/v1/users/me", Some(token)).await, StatusCode::OK).await["id"]
            .as_i64()
            .expect("users/me has an id")
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let res = self.post("/api/v1/auth/login/json", None, json!({ "email": email, "password": password })).await;
        assert_eq!(res.status(), StatusCode::OK, "login {email}");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Writes a diary `days_ago` days before today (UTC) and returns it.
    pub async fn diary(&self, token: &str, days_ago: i64, mood: Option<&str>) -> Value {
        let date = (chrono::Utc::now().date_naive() - chrono::Duration::days(days_ago)).to_string();
        let res = self
            .post("/api/v1/diaries", Some(token), json!({ "title": "하루", "content": "오늘은 좋은 날", "mood": mood, "weather": "sunny", "diary_date": date }))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// Waits until every job of this test's database has finished (done or failed).
    pub async fn wait_for_jobs(&self) {
        let db = self.sql().await;
        for _ in 0..400 {
            let busy: i64 = db
                .query_one("select count(*) from ai_jobs where status in ('pending', 'running')", &[])
                .await
                .unwrap()
                .get(0);
            if busy == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("jobs did not finish");
    }

    /// Waits until the replica has replayed everything the primary has written so far.
    pub async fn wait_for_replica(&self) {
        let primary = admin(false).await;
        let replica = admin(true).await;
        let lsn: String = primary.query_one("select pg_current_wal_insert_lsn()::text", &[]).await.unwrap().get(0);
        for _ in 0..200 {
            let caught_up: bool =
                replica.query_one("select pg_last_wal_replay_lsn() >= $1::text::pg_lsn", &[&lsn]).await.unwrap().get(0);
            if caught_up {
                // And the app has seen it (its monitor polls).
                tokio::time::sleep(self.settings.replica_check_interval * 2).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("replica did not catch up");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.worker_stop.take() {
            let _ = tx.send(());
        }
    }
}

impl TestAppBuilder {
    /// Runs alone: no other test runs while this one holds the lock (it pauses or stops the replica).
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }

    /// Also runs a worker (in-process) against this test's database and LLM server.
    pub fn worker(mut self) -> Self {
        self.worker = true;
        self
    }

    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.tweak.push(Box::new(f));
        self
    }

    pub async fn spawn(self) -> TestApp {
        init_tracing();
        let llm_addr =
            dearme::llm::devserver::spawn(dearme::llm::devserver::DevConfig { latency_ms: 0, token_latency_ms: 5 })
                .await;
        let admin_conn = admin(false).await;
        let lock = if self.exclusive { "pg_advisory_lock" } else { "pg_advisory_lock_shared" };
        admin_conn.batch_execute(&format!("select {lock}({DISRUPTION_LOCK})")).await.unwrap();
        ensure_template(&admin_conn).await;
        let db_name = format!("t_{}", dearme::api::auth::random_token(8));
        admin_conn.batch_execute(&format!("create database {db_name} template {TEMPLATE} owner dearme")).await.unwrap();
        wait_for_database_on_replica(&db_name).await;

        let mut settings = Settings {
            listen_addr: "127.0.0.1:0".into(),
            database_url: Secret::new(with_db(&env("DATABASE_URL"), &db_name)),
            database_read_urls: vec![Secret::new(with_db(&env("DATABASE_READ_URL"), &db_name))],
            database_read_verify_lsn: false,
            db_named_statements: false,
            database_direct_url: Secret::new(with_db(&env("DATABASE_DIRECT_URL"), &db_name)),
            db_pool_size: 8,
            db_connect_timeout: Duration::from_secs(2),
            db_query_timeout: Duration::from_secs(3),
            replica_max_lag_bytes: 16 * 1024 * 1024,
            replica_max_lag: Duration::from_secs(30),
            replica_check_interval: Duration::from_millis(50),
            redis_url: Secret::new(env("REDIS_URL")),
            redis_prefix: format!("test:{db_name}"),
            redis_timeout: Duration::from_millis(250),
            jwt_secret: Secret::new("test-secret-that-is-long-enough-0123456789"),
            session_ttl: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(10),
            body_limit_bytes: 64 * 1024,
            cors_origins: vec!["http://localhost:5173".into()],
            trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
            rate_limit_enabled: false,
            frontend_url: "http://localhost:5173".into(),
            smtp: None,
            auto_verify_email: false,
            log_json: false,
            cache_enabled: true,
            cache_ttls: Default::default(),
            cache_local: Default::default(),
            llm: dearme::platform::settings::LlmSettings {
                provider: dearme::platform::settings::LlmProvider::Dev,
                base_url: format!("http://{llm_addr}/v1"),
                api_key: Secret::new("test"),
                model: "dev-model".into(),
                timeout: Duration::from_secs(5),
                max_concurrency: 8,
                max_attempts: 3,
                backoff: Duration::from_millis(100),
                embedding: dearme::platform::settings::EmbeddingSettings { model: "dev-embedding".into(), dim: 256 },
            },
            // Far above what any test spends, but for the budget tests (which lower them).
            budgets: dearme::platform::settings::BudgetSettings {
                free_tokens: 10_000_000,
                premium_tokens: 10_000_000,
                free_usd: 1_000.0,
                premium_usd: 1_000.0,
                usd_per_million_tokens: 0.6,
            },
            job_wait_timeout: Duration::from_secs(20),
            stream_idle_timeout: Duration::from_secs(5),
            worker: dearme::platform::settings::WorkerSettings {
                concurrency: 4,
                heartbeat: Duration::from_secs(1),
                poll_interval: Duration::from_millis(100),
                shutdown_timeout: Duration::from_secs(5),
                job_timeout: Duration::from_secs(60),
                metrics_addr: "127.0.0.1:0".into(),
                // Never fires during a test (1 January, 03:00).
                weekly_report_cron: "0 0 3 1 1 *".into(),
                monthly_report_cron: "0 0 3 1 1 *".into(),
                // Off: a background read would add to the access logs tests count.
                embedding_backfill_every: Duration::ZERO,
            },
        };
        for tweak in self.tweak {
            tweak(&mut settings);
        }
        let app = Application::build(settings.clone()).await.expect("app builds");
        let worker_stop = if self.worker {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(dearme::jobs::worker::run_until(settings.clone(), async move {
                let _ = stopped.await;
            }));
            Some(stop)
        } else {
            None
        };
        let addr = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            db_name,
            settings,
            state,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            _lock: admin_conn,
            shutdown: Some(tx),
            worker_stop,
            llm: format!("http://{llm_addr}"),
        }
    }
}

async fn wait_for_database_on_replica(db_name: &str) {
    let replica = admin(true).await;
    for _ in 0..400 {
        if replica.query_opt("select 1 from pg_database where datname = $1", &[&db_name]).await.unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("database {db_name} did not reach the replica");
}

/// Asserts the status and returns the JSON body.
pub async fn json_of(res: Response, status: StatusCode) -> Value {
    let actual = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(actual, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts a business error: status and the exact `detail` string.
pub async fn assert_detail(res: Response, status: StatusCode, detail: &str) {
    let body = json_of(res, status).await;
    assert_eq!(body["detail"], detail, "body: {body}");
}

/// The current value of one series of the process's metrics (0 when absent). Each test runs in
/// its own process under nextest, so deltas are this test's alone.
pub fn metric(series: &str) -> f64 {
    let text = dearme::platform::metrics::exposition();
    let prefix = format!("{series} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits, if need be, until at least 10 s are left in the current wall-clock minute: the rate
/// limits count in fixed one-minute windows, and a test that spends a budget must not have its
/// window turn over halfway.
pub async fn within_one_rate_window() {
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if second >= 50 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}
