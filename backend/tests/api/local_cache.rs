//! The first cache level, in each API process (`platform::cache::Local`): a hit is served from
//! memory, a write on any instance evicts every instance's copy, the writer's own next read is
//! exact at once (the stamps), and without the invalidation channel the level is not used. A hit
//! answers the very bytes the miss computed.

use std::time::{Duration, Instant};

use dearme::platform::cache::{Cache, CacheKey, FENCE_LEASE, answer_after_invalidations};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, json_of},
    replication::{PrivateRedis, free_port},
};

async fn page(app: &TestApp, token: &str) -> Value {
    json_of(app.get("/api/v1/diaries", Some(token)).await, StatusCode::OK).await
}

/// Overwrites `user_id`'s cached first diary page in Redis only, telling no instance.
async fn plant_quietly(app: &TestApp, token: &str, user_id: i64, total: i64) {
    let key = format!("{}:c:diary_page:{user_id}", app.settings.redis_prefix);
    // A fill (or this read) is skipped when a Redis command times out (the page is then served
    // from Postgres); under the whole suite's load that happened once, so read until it is there.
    let mut raw = None;
    for _ in 0..50 {
        raw = app.state.redis.get(&key).await.flatten();
        if raw.is_some() {
            break;
        }
        page(app, token).await;
    }
    let raw = raw.expect("the page is cached");
    let mut envelope: Value = serde_json::from_str(&raw).unwrap();
    envelope["v"]["total"] = json!(total);
    app.state.redis.set_ex(&key, &envelope.to_string(), Duration::from_secs(60)).await;
}

/// Waits up to 5 s for `condition`.
async fn eventually(condition: impl Fn() -> bool) -> bool {
    for _ in 0..100 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Two instances sharing one database and Redis namespace, both listening on the invalidation
/// channel, and a user's token and id.
async fn two_instances() -> (TestApp, TestApp, String, i64) {
    let a = TestApp::spawn().await;
    let b = TestApp::sibling(&a).await;
    assert!(eventually(|| a.state.cache.local_in_use() && b.state.cache.local_in_use()).await, "both listen");
    let token = a.user("minji").await;
    let id = a.user_id(&token).await;
    (a, b, token, id)
}

#[tokio::test]
async fn a_hit_is_served_from_memory_and_a_write_on_another_instance_evicts_it() {
    let (a, b, token, id) = two_instances().await;
    a.diary(&token, 1, Some("happy")).await;
    assert_eq!(page(&a, &token).await["total"], 1);
    let key = CacheKey::new(Cache::DiaryPage, id);
    assert!(a.state.cache.holds_locally(&key));
    plant_quietly(&a, &token, id, 999).await;
    assert_eq!(page(&a, &token).await["total"], 1, "A serves its own copy without asking Redis");
    assert_eq!(page(&b, &token).await["total"], 999, "B has no copy yet: it reads Redis");

    b.diary(&token, 0, Some("sad")).await;
    assert_eq!(page(&a, &token).await["total"], 2, "the writer's next read on A is exact at once");
    assert!(!b.state.cache.holds_locally(&key), "B evicted its own copy when it wrote");
    assert_eq!(page(&b, &token).await["total"], 2);
    assert!(eventually(|| b.state.cache.holds_locally(&key)).await, "B keeps the new page");
    a.diary(&token, 2, None).await;
    assert!(eventually(|| !b.state.cache.holds_locally(&key)).await, "A's write reached B's first level");
}

#[tokio::test]
async fn without_the_invalidation_channel_the_first_level_is_emptied_and_bypassed() {
    let redis = PrivateRedis::start(free_port());
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let a =
        TestApp::builder().settings(move |s| s.redis_url = dearme::platform::settings::Secret::new(url)).spawn().await;
    assert!(eventually(|| a.state.cache.local_in_use()).await);
    let token = a.user("minji").await;
    let id = a.user_id(&token).await;
    a.diary(&token, 1, Some("happy")).await;
    page(&a, &token).await;
    plant_quietly(&a, &token, id, 999).await;
    assert_eq!(page(&a, &token).await["total"], 1, "from the first level");

    // The channel's connection dies (Redis itself stays up): nothing is served from memory.
    let admin = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port)).unwrap();
    let mut conn = admin.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut conn).await.unwrap();
    assert_eq!(killed, 1, "this instance's one pub/sub connection");
    assert!(eventually(|| !a.state.cache.local_in_use()).await, "the loss is noticed");
    assert!(!a.state.cache.holds_locally(&CacheKey::new(Cache::DiaryPage, id)), "and the level emptied");
    assert_eq!(page(&a, &token).await["total"], 999, "Redis answers instead");

    // Back: the level fills again from the next read.
    assert!(eventually(|| a.state.cache.local_in_use()).await, "re-subscribed");
    assert_eq!(page(&a, &token).await["total"], 999);
    assert!(eventually(|| a.state.cache.holds_locally(&CacheKey::new(Cache::DiaryPage, id))).await);
}

#[tokio::test]
async fn a_hit_answers_the_bytes_the_miss_computed_as_json() {
    let app = TestApp::spawn().await;
    assert!(eventually(|| app.state.cache.local_in_use()).await, "the first level is in use");
    let token = app.user("minji").await;
    let id = app.user_id(&token).await;
    app.diary(&token, 1, Some("happy")).await;
    for path in ["/api/v1/diaries", "/api/v1/diaries/stats", "/api/v1/friends", "/api/v1/friends/with-persona"] {
        let miss = app.get(path, Some(&token)).await;
        assert_eq!(miss.status(), StatusCode::OK, "{path}");
        assert_eq!(miss.headers()[reqwest::header::CONTENT_TYPE], "application/json", "{path}");
        let computed = miss.bytes().await.unwrap();
        let hit = app.get(path, Some(&token)).await;
        assert_eq!(hit.headers()[reqwest::header::CONTENT_TYPE], "application/json", "{path}");
        assert_eq!(hit.bytes().await.unwrap(), computed, "{path}: the same bytes from the cache");
    }
    assert!(app.state.cache.holds_locally(&CacheKey::new(Cache::DiaryPage, id)), "the page hit came from this process");
    // No persona yet: the absence is cached too, and each answer is the contract's 404.
    for _ in 0..2 {
        let res = app.get("/api/v1/personas/me", Some(&token)).await;
        let detail = "Persona not found. Write at least 7 diaries to generate your persona.";
        crate::helpers::assert_detail(res, StatusCode::NOT_FOUND, detail).await;
    }
    assert!(app.state.cache.holds_locally(&CacheKey::new(Cache::Persona, id)));
}

/// Overwrites `user_id`'s cached row in Redis only, telling no instance.
async fn plant_user_quietly(app: &TestApp, user_id: i64, username: &str) {
    let key = format!("{}:user:{user_id}", app.settings.redis_prefix);
    let raw = app.state.redis.get(&key).await.flatten().expect("the session's read cached the user");
    let mut user: Value = serde_json::from_str(&raw).unwrap();
    user["username"] = json!(username);
    app.state.redis.set_ex(&key, &user.to_string(), Duration::from_secs(60)).await;
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/api/v1/users/me", Some(token)).await
}

#[tokio::test]
async fn a_session_is_checked_in_memory_and_what_another_instance_changed_is_seen_at_once() {
    let (a, b, token, id) = two_instances().await;
    for _ in 0..2 {
        assert_eq!(json_of(me(&a, &token).await, StatusCode::OK).await["username"], "minji");
    }
    plant_user_quietly(&a, id, "planted").await;
    assert_eq!(json_of(me(&a, &token).await, StatusCode::OK).await["username"], "minji", "A checks it in memory");
    assert_eq!(json_of(me(&b, &token).await, StatusCode::OK).await["username"], "planted", "B reads Redis");

    // A change of the row on B: A's very next request sees it (the fence), not its own copy.
    let renamed = b.patch("/api/v1/users/me", Some(&token), json!({ "username": "minji2" })).await;
    assert_eq!(json_of(renamed, StatusCode::OK).await["username"], "minji2");
    assert_eq!(json_of(me(&a, &token).await, StatusCode::OK).await["username"], "minji2");
    // So is a diary written on B, through the last-write position A now holds in memory.
    b.diary(&token, 0, Some("sad")).await;
    assert_eq!(page(&a, &token).await["total"], 1, "A's next read has B's write");

    // A logout on B: A refuses the session on the next request.
    let out = b.post("/api/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(me(&a, &token).await.status(), StatusCode::UNAUTHORIZED, "A heard the logout before answering");
    assert_eq!(me(&b, &token).await.status(), StatusCode::UNAUTHORIZED);
}

/// A request within a fence lease is served without waiting for a fence; that is exact only
/// because every write answers a whole lease after publishing its invalidation.
#[tokio::test]
async fn a_write_answers_a_whole_fence_lease_after_its_invalidation() {
    let app = TestApp::spawn().await;
    let token = app.user("jisoo").await;
    for _ in 0..3 {
        let started = Instant::now();
        let renamed = app.patch("/api/v1/users/me", Some(&token), json!({ "username": "jisoo2" })).await;
        assert_eq!(renamed.status(), StatusCode::OK);
        assert!(started.elapsed() >= FENCE_LEASE, "answered {:?} after it was sent", started.elapsed());
    }
}

/// The hold is counted from the invalidation: inside a request's scope the announcement returns
/// and the answer waits a lease past it; outside one (a job) the announcement itself waits.
#[tokio::test]
async fn an_invalidation_holds_its_answer_a_whole_fence_lease() {
    let app = TestApp::spawn().await;
    let (cache, key) = (&app.state.cache, [app.state.redis.key(format_args!("probe"))]);
    let published = answer_after_invalidations(async {
        cache.announce(&key).await;
        Instant::now()
    })
    .await;
    assert!(published.elapsed() >= FENCE_LEASE, "answered {:?} after the publish", published.elapsed());
    let started = Instant::now();
    cache.announce(&key).await;
    assert!(started.elapsed() >= FENCE_LEASE, "outside a request the announcement waits");
}
