//! The worker's gauges tell the truth: daily actives are users who used the API today (not
//! logins), and the queue's depth, age and dead jobs are per job kind.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestApp, json_of, metric};

/// Polls `series` until it equals `want` (the worker refreshes its gauges every 5 s).
async fn gauge_becomes(series: &str, want: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let value = metric(series);
        if want(value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn daily_actives_are_distinct_users_with_an_authenticated_request() {
    let app = TestApp::builder().worker().spawn().await;
    // Both log in; only one of them then uses the API, three times.
    let active = app.user("minji").await;
    let _idle = app.user("jisoo").await;
    for _ in 0..3 {
        json_of(app.get("/api/v1/users/me", Some(&active)).await, StatusCode::OK).await;
    }
    let value = gauge_becomes("users_active_today", |v| v > 0.0).await;
    assert_eq!(value, 1.0, "one user used the API today; two logged in");
    // Holds after a few more gauge rounds too (nothing counts a login or a repeat).
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(metric("users_active_today"), 1.0);
}

#[tokio::test]
async fn queue_gauges_carry_the_job_kind_the_oldest_age_and_the_dead() {
    let app = TestApp::builder().worker().spawn().await;
    let sql = app.sql().await;
    // Rows the worker will not take: queued by another worker long ago, failed for good,
    // killed, waiting for a retry an hour from now, and done.
    let rows = [
        ("q1", "chat_reply", "Queued", 0, "now() - interval '90 seconds'"),
        ("q2", "chat_reply", "Failed", 1, "now() + interval '1 hour'"),
        ("d1", "weekly_summary", "Failed", 25, "now() - interval '1 hour'"),
        ("d2", "persona", "Killed", 1, "now() - interval '1 hour'"),
        ("x1", "analyze_diary", "Done", 1, "now() - interval '1 hour'"),
    ];
    for (id, variant, status, attempts, run_at) in rows {
        let job = format!(r#"{{"type":"{variant}","job_id":"{id}","user_id":1}}"#);
        sql.execute(
            &format!(
                "insert into apalis.jobs (job, id, job_type, status, attempts, max_attempts, run_at) \
                 values ($1, $2, 'dearme.ai.background', $3, $4, 25, {run_at})"
            ),
            &[&job.as_bytes(), &format!("gauge-{id}"), &status, &attempts],
        )
        .await
        .unwrap();
    }
    let waiting = gauge_becomes(r#"jobs_queue_depth{job="chat_reply"}"#, |v| v == 2.0).await;
    assert_eq!(waiting, 2.0, "the queued task and the one waiting for its retry");
    let oldest = metric(r#"jobs_queue_oldest_seconds{job="chat_reply"}"#);
    assert!((90.0..120.0).contains(&oldest), "the queued task is the oldest due: {oldest}");
    assert_eq!(metric(r#"jobs_dead{job="weekly_summary"}"#), 1.0);
    assert_eq!(metric(r#"jobs_dead{job="mental_report"}"#), 0.0);
    assert_eq!(metric(r#"jobs_dead{job="persona"}"#), 1.0, "a killed task never runs again");
    assert_eq!(metric(r#"jobs_queue_depth{job="diary_analysis"}"#), 0.0, "done tasks are not counted");
    assert_eq!(metric(r#"jobs_queue_depth{job="persona"}"#), 0.0, "dead is not waiting");
}
