//! Jobs that finish: a job that can no longer finish on its own is failed, with a reason its
//! user sees, instead of staying `running` or `pending` forever.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, json_of};

#[tokio::test]
async fn the_reaper_fails_jobs_stuck_running_or_pending_and_the_user_sees_why() {
    let app = TestApp::builder().worker().settings(|s| s.worker.job_timeout = Duration::from_secs(4)).spawn().await;
    let token = app.user("minji").await;
    let me = app.user_id(&token).await;
    let db = app.sql().await;
    // Kinds differ: one persona job per user may be in flight.
    let insert = "insert into ai_jobs (id, user_id, kind, status, created_at, updated_at) \
                  values ($1, $2, $3, $4, now() - $5::text::interval, now() - $5::text::interval)";
    db.execute(insert, &[&"stuck-running", &me, &"persona", &"running", &"1 hour"]).await.unwrap();
    db.execute(insert, &[&"stuck-pending", &me, &"report", &"pending", &"2 days"]).await.unwrap();
    db.execute(insert, &[&"just-running", &me, &"analysis", &"running", &"1 second"]).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses = Vec::new();
        for id in ["stuck-running", "stuck-pending", "just-running"] {
            let job = json_of(app.get(&format!("/api/v1/jobs/{id}"), Some(&token)).await, StatusCode::OK).await;
            statuses.push((job["status"].as_str().unwrap().to_owned(), job["error"].as_str().map(str::to_owned)));
        }
        if statuses[0].0 == "failed" && statuses[1].0 == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statuses[0].0, "failed", "{statuses:?}");
    assert!(statuses[0].1.as_deref().unwrap().contains("stopped making progress"), "{statuses:?}");
    assert_eq!(statuses[1].0, "failed", "{statuses:?}");
    assert!(statuses[1].1.as_deref().unwrap().contains("no worker took the job"), "{statuses:?}");
    assert_eq!(statuses[2].0, "running", "a job within its time limit is left alone");
}
