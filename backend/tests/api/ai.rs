//! The worker's guarantees: transactional enqueue, exactly-once scheduling, recovery after a
//! worker is killed mid-job, and the AI-backed diary features (analysis, report, quiz).

use std::{process::Command, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail, json_of};

async fn queue_len(app: &TestApp) -> i64 {
    app.sql().await.query_one("select count(*) from apalis.jobs", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_diary_and_its_jobs_commit_together_and_a_failed_insert_enqueues_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    app.diary(&token, 0, Some("happy")).await;
    let kinds: Vec<String> = app
        .sql()
        .await
        .query("select kind from ai_jobs order by kind", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["diary_analysis", "prompt_suggestions", "weekly_summary"]);
    let before = queue_len(&app).await;
    let date = chrono::Utc::now().date_naive().to_string();
    let dup =
        app.post("/api/v1/diaries", Some(&token), json!({ "title": "t", "content": "c", "diary_date": date })).await;
    assert_detail(dup, StatusCode::BAD_REQUEST, "Diary already exists for this date").await;
    assert_eq!(queue_len(&app).await, before, "the rolled-back insert enqueued nothing");
}

#[tokio::test]
async fn the_schedule_fans_out_once_however_many_workers_tick() {
    let app = TestApp::spawn().await;
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 16).unwrap();
    for _ in 0..3 {
        dearme::jobs::report::schedule(&app.state.db, dearme::jobs::report::Kind::Weekly, monday).await.unwrap();
    }
    let n: i64 = app
        .sql()
        .await
        .query_one("select count(*) from apalis.jobs where idempotency_key like 'schedule:%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn analyses_come_from_the_worker_and_the_report_is_built_on_demand_per_period() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    assert_detail(
        app.get("/api/v1/mental/reports/weekly", Some(&token)).await,
        StatusCode::NOT_FOUND,
        "Not enough data for weekly report. Write more diaries.",
    )
    .await;
    let diary = app.diary(&token, 0, Some("happy")).await;
    app.wait_for_jobs().await;
    let current = json_of(app.get("/api/v1/mental/current", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(current["diary_id"], diary["id"]);
    assert_eq!(
        current["feedback"]["message"], "오늘의 기록에서 당신의 마음을 느낄 수 있었어요.",
        "the LLM's feedback, stored by the job"
    );
    let report = json_of(app.get("/api/v1/mental/reports/weekly", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(report["report_type"], "weekly");
    assert_eq!(report["insights"].as_array().unwrap().len(), 3);
    assert_eq!(report["daily_scores"], Value::Null);
    assert_eq!(report["avg_positivity_score"], current["positivity_score"], "one analysis: its own scores");
    let again = json_of(app.get("/api/v1/mental/reports/weekly", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(again["created_at"], report["created_at"], "served from storage while it covers every analysis");
    let monthly = json_of(app.get("/api/v1/mental/reports/monthly", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(monthly["month"].as_u64(), Some(u64::from(chrono::Datelike::month(&chrono::Utc::now().date_naive()))));
    // An edited diary is analysed again, and the report follows.
    json_of(
        app.patch(
            &format!("/api/v1/diaries/{}", diary["id"]),
            Some(&token),
            json!({ "content": "슬프고 지친 하루", "mood": "sad" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    app.wait_for_jobs().await;
    let rebuilt = json_of(app.get("/api/v1/mental/reports/weekly", Some(&token)).await, StatusCode::OK).await;
    assert_ne!(rebuilt["created_at"], report["created_at"], "a newer analysis rebuilds the report");
    let insight = json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await;
    assert!(
        insight["ai_summary"].as_str().is_some_and(|s| !s.is_empty()),
        "the weekly summary job filled ai_summary: {insight}"
    );
    let prompts = json_of(app.get("/api/v1/diaries/prompt-suggestions", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(prompts["prompts"][0]["title"], "오늘의 작은 성취", "LLM-written prompts replace the fallback");
}

#[tokio::test]
async fn the_quiz_makes_a_temporary_persona_that_levels_up_with_diaries() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    let level = json_of(app.get("/api/v1/quiz/persona-level", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((level["current_level"].clone(), level["next_level"].as_str()), (Value::Null, Some("temporary")));
    let questions = json_of(app.get("/api/v1/quiz/questions", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(questions["total_questions"], 5);
    assert!(questions["questions"].as_array().unwrap().iter().all(|q| q["options"].as_array().unwrap().len() == 4));
    let answers = |ids: [i64; 5]| json!({ "answers": ids.iter().map(|q| json!({ "question_id": q, "option_id": "b" })).collect::<Vec<_>>() });
    assert_detail(
        app.post("/api/v1/quiz/submit", Some(&token), answers([1, 2, 2, 4, 5])).await,
        StatusCode::BAD_REQUEST,
        "Duplicate answer for question 2",
    )
    .await;
    let short = json!({ "answers": [{ "question_id": 1, "option_id": "a" }] });
    assert_eq!(app.post("/api/v1/quiz/submit", Some(&token), short).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_option =
        json!({ "answers": (1..=5).map(|q| json!({ "question_id": q, "option_id": "e" })).collect::<Vec<_>>() });
    assert_eq!(
        app.post("/api/v1/quiz/submit", Some(&token), bad_option).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let submitted =
        json_of(app.post("/api/v1/quiz/submit", Some(&token), answers([1, 2, 3, 4, 5])).await, StatusCode::OK).await;
    assert_eq!((submitted["success"].as_bool(), submitted["persona_level"].as_str()), (Some(true), Some("temporary")));
    assert_detail(
        app.post("/api/v1/quiz/submit", Some(&token), answers([1, 2, 3, 4, 5])).await,
        StatusCode::BAD_REQUEST,
        "You already have a persona. Use regenerate endpoint to update.",
    )
    .await;
    assert_detail(
        app.post("/api/v1/quiz/upgrade-persona", Some(&token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "Write 3 more diaries to upgrade.",
    )
    .await;
    for days_ago in 0..3 {
        app.diary(&token, days_ago, None).await;
    }
    let notices: i64 = app
        .sql()
        .await
        .query_one("select count(*) from notifications where type = 'persona_upgrade_available'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notices, 1, "the third diary announced the upgrade");
    let level = json_of(app.get("/api/v1/quiz/persona-level", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        (level["current_level"].as_str(), level["diaries_needed"].as_i64(), level["progress_percent"].as_i64()),
        (Some("temporary"), Some(0), Some(100))
    );
    let upgraded =
        json_of(app.post("/api/v1/quiz/upgrade-persona", Some(&token), json!({})).await, StatusCode::OK).await;
    assert_eq!(upgraded["new_level"], "basic");
    let persona = json_of(app.get("/api/v1/personas/me", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((persona["id"].clone(), persona["level"].as_str()), (submitted["persona_id"].clone(), Some("basic")));
    let kinds: i64 = app
        .sql()
        .await
        .query_one("select count(*) from notifications where type = 'persona_upgraded'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kinds, 1);
    let level = json_of(app.get("/api/v1/quiz/persona-level", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        (level["next_level"].as_str(), level["diaries_needed"].as_i64(), level["progress_percent"].as_i64()),
        (Some("complete"), Some(4), Some(0))
    );
}

/// `POST /personas/generate` with `Prefer: respond-async`: asserts the 202 and returns the job's id.
pub async fn generate_async(app: &TestApp, token: &str) -> String {
    let res = app
        .http
        .post(app.url("/api/v1/personas/generate"))
        .bearer_auth(token)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    res.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned()
}

/// Whether a worker takes the job (its `ai_jobs` row turns `running`) within 5 seconds.
async fn is_running_soon(db: &tokio_postgres::Client, job_id: &str) -> bool {
    for _ in 0..200 {
        let row = db.query_one("select status from ai_jobs where id = $1", &[&job_id]).await.unwrap();
        if row.get::<_, &str>(0) == "running" {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// A worker in its own process, so it can be killed for real. `WORKER_RUST_LOG=info` (say) in
/// the test's environment shows its logs.
pub struct WorkerProcess(std::process::Child);

impl WorkerProcess {
    /// A worker whose heartbeat lapses after 3 s (the kill tests wait for that).
    pub fn start(app: &TestApp) -> Self {
        Self::with_heartbeat(app, Duration::from_secs(1))
    }

    /// A worker presumed dead only after three missed `heartbeat`s (with a long one, a worker
    /// starved of CPU on a loaded machine keeps its jobs).
    pub fn with_heartbeat(app: &TestApp, heartbeat: Duration) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_dearme"))
            .arg("worker")
            .envs(app.binary_env())
            .env("LLM_TIMEOUT_MS", "20000")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("WORKER_HEARTBEAT_MS", heartbeat.as_millis().to_string())
            .env("RUST_LOG", std::env::var("WORKER_RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(if std::env::var("WORKER_RUST_LOG").is_ok() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .expect("the dearme binary");
        Self(child)
    }

    /// SIGTERM, as compose and systemd stop a service; then waits up to `within` for the exit
    /// (without blocking the test's runtime, which serves the dev LLM the worker is calling).
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn kill(&mut self) {
        // SIGKILL: no drain, no cleanup.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn a_job_whose_worker_is_killed_mid_call_completes_once_on_another_worker() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    crate::personas::seven_diaries(&app, &token).await;
    let config = |ms: u64| json!({ "latency_ms": ms, "token_latency_ms": 0 });
    app.http.post(format!("{}/_control/config", app.llm)).json(&config(3_000)).send().await.unwrap();
    let job_id = generate_async(&app, &token).await;
    let db = app.sql().await;

    let mut first = WorkerProcess::start(&app);
    assert!(is_running_soon(&db, &job_id).await, "the first worker took the job");
    first.kill();

    app.http.post(format!("{}/_control/config", app.llm)).json(&config(0)).send().await.unwrap();
    let _second = WorkerProcess::start(&app);
    let mut done = None;
    for _ in 0..300 {
        let row = db.query_one("select status, attempts from ai_jobs where id = $1", &[&job_id]).await.unwrap();
        if row.get::<_, &str>(0) == "done" {
            done = Some(row.get::<_, i32>(1));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done, Some(2), "picked up again after the first worker's heartbeat lapsed, and finished");
    let personas: i64 = db.query_one("select count(*) from personas", &[]).await.unwrap().get(0);
    assert_eq!(personas, 1, "exactly one persona");
    let notices: i64 =
        db.query_one("select count(*) from notifications where type = 'persona_updated'", &[]).await.unwrap().get(0);
    assert_eq!(notices, 1, "and one 'ready' notification");
}

#[tokio::test]
async fn llm_calls_of_a_worker_never_exceed_its_concurrency_limit() {
    let app = TestApp::builder().worker().settings(|s| s.llm.max_concurrency = 2).spawn().await;
    let config = json!({ "latency_ms": 300, "token_latency_ms": 0 });
    app.http.post(format!("{}/_control/config", app.llm)).json(&config).send().await.unwrap();
    let token = app.user("minji").await;
    // Four diaries: four analyses, four weekly summaries and one day's prompt suggestions (once a
    // day), each one LLM call, for a worker that runs four jobs at once.
    for days_ago in 0..4 {
        app.diary(&token, days_ago, Some("calm")).await;
    }
    app.wait_for_jobs().await;
    let stats: Value = app.http.get(format!("{}/_control/stats", app.llm)).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["requests"], 9);
    // All background work: it may hold only half of the limit, leaving the rest to chat replies
    // and personas (`caps` shows one going through during such a flood).
    assert_eq!(stats["max_in_flight"], 1, "background calls held at most half the limit: {stats}");
}

/// Notifications on apalis's insert channel, on a connection of its own to this test's database
/// (it listens for as long as the returned client lives).
async fn listen_for_jobs(app: &TestApp) -> (tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let url = crate::helpers::with_db(&crate::helpers::env("DATABASE_DIRECT_URL"), &app.db_name);
    let (client, mut conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = futures_util::future::poll_fn(|cx| conn.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_owned());
            }
        }
    });
    client.batch_execute(r#"listen "apalis::job::insert""#).await.unwrap();
    (client, rx)
}

#[tokio::test]
async fn a_diary_write_wakes_no_worker_but_a_persona_request_does() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let (_listener, mut notified) = listen_for_jobs(&app).await;
    crate::personas::seven_diaries(&app, &token).await;
    let queued: i64 = app.sql().await.query_one("select count(*) from apalis.jobs", &[]).await.unwrap().get(0);
    assert!(queued >= 7, "the diaries' jobs are queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(notified.try_recv().ok(), None, "background jobs are found by polling, without a NOTIFY");

    let job_id = generate_async(&app, &token).await;
    let payload = tokio::time::timeout(Duration::from_secs(5), notified.recv()).await.unwrap().unwrap();
    let event: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(event["id"], job_id.as_str(), "a job someone waits on wakes a worker at once");
    assert_eq!(event["job_type"], dearme::jobs::INTERACTIVE_QUEUE);
}

#[tokio::test]
async fn a_worker_stopped_with_sigterm_finishes_its_running_job_then_exits() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    crate::personas::seven_diaries(&app, &token).await;
    let db = app.sql().await;
    // Only the persona job in the queue, and an LLM slow enough to be stopped mid-call.
    db.batch_execute("delete from apalis.jobs; delete from ai_jobs").await.unwrap();
    let config = json!({ "latency_ms": 2_000, "token_latency_ms": 0 });
    app.http.post(format!("{}/_control/config", app.llm)).json(&config).send().await.unwrap();
    let job_id = generate_async(&app, &token).await;

    let mut worker = WorkerProcess::start(&app);
    assert!(is_running_soon(&db, &job_id).await, "the worker took the job");
    let exit = worker.terminate(Duration::from_secs(20)).await;
    assert!(exit.is_some_and(|s| s.success()), "the worker exits cleanly once drained: {exit:?}");
    let row = db.query_one("select status, attempts from ai_jobs where id = $1", &[&job_id]).await.unwrap();
    assert_eq!(
        (row.get::<_, &str>(0), row.get::<_, i32>(1)),
        ("done", 1),
        "the running job was finished by the stopping worker, not abandoned for another"
    );
    let personas: i64 = db.query_one("select count(*) from personas", &[]).await.unwrap().get(0);
    assert_eq!(personas, 1);
}

#[tokio::test]
async fn the_job_table_keeps_one_index_per_purpose_across_migrations() {
    let app = TestApp::spawn().await;
    let indexes = || async {
        let sql =
            "select indexname::text from pg_indexes where schemaname = 'apalis' and tablename = 'jobs' order by 1";
        app.sql().await.query(sql, &[]).await.unwrap().iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>()
    };
    let expected =
        ["idx_apalis_jobs_fetch_partial", "idx_apalis_jobs_lock_by", "idx_jobs_idempotency_key", "jobs_pkey"];
    assert_eq!(indexes().await, expected, "apalis's duplicates (lidx, unique_job_id) are dropped");
    // Migrating again (every deploy does) changes nothing.
    let direct = crate::helpers::with_db(&crate::helpers::env("DATABASE_DIRECT_URL"), &app.db_name);
    dearme::platform::db::migrate::run(&direct).await.unwrap();
    assert_eq!(indexes().await, expected);
}
