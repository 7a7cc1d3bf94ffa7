//! Searching one's own diaries: Korean substrings, every word, newest first or by relevance,
//! snippets and highlights, and nothing of anyone else's.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, json_of};

/// `n` unrelated diaries for `user_id`, dated from 401 days ago back.
async fn filler(app: &TestApp, user_id: i64, n: i32) {
    app.sql()
        .await
        .execute(
            "insert into diaries (user_id, title, content, diary_date) \
             select $1, '평범한 하루', '회사에 가서 일을 하고 저녁을 먹었다. 특별한 일은 없었다.', current_date - 400 - g \
             from generate_series(1, $2) g",
            &[&user_id, &n],
        )
        .await
        .unwrap();
}

async fn diary(app: &TestApp, user_id: i64, days_ago: i32, title: &str, content: &str, visibility: &str) -> i64 {
    app.sql()
        .await
        .query_one(
            "insert into diaries (user_id, title, content, diary_date, visibility) \
             values ($1, $2, $3, current_date - $4::int, $5) returning id",
            &[&user_id, &title, &content, &days_ago, &visibility],
        )
        .await
        .unwrap()
        .get(0)
}

/// Searches read the replica, and these diaries were written straight to the primary.
async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    app.wait_for_replica().await;
    json_of(app.get(&format!("/api/v1/diaries/search?{query}"), Some(token)).await, StatusCode::OK).await
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|h| h["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_word_written_once_months_ago_is_found_among_hundreds_of_diaries() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    let me = app.user_id(&token).await;
    filler(&app, me, 300).await;
    let body =
        format!("{}벚꽃이 다 지기 전에 시험 걱정 때문에 산책했다. 마음이 조금 놓였다.", "봄이 왔다. ".repeat(20));
    let spring = diary(&app, me, 200, "봄날의 걱정", &body, "self").await;
    let private = diary(&app, me, 5, "비밀", "아무도 모르는 벚꽃 이야기", "private").await;
    let other = app.user("jisoo").await;
    let theirs = app.user_id(&other).await;
    diary(&app, theirs, 1, "벚꽃", "남의 벚꽃", "friends").await;

    let page = search(&app, &token, "q=%EB%B2%9A%EA%BD%83").await; // 벚꽃
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(ids(&page), vec![private, spring], "newest first, the private one too, nobody else's");
    let hit = &page["items"][1];
    let snippet = hit["snippet"].as_str().unwrap();
    assert!(snippet.starts_with('…') && snippet.contains("벚꽃이 다 지기"), "{snippet}");
    let h = &hit["snippet_highlights"][0];
    let utf16: Vec<u16> = snippet.encode_utf16().collect();
    let marked = String::from_utf16(&utf16[h["start"].as_u64().unwrap() as usize..h["end"].as_u64().unwrap() as usize]);
    assert_eq!(marked.unwrap(), "벚꽃");

    // A word inside a longer one, every word required, relevance order, case folded.
    let page = search(&app, &token, "q=%EC%82%B0%EC%B1%85").await; // 산책 in 산책했다
    assert_eq!(ids(&page), vec![spring]);
    let page = search(&app, &token, "q=%EB%B2%9A%EA%BD%83+%EC%8B%9C%ED%97%98").await; // 벚꽃 시험
    assert_eq!(ids(&page), vec![spring]);
    let titled = diary(&app, me, 6, "벚꽃 벚꽃", "제목에만", "self").await;
    let page = search(&app, &token, "q=%EB%B2%9A%EA%BD%83&order=relevance").await;
    assert_eq!(ids(&page)[0], titled, "title hits weigh more: {page}");
    diary(&app, me, 7, "Seoul trip", "Walked along the river", "self").await;
    assert_eq!(search(&app, &token, "q=RIVER").await["total"], 1);
    let paged = search(&app, &token, "q=%ED%8A%B9%EB%B3%84%ED%95%9C&per_page=50&page=2").await; // 특별한
    assert_eq!((paged["total"].as_i64(), paged["items"].as_array().unwrap().len()), (Some(300), 50));
    let past = search(&app, &token, "q=%ED%8A%B9%EB%B3%84%ED%95%9C&per_page=50&page=9").await;
    assert_eq!((past["total"].as_i64(), past["items"].as_array().unwrap().len()), (Some(300), 0));
}

#[tokio::test]
async fn queries_too_short_too_long_or_too_many_words_are_422s() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    for query in [
        "q=%EB%B2%9A".to_owned(),         // one syllable
        "q=a+b+c".to_owned(),             // no word of two characters
        "q=aa+bb+cc+dd+ee+ff".to_owned(), // six words
        format!("q={}", "a".repeat(101)), // too long
        "q=aa&per_page=51".to_owned(),
        "q=aa&order=random".to_owned(),
        "per_page=5".to_owned(), // no query
    ] {
        let res = app.get(&format!("/api/v1/diaries/search?{query}"), Some(&token)).await;
        let body = json_of(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["detail"][0]["loc"][0], "query", "{query}: {body}");
    }
}
