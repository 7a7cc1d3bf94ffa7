//! Book picks for the latest analysis, from a fixed catalogue (`books.json`: well-known books
//! published in Korean, listed by overall status and by weak axis).

use std::sync::LazyLock;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::NO_ANALYSIS;
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::mental::{self, Scores},
    platform::error::{ApiError, ApiResult, ErrorBody, Unauthenticated},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Book {
    pub title: String,
    pub author: String,
    pub description: String,
    pub reason: String,
    pub category: String,
}

/// The lists, by overall status and by weak axis (every list must be there, and nothing else).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    by_status: ByStatus,
    by_axis: ByAxis,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByStatus {
    good: Vec<Book>,
    neutral: Vec<Book>,
    concerning: Vec<Book>,
    critical: Vec<Book>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByAxis {
    emotional_stability: Vec<Book>,
    vitality: Vec<Book>,
    self_esteem: Vec<Book>,
    positivity: Vec<Book>,
    social_connection: Vec<Book>,
    resilience: Vec<Book>,
}

/// The catalogue, parsed once (the file is compiled in, so a parse failure is a build mistake
/// the unit tests catch).
static CATALOGUE: LazyLock<Catalogue> =
    LazyLock::new(|| serde_json::from_str(include_str!("books.json")).expect("books.json is a valid catalogue"));

/// How many books a recommendation holds.
const BOOKS_PER_RECOMMENDATION: usize = 3;
/// An axis below this contributes one book from its own list.
const LOW_AXIS: i64 = 40;

/// The books for an overall status; an unknown status reads as neutral.
pub fn status_books(status: &str) -> &'static [Book] {
    let lists = &CATALOGUE.by_status;
    match status {
        "good" => &lists.good,
        "concerning" => &lists.concerning,
        "critical" => &lists.critical,
        _ => &lists.neutral,
    }
}

/// The books for a weak axis (one of `AXES`); empty for anything else.
pub fn axis_books(axis: &str) -> &'static [Book] {
    let lists = &CATALOGUE.by_axis;
    match axis {
        "emotional_stability" => &lists.emotional_stability,
        "vitality" => &lists.vitality,
        "self_esteem" => &lists.self_esteem,
        "positivity" => &lists.positivity,
        "social_connection" => &lists.social_connection,
        "resilience" => &lists.resilience,
        _ => &[],
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookRecommendations {
    books: Vec<Book>,
    /// The overall status of the latest analysis.
    based_on_status: String,
}

/// Three books for the latest analysis (static catalogue, random picks).
#[utoipa::path(
    get, path = "/api/v1/mental/book-recommendations", tag = "mental",
    security(("bearer" = [])),
    responses(
        (status = 200, body = BookRecommendations),
        (status = 404, description = "No mental analysis found. Write a diary first.", body = ErrorBody),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_book_recommendations(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<BookRecommendations>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let latest = mental::latest_rated(&mut db, auth.id()).await?.ok_or_else(|| ApiError::not_found(NO_ANALYSIS))?;
    let books = pick_books(&latest.overall_status, &latest.scores, random_index);
    Ok(Json(BookRecommendations { books, based_on_status: latest.overall_status }))
}

/// Three distinct books: one from the lowest axis' list when that axis is below 40, the rest
/// drawn from the status list. `random(n)` picks an index below `n`.
fn pick_books(status: &str, scores: &Scores, mut random: impl FnMut(usize) -> usize) -> Vec<Book> {
    let mut picked: Vec<Book> = Vec::with_capacity(BOOKS_PER_RECOMMENDATION);
    let (axis, lowest) = scores.lowest();
    let axis_list = axis_books(axis);
    if lowest < LOW_AXIS && !axis_list.is_empty() {
        picked.push(axis_list[random(axis_list.len())].clone());
    }
    let mut pool: Vec<&Book> =
        status_books(status).iter().filter(|b| !picked.iter().any(|p| p.title == b.title)).collect();
    while picked.len() < BOOKS_PER_RECOMMENDATION && !pool.is_empty() {
        let i = random(pool.len());
        picked.push(pool.swap_remove(i).clone());
    }
    picked
}

/// A uniform-enough index below `len` (`len` > 0) from the OS's randomness.
fn random_index(len: usize) -> usize {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).expect("OS randomness");
    (u64::from_le_bytes(buf) % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mental::{AXES, OVERALL_STATUSES};

    #[test]
    fn the_catalogue_has_enough_books_for_every_status_and_axis() {
        for status in OVERALL_STATUSES {
            assert!(status_books(status).len() >= 4, "{status}");
        }
        for axis in AXES {
            assert!(axis_books(axis).len() >= 2, "{axis}");
        }
        assert_eq!(status_books("whatever"), status_books("neutral"));
    }

    #[test]
    fn picks_are_three_distinct_books_with_one_from_a_low_axis() {
        for seed in 0..50usize {
            let mut n = seed;
            let mut random = |len: usize| {
                n = n.wrapping_mul(31).wrapping_add(7);
                n % len
            };
            let low = pick_books("concerning", &Scores::from_values([60, 60, 35, 60, 60, 60]), &mut random);
            assert_eq!(low.len(), 3);
            assert!(axis_books("self_esteem").contains(&low[0]));
            assert!(low[1..].iter().all(|b| status_books("concerning").contains(b)));
            let mut titles: Vec<&str> = low.iter().map(|b| b.title.as_str()).collect();
            titles.sort_unstable();
            titles.dedup();
            assert_eq!(titles.len(), 3, "no duplicates");

            let fine = pick_books("good", &Scores::from_values([60, 60, 40, 60, 60, 60]), &mut random);
            assert_eq!(fine.len(), 3);
            assert!(fine.iter().all(|b| status_books("good").contains(b)), "40 is not low");
        }
    }
}
