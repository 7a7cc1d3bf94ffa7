//! `GET /diaries/search` (added): the caller's diaries that contain every word of `q`, in the
//! title or the body, newest first or by relevance, each with a snippet of the body around the
//! first hit and where the words are in it. Words are substrings (Hangul matches inside a word:
//! `산책` finds `산책했다`); a word needs two characters; case is folded for letters that have it.
//! Private diaries are found too: search never leaves the owner.

use axum::{Json, extract::State};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::search::{self, Found, Order, Terms},
    platform::{
        error::ApiResult,
        http::{
            extract::QueryParams,
            page,
            validate::{Validate, Violations},
        },
    },
};

/// The longest query, in characters.
pub const MAX_QUERY: usize = 100;
/// The most words a query may have.
pub const MAX_TERMS: usize = 5;
/// The shortest word searched for; shorter ones are ignored.
pub const MIN_TERM: usize = 2;
/// Characters of body shown before the first hit, and in all.
const SNIPPET_BEFORE: usize = 30;
const SNIPPET_LEN: usize = 120;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Up to 5 words of at least 2 characters each (shorter words are ignored), 100 characters
    /// in all; a diary matches when it contains every word.
    #[param(min_length = 2, max_length = 100)]
    pub q: String,
    #[serde(default = "page::first")]
    #[param(minimum = 1)]
    pub page: i64,
    #[serde(default = "page::ten")]
    #[param(minimum = 1, maximum = 50)]
    pub per_page: i64,
    #[serde(default)]
    #[param(inline)]
    pub order: Order,
}

impl SearchQuery {
    /// The distinct words worth searching for, case-folded when any has case.
    fn terms(&self) -> (Vec<String>, bool) {
        let fold_case = self.q.chars().any(|c| c.is_uppercase() || c.is_lowercase());
        let mut terms: Vec<String> = Vec::new();
        for word in self.q.split_whitespace().filter(|w| w.chars().count() >= MIN_TERM) {
            let word = if fold_case { word.to_lowercase() } else { word.to_owned() };
            if !terms.contains(&word) {
                terms.push(word);
            }
        }
        (terms, fold_case)
    }
}

impl Validate for SearchQuery {
    fn validate(&self, v: &mut Violations) {
        v.str_len("q", &self.q, MIN_TERM, Some(MAX_QUERY));
        page::validate(v, self.page, self.per_page, 50);
        let (terms, _) = self.terms();
        if self.q.chars().count() >= MIN_TERM && terms.is_empty() {
            let msg = format!("Query should have a word of at least {MIN_TERM} characters");
            v.push("q", "value_error", msg, self.q.as_str().into(), None);
        } else if terms.len() > MAX_TERMS {
            let msg = format!("Query should have at most {MAX_TERMS} words");
            v.push("q", "value_error", msg, self.q.as_str().into(), Some(json!({ "max_terms": MAX_TERMS })));
        }
    }
}

/// Where a word occurs: `[start, end)` in UTF-16 code units, as JavaScript's `slice` takes them.
#[derive(Serialize, ToSchema, Debug, PartialEq, Eq)]
pub struct Highlight {
    pub start: usize,
    pub end: usize,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    pub id: i64,
    pub title: String,
    pub diary_date: NaiveDate,
    pub mood: Option<String>,
    #[schema(example = "self")]
    pub visibility: String,
    /// Up to 120 characters of the body around the first hit ("…" where it is cut).
    pub snippet: String,
    pub title_highlights: Vec<Highlight>,
    pub snippet_highlights: Vec<Highlight>,
    /// Occurrences of the words (a title hit counts three times).
    pub score: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[utoipa::path(
    get, path = "/api/v1/diaries/search", tag = "diaries",
    security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, body = SearchPage),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn search_diaries(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<SearchQuery>,
) -> ApiResult<Json<SearchPage>> {
    let (terms, fold_case) = q.terms();
    let mut db = state.db.reader(auth.min_lsn).await?;
    let found = Terms { terms: &terms, fold_case };
    let offset = (q.page - 1).saturating_mul(q.per_page);
    let (rows, total) = search::search(&mut db, auth.id(), &found, q.order, q.per_page, offset).await?;
    let items = rows.into_iter().map(|row| hit(row, &terms, fold_case)).collect();
    Ok(Json(SearchPage { items, total, page: q.page, per_page: q.per_page }))
}

fn hit(row: Found, terms: &[String], fold_case: bool) -> SearchHit {
    let snippet = snippet(&row.content, terms, fold_case);
    SearchHit {
        title_highlights: highlights(&row.title, terms, fold_case),
        snippet_highlights: highlights(&snippet, terms, fold_case),
        snippet,
        id: row.id,
        title: row.title,
        diary_date: row.diary_date,
        mood: row.mood,
        visibility: row.visibility,
        score: row.score,
    }
}

/// The text as searched: per character, so offsets map back one to one.
fn folded(text: &str, fold_case: bool) -> Vec<char> {
    text.chars().map(|c| if fold_case { c.to_lowercase().next().unwrap_or(c) } else { c }).collect()
}

fn find(haystack: &[char], needle: &[char], from: usize) -> Option<usize> {
    (from..=haystack.len().checked_sub(needle.len())?).find(|&i| haystack[i..i + needle.len()] == *needle)
}

/// `SNIPPET_LEN` characters of `content` starting a little before the first hit of any term.
fn snippet(content: &str, terms: &[String], fold_case: bool) -> String {
    let chars: Vec<char> = content.chars().collect();
    let text = folded(content, fold_case);
    let first = terms.iter().filter_map(|t| find(&text, &t.chars().collect::<Vec<_>>(), 0)).min().unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_BEFORE);
    let end = (start + SNIPPET_LEN).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// Every occurrence of every term in `text`, sorted, overlaps merged, in UTF-16 units.
fn highlights(text: &str, terms: &[String], fold_case: bool) -> Vec<Highlight> {
    let chars = folded(text, fold_case);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for term in terms {
        let needle: Vec<char> = term.chars().collect();
        let mut from = 0;
        while let Some(i) = find(&chars, &needle, from) {
            spans.push((i, i + needle.len()));
            from = i + needle.len();
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    // Character offsets to UTF-16 offsets.
    let mut utf16 = Vec::with_capacity(chars.len() + 1);
    let mut at = 0;
    for c in text.chars() {
        utf16.push(at);
        at += c.len_utf16();
    }
    utf16.push(at);
    merged.into_iter().map(|(s, e)| Highlight { start: utf16[s], end: utf16[e] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(q: &str) -> (Vec<String>, bool) {
        SearchQuery { q: q.into(), page: 1, per_page: 10, order: Order::Recent }.terms()
    }

    #[test]
    fn words_of_one_character_are_ignored_and_case_folds_only_when_it_exists() {
        assert_eq!(terms("나 오늘 산책 오늘"), (vec!["오늘".to_owned(), "산책".to_owned()], false));
        assert_eq!(terms("Seoul 한강"), (vec!["seoul".to_owned(), "한강".to_owned()], true));
    }

    #[test]
    fn highlights_are_utf16_offsets_merged_where_words_overlap() {
        let t = vec!["산책".to_owned(), "책했".to_owned()];
        assert_eq!(highlights("😀 산책했다", &t, false), vec![Highlight { start: 3, end: 6 }]);
        let t = vec!["park".to_owned()];
        assert_eq!(
            highlights("Park and park", &t, true),
            vec![Highlight { start: 0, end: 4 }, Highlight { start: 9, end: 13 }]
        );
    }

    #[test]
    fn a_snippet_starts_shortly_before_the_first_hit_and_says_where_it_is_cut() {
        let body = format!("{}한강에서 산책{}", "가".repeat(100), "나".repeat(200));
        let s = snippet(&body, &["산책".to_owned()], false);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert_eq!(s.chars().count(), SNIPPET_LEN + 2);
        assert!(s.contains("한강에서 산책"));
        assert_eq!(snippet("짧은 산책", &["산책".to_owned()], false), "짧은 산책");
    }
}
