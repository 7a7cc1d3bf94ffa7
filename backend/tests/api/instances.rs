//! Several instances at once, as behind nginx or a Kubernetes service: two API instances (each its
//! own server, pools and caches; one database and Redis namespace) and two worker processes.
//! Whatever a user does on one instance holds on the other: rate limits, cached reads, a chat
//! reply's stream; and the workers share the queue without running a job twice.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    ai::WorkerProcess,
    helpers::{TestApp, json_of, within_one_rate_window},
};

#[tokio::test]
async fn jobs_spread_over_two_workers_and_none_runs_twice() {
    let app = TestApp::spawn().await;
    // Slow enough that one worker cannot drain the queue before the other polls.
    let config = json!({ "latency_ms": 150, "token_latency_ms": 0 });
    app.http.post(format!("{}/_control/config", app.llm)).json(&config).send().await.unwrap();
    // A diary may be at most 3 days old: 4 per user.
    for name in ["minji", "jisoo", "hana", "yuna", "sora"] {
        let token = app.user(name).await;
        for days_ago in 0..4 {
            app.diary(&token, days_ago, Some("calm")).await;
        }
    }
    // A worker is presumed dead after three missed heartbeats and its jobs handed to the other.
    // Once in the whole suite on 2 cores, with 1 s heartbeats, a job here counted two attempts;
    // a starved heartbeat is the likely cause (not proven: the message below names apalis's
    // retries if it happens again). That recovery is tested in `ai`; here it would blur the count.
    let heartbeat = Duration::from_secs(10);
    let _workers = [WorkerProcess::with_heartbeat(&app, heartbeat), WorkerProcess::with_heartbeat(&app, heartbeat)];
    app.wait_for_jobs().await;

    let db = app.sql().await;
    // apalis acknowledges a job just after its handler has marked the user's job done.
    for _ in 0..100 {
        let open: i64 =
            db.query_one("select count(*) from apalis.jobs where status <> 'Done'", &[]).await.unwrap().get(0);
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let jobs = db.query("select status, attempts from ai_jobs", &[]).await.unwrap();
    assert!(jobs.len() >= 40, "20 analyses, 20 weekly summaries and the prompt suggestions: {}", jobs.len());
    for job in &jobs {
        let (status, attempts): (&str, i32) = (job.get(0), job.get(1));
        if (status, attempts) != ("done", 1) {
            let sql = "select string_agg(format('%s: %s attempts by %s, last %s', id, attempts, lock_by, last_result), '; ') \
                       from apalis.jobs where attempts > 1";
            let retried: Option<String> = db.query_one(sql, &[]).await.unwrap().get(0);
            panic!("every job ran once, and only once: ({status}, {attempts}); apalis retries: {retried:?}");
        }
    }
    let by_worker = db
        .query("select lock_by, count(*) from apalis.jobs where status = 'Done' group by lock_by", &[])
        .await
        .unwrap();
    let counts: Vec<i64> = by_worker.iter().map(|r| r.get(1)).collect();
    assert_eq!(counts.len(), 2, "both workers ran jobs: {counts:?}");
    assert_eq!(counts.iter().sum::<i64>(), jobs.len() as i64, "each job done by exactly one worker");
    let analyses: i64 = db.query_one("select count(*) from mental_analyses", &[]).await.unwrap().get(0);
    assert_eq!(analyses, 20, "one analysis per diary");
}

#[tokio::test]
async fn a_rate_limit_counts_the_requests_made_to_every_instance() {
    let a = TestApp::builder().settings(|s| s.rate_limit_enabled = true).spawn().await;
    let b = TestApp::sibling(&a).await;
    let login = json!({ "email": "ghost@example.com", "password": "password123" });
    let attempt = |app: &TestApp| {
        app.http.post(app.url("/api/v1/auth/login/json")).header("x-real-ip", "203.0.113.7").json(&login).send()
    };
    // The login budget is 5 per client address: spent across both instances, it is spent.
    within_one_rate_window().await;
    for app in [&a, &b, &a, &b, &a] {
        assert_eq!(attempt(app).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(&b).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "B saw A's attempts");
    assert_eq!(attempt(&a).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_write_on_one_instance_is_read_at_once_on_the_other_whatever_it_cached() {
    let a = TestApp::spawn().await;
    let b = TestApp::sibling(&a).await;
    let token = a.user("minji").await;
    a.diary(&token, 1, Some("happy")).await;
    let stats =
        async |app: &TestApp| json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    let me = async |app: &TestApp| json_of(app.get("/api/v1/users/me", Some(&token)).await, StatusCode::OK).await;
    // Both instances have read (and cached) the stats and the user.
    for app in [&a, &b, &a, &b] {
        assert_eq!(stats(app).await["total_count"], 1);
        assert_eq!(me(app).await["username"], "minji");
    }
    a.diary(&token, 0, Some("sad")).await;
    assert_eq!(stats(&b).await["total_count"], 2, "B's cached stats were invalidated by A's write");
    let renamed = json!({ "username": "minji2" });
    json_of(b.patch("/api/v1/users/me", Some(&token), renamed).await, StatusCode::OK).await;
    assert_eq!(me(&a).await["username"], "minji2", "A's cached user was invalidated by B's write");
    // A session revoked on one instance is refused on the other.
    assert_eq!(b.post("/api/v1/auth/logout", Some(&token), json!({})).await.status(), StatusCode::OK);
    assert_eq!(a.get("/api/v1/users/me", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reply_cut_off_on_one_instance_is_picked_up_whole_on_the_other() {
    let a = TestApp::builder().worker().spawn().await;
    let b = TestApp::sibling(&a).await;
    // Slow tokens: the reply is still streaming when the client is cut off.
    let config = json!({ "latency_ms": 0, "token_latency_ms": 60 });
    a.http.post(format!("{}/_control/config", a.llm)).json(&config).send().await.unwrap();
    let token = a.user("minji").await;
    let chat_id = a.own_chat(&token).await;
    let mut res =
        a.post(&format!("/api/v1/chats/{chat_id}/messages/stream"), Some(&token), json!({ "content": "안녕" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut seen = String::new();
    while !seen.contains(r#""type":"chunk""#) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk()).await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("the stream goes on until a chunk")));
    }
    drop(res);
    let first = events(&seen[..seen.rfind("\n\n").map_or(0, |end| end + 2)]);
    assert_eq!(first[0]["type"], "user_message");
    let message_id = first[0]["message"]["id"].as_i64().unwrap();

    let res = b.get(&format!("/api/v1/chats/{chat_id}/messages/{message_id}/stream"), Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rest = events(&res.text().await.unwrap());
    let done = rest.last().unwrap();
    assert_eq!(done["type"], "done", "{rest:?}");
    let text: String = rest.iter().filter(|e| e["type"] == "chunk").map(|e| e["content"].as_str().unwrap()).collect();
    assert_eq!(done["message"]["content"], text.as_str(), "B replays the reply from its start");
    let before: String =
        first.iter().filter(|e| e["type"] == "chunk").map(|e| e["content"].as_str().unwrap()).collect();
    assert!(text.starts_with(&before) && text.len() > before.len(), "A had sent a part of it: {before:?} / {text:?}");
}

fn events(body: &str) -> Vec<Value> {
    body.split('\n').filter_map(|l| l.strip_prefix("data: ")).map(|l| serde_json::from_str(l).unwrap()).collect()
}
