//! Contract 4.3: diaries, their window and uniqueness rules, aggregates, owner scoping.

use chrono::{Datelike, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_detail, json_of};

fn day(days_ago: i64) -> String {
    (Utc::now().date_naive() - Duration::days(days_ago)).to_string()
}

fn diary_body(days_ago: i64) -> Value {
    json!({ "title": "제목", "content": "내용", "mood": "happy", "weather": "sunny", "diary_date": day(days_ago) })
}

#[tokio::test]
async fn create_returns_201_with_the_diary_shape() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let d = json_of(app.post("/api/v1/diaries", Some(&token), diary_body(0)).await, StatusCode::CREATED).await;
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    // The contract's fields, plus the added `visibility` (the frontend ignores it).
    assert_eq!(
        keys,
        [
            "content",
            "created_at",
            "diary_date",
            "id",
            "mood",
            "title",
            "updated_at",
            "user_id",
            "visibility",
            "weather"
        ]
    );
    assert_eq!(d["visibility"], "self");
    assert_eq!(d["diary_date"], day(0));
}

#[tokio::test]
async fn create_enforces_the_date_window_and_one_diary_per_date() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    assert_detail(
        app.post("/api/v1/diaries", Some(&token), diary_body(-1)).await,
        StatusCode::BAD_REQUEST,
        "Cannot write diary for future dates",
    )
    .await;
    assert_detail(
        app.post("/api/v1/diaries", Some(&token), diary_body(4)).await,
        StatusCode::BAD_REQUEST,
        "Cannot write diary for dates older than 3 days",
    )
    .await;
    json_of(app.post("/api/v1/diaries", Some(&token), diary_body(3)).await, StatusCode::CREATED).await;
    assert_detail(
        app.post("/api/v1/diaries", Some(&token), diary_body(3)).await,
        StatusCode::BAD_REQUEST,
        "Diary already exists for this date",
    )
    .await;
    // Another user may write for the same date.
    let other = app.user("other").await;
    json_of(app.post("/api/v1/diaries", Some(&other), diary_body(3)).await, StatusCode::CREATED).await;
}

#[tokio::test]
async fn create_validates_fields_with_pydantic_shaped_errors() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let res =
        app.post("/api/v1/diaries", Some(&token), json!({ "title": "", "content": "x", "diary_date": day(0) })).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "string_too_short");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "title"]));
    let res = app.post("/api/v1/diaries", Some(&token), json!({ "title": "t", "content": "x" })).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        body["detail"][0],
        json!({ "type": "missing", "loc": ["body", "diary_date"], "msg": "Field required", "input": { "title": "t", "content": "x" } })
    );
    let res = app
        .post("/api/v1/diaries", Some(&token), json!({ "title": "t", "content": "x", "diary_date": "2025-13-45" }))
        .await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "diary_date"]));
    let res =
        app.post("/api/v1/diaries", Some(&token), json!({ "title": 5, "content": "x", "diary_date": day(0) })).await;
    let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["detail"][0]["type"], "string_type");
    assert_eq!(body["detail"][0]["input"], 5);
}

#[tokio::test]
async fn list_pages_newest_first_and_filters_by_mood() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    for (days_ago, mood) in [(0, "happy"), (1, "sad"), (2, "happy"), (3, "calm")] {
        app.diary(&token, days_ago, Some(mood)).await;
    }
    let page = json_of(app.get("/api/v1/diaries?page=1&per_page=3", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((page["total"].as_i64(), page["page"].as_i64(), page["per_page"].as_i64()), (Some(4), Some(1), Some(3)));
    let dates: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|d| d["diary_date"].as_str().unwrap()).collect();
    assert_eq!(dates, [day(0), day(1), day(2)]);
    let page2 = json_of(app.get("/api/v1/diaries?page=2&per_page=3", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    let beyond = json_of(app.get("/api/v1/diaries?page=9&per_page=3", Some(&token)).await, StatusCode::OK).await;
    assert_eq!((beyond["items"].as_array().unwrap().len(), beyond["total"].as_i64()), (0, Some(4)));
    let happy = json_of(app.get("/api/v1/diaries?mood=happy", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(happy["total"], 2);
    let bad =
        json_of(app.get("/api/v1/diaries?per_page=101", Some(&token)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["detail"][0]["loc"], json!(["query", "per_page"]));
    let bad = json_of(app.get("/api/v1/diaries?page=abc", Some(&token)).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(bad["detail"][0]["type"], "int_parsing");
}

#[tokio::test]
async fn get_patch_delete_a_diary_and_count() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let d = app.diary(&token, 0, Some("happy")).await;
    let id = d["id"].as_i64().unwrap();
    let path = format!("/api/v1/diaries/{id}");
    assert_eq!(json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await["id"], id);

    let patched = json_of(app.patch(&path, Some(&token), json!({ "title": "새 제목" })).await, StatusCode::OK).await;
    assert_eq!(
        (patched["title"].as_str(), patched["mood"].as_str()),
        (Some("새 제목"), Some("happy")),
        "absent fields are kept"
    );
    let cleared = json_of(app.patch(&path, Some(&token), json!({ "mood": null })).await, StatusCode::OK).await;
    assert_eq!(cleared["mood"], Value::Null, "explicit null clears the mood");
    assert_eq!(cleared["weather"], "sunny");
    assert_eq!(cleared["diary_date"], d["diary_date"], "the date cannot be changed");
    let bad = app.patch(&path, Some(&token), json!({ "content": "" })).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        json_of(app.get("/api/v1/diaries/count", Some(&token)).await, StatusCode::OK).await,
        json!({ "count": 1 })
    );
    let res = app.delete(&path, Some(&token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.text().await.unwrap().is_empty());
    assert_detail(app.get(&path, Some(&token)).await, StatusCode::NOT_FOUND, "Diary not found").await;
    assert_detail(app.delete(&path, Some(&token)).await, StatusCode::NOT_FOUND, "Diary not found").await;
    assert_eq!(
        json_of(app.get("/api/v1/diaries/count", Some(&token)).await, StatusCode::OK).await,
        json!({ "count": 0 })
    );
}

#[tokio::test]
async fn another_users_diary_cannot_be_read_changed_or_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.user("owner").await;
    let intruder = app.user("intruder").await;
    let d = app.diary(&owner, 0, None).await;
    let path = format!("/api/v1/diaries/{}", d["id"]);
    assert_detail(app.get(&path, Some(&intruder)).await, StatusCode::NOT_FOUND, "Diary not found").await;
    assert_detail(
        app.patch(&path, Some(&intruder), json!({ "title": "hacked" })).await,
        StatusCode::NOT_FOUND,
        "Diary not found",
    )
    .await;
    assert_detail(app.delete(&path, Some(&intruder)).await, StatusCode::NOT_FOUND, "Diary not found").await;
    let listed = json_of(app.get("/api/v1/diaries", Some(&intruder)).await, StatusCode::OK).await;
    assert_eq!(listed["total"], 0);
    let still = json_of(app.get(&path, Some(&owner)).await, StatusCode::OK).await;
    assert_eq!(still["title"], "하루", "nothing the intruder sent changed the diary");
}

#[tokio::test]
async fn stats_compute_streaks_moods_months_and_weekly_average() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let empty = json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        empty,
        json!({ "total_count": 0, "current_streak": 0, "longest_streak": 0, "mood_distribution": {}, "monthly_count": {}, "weekly_average": 0.0 })
    );
    // Arrange history directly (the API only accepts the last 4 days): a 5-day run long ago,
    // then yesterday and the day before.
    let db = app.sql().await;
    db.execute(
        "insert into diaries (user_id, title, content, mood, diary_date) \
         select (select id from users), 't', 'c', case when i % 2 = 0 then 'happy' else null end, current_date - 40 + i \
         from generate_series(0, 4) i",
        &[],
    )
    .await
    .unwrap();
    app.diary(&token, 1, Some("sad")).await;
    app.diary(&token, 2, Some("sad")).await;
    let stats = json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(stats["total_count"], 7);
    assert_eq!(stats["current_streak"], 2, "no diary today, so the streak counts back from yesterday");
    assert_eq!(stats["longest_streak"], 5);
    assert_eq!(stats["mood_distribution"], json!({ "happy": 3, "sad": 2 }));
    let months: i64 = stats["monthly_count"].as_object().unwrap().values().map(|v| v.as_i64().unwrap()).sum();
    assert_eq!(months, 7);
    // span = 40 - 1 + 1 = 40 days; 7 / (40 / 7) = 1.225 -> 1.2
    assert_eq!(stats["weekly_average"], 1.2);
}

#[tokio::test]
async fn calendar_lists_only_the_requested_month() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let d = app.diary(&token, 0, Some("calm")).await;
    let today = Utc::now().date_naive();
    let path = format!("/api/v1/diaries/calendar?year={}&month={}", today.year(), today.month());
    let cal = json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await;
    assert_eq!(cal["items"], json!([{ "diary_date": today.to_string(), "mood": "calm", "diary_id": d["id"] }]));
    let other_month = if today.month() == 1 { 2 } else { 1 };
    let path = format!("/api/v1/diaries/calendar?year={}&month={other_month}", today.year());
    assert_eq!(json_of(app.get(&path, Some(&token)).await, StatusCode::OK).await["items"], json!([]));
    let missing =
        json_of(app.get("/api/v1/diaries/calendar?year=2025", Some(&token)).await, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
    assert_eq!(missing["detail"][0]["loc"], json!(["query", "month"]));
    let out_of_range = json_of(
        app.get("/api/v1/diaries/calendar?year=2019&month=13", Some(&token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(out_of_range["detail"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn weekly_insight_summarises_this_week_against_last() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let none = json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(
        none,
        json!({ "diary_count": 0, "positive_ratio": 0.0, "positive_ratio_change": null, "current_streak": 0,
                "ai_summary": null, "last_diary_date": null, "dominant_mood": null })
    );
    app.diary(&token, 0, Some("happy")).await;
    let today = Utc::now().date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    // One sad diary in the middle of last week, arranged directly.
    app.sql()
        .await
        .execute(
            "insert into diaries (user_id, title, content, mood, diary_date) select id, 't', 'c', 'sad', $1 from users",
            &[&(monday - Duration::days(4))],
        )
        .await
        .unwrap();
    // Arranged outside the API, so not the user's own write: wait for the replica to have it.
    app.wait_for_replica().await;
    let insight = json_of(app.get("/api/v1/diaries/weekly-insight", Some(&token)).await, StatusCode::OK).await;
    assert_eq!(insight["diary_count"], 1);
    assert_eq!(insight["positive_ratio"], 1.0);
    assert_eq!(insight["positive_ratio_change"], 1.0);
    assert_eq!(insight["dominant_mood"], "happy");
    assert_eq!(insight["last_diary_date"], today.to_string());
    assert_eq!(insight["current_streak"], 1);
}

#[tokio::test]
async fn prompt_suggestions_fall_back_to_three_fixed_prompts() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let body = json_of(app.get("/api/v1/diaries/prompt-suggestions", Some(&token)).await, StatusCode::OK).await;
    let prompts = body["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 3);
    assert!(prompts.iter().all(|p| p["title"].is_string() && p["description"].is_string()));
}

#[tokio::test]
async fn milestone_notifications_are_created_once_at_three_five_and_seven_diaries() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    for days_ago in 0..3 {
        app.diary(&token, days_ago, None).await;
    }
    let db = app.sql().await;
    let types = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    assert_eq!(types(db.query("select type from notifications order by id", &[]).await.unwrap()), ["milestone_3"]);
    app.diary(&token, 3, None).await;
    assert_eq!(
        types(db.query("select type from notifications order by id", &[]).await.unwrap()),
        ["milestone_3"],
        "sent once only"
    );
}

#[tokio::test]
async fn the_seventh_diary_sends_what_is_left_and_an_eighth_sends_nothing() {
    let app = TestApp::spawn().await;
    let db = app.sql().await;
    let older = "insert into diaries (user_id, title, content, diary_date) \
                 select $1, '예전', '내용', current_date - 10 - d from generate_series(1, $2::int) d";
    let notices = "select type from notifications where user_id = $1 order by type";
    let types = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();

    // Six diaries written before the notices existed, and a persona below `complete`.
    let seventh = app.user("seventh").await;
    let seventh_id = app.user_id(&seventh).await;
    app.persona(&seventh).await;
    db.execute("update personas set level = 'basic' where user_id = $1", &[&seventh_id]).await.unwrap();
    db.execute(older, &[&seventh_id, &6]).await.unwrap();
    app.diary(&seventh, 0, None).await;
    assert_eq!(
        types(db.query(notices, &[&seventh_id]).await.unwrap()),
        ["milestone_3", "milestone_5", "milestone_7", "persona_upgrade_available"]
    );

    // Past seven, a diary triggers no notice, only its jobs.
    let eighth = app.user("eighth").await;
    let eighth_id = app.user_id(&eighth).await;
    db.execute(older, &[&eighth_id, &7]).await.unwrap();
    let diary = app.diary(&eighth, 0, None).await;
    assert!(types(db.query(notices, &[&eighth_id]).await.unwrap()).is_empty());
    let jobs: i64 =
        db.query_one("select count(*) from ai_jobs where user_id = $1", &[&eighth_id]).await.unwrap().get(0);
    assert_eq!(jobs, 3, "analysis, weekly summary, prompt suggestions for diary {}", diary["id"]);
}
