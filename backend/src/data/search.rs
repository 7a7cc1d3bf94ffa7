//! Searching one user's diaries by the words in them: every term a substring of the title or
//! the body (`strpos`, so Hangul matches inside words, with no `LIKE` escaping to get wrong),
//! scored by how often the terms occur (a title hit counts three times). A user's diaries are
//! found through the `(user_id, diary_date)` index and scanned; at ten years of diaries that
//! stays within the bench's bound (README, "Performance").

use chrono::NaiveDate;
use tokio_postgres::{Row, types::Type};

use crate::platform::db::{self, Executor, FromRow};

/// A diary that matched, with what the caller needs to show it.
pub struct Found {
    pub id: i64,
    pub title: String,
    pub content: String,
    pub mood: Option<String>,
    pub diary_date: NaiveDate,
    pub visibility: String,
    pub score: i64,
}

crate::from_row!(Found { id, title, content, mood, diary_date, visibility, score });

struct Counted(Found, i64);

impl FromRow for Counted {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self(Found::from_row(row)?, row.try_get("total")?))
    }
}

/// How results are ordered (`order=recent|relevance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest diary date first.
    #[default]
    Recent,
    /// Most occurrences first (a title hit counts three times), then newest.
    Relevance,
}

/// What to look for: terms every match contains, and whether case is folded (only when a term
/// has letters with case: folding Hangul would cost a pass over every body for nothing).
pub struct Terms<'a> {
    pub terms: &'a [String],
    pub fold_case: bool,
}

/// Each diary's title and body as searched (`d` is the diary): lower-cased only on request.
const FOLDED: &str = "lateral (select case when $3 then lower(d.title) else d.title::text end as t, \
                                 case when $3 then lower(d.content) else d.content end as c) x";
/// A diary (as `FOLDED`) that contains every term of `$2`.
const EVERY_TERM: &str =
    "not exists (select 1 from unnest($2::text[]) w where strpos(x.t, w) = 0 and strpos(x.c, w) = 0)";
/// How often the terms occur (as `FOLDED`); a title hit counts three times.
const SCORE: &str = "(select sum(3 * (length(x.t) - length(replace(x.t, w, ''))) / length(w) \
                             + (length(x.c) - length(replace(x.c, w, ''))) / length(w)) \
                      from unnest($2::text[]) w)::int8";

/// The page of the user's diaries that contain every term, at `offset`, and how many match.
/// The matches are narrow rows (id, date, and the score only when it orders them), counted
/// once; only the page's rows are read whole and, when newest first, scored.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn search(
    db: &mut impl Executor,
    user_id: i64,
    terms: &Terms<'_>,
    order: Order,
    limit: i64,
    offset: i64,
) -> db::Result<(Vec<Found>, i64)> {
    let (ranked, order_by, score) = match order {
        Order::Recent => (String::new(), "diary_date desc, id desc", SCORE),
        Order::Relevance => (format!(", {SCORE} as score"), "score desc, diary_date desc, id desc", "p.score"),
    };
    let sql = format!(
        "with m as ( \
             select d.id, d.diary_date{ranked} from diaries d, {FOLDED} where d.user_id = $1 and {EVERY_TERM}), \
         p as (select * from m order by {order_by} limit $4 offset $5) \
         select d.id, d.title::text as title, d.content, d.mood::text as mood, d.diary_date, d.visibility, \
                {score} as score, (select count(*) from m) as total \
         from p join diaries d on d.id = p.id, {FOLDED} \
         order by {order_by}"
    );
    let rows: Vec<Counted> = db
        .fetch_all(
            &sql,
            &[
                (&user_id, Type::INT8),
                (&terms.terms, Type::TEXT_ARRAY),
                (&terms.fold_case, Type::BOOL),
                (&limit, Type::INT8),
                (&offset, Type::INT8),
            ],
        )
        .await?;
    let total = rows.first().map_or(0, |Counted(_, total)| *total);
    let total = if rows.is_empty() && offset > 0 { count(db, user_id, terms).await? } else { total };
    Ok((rows.into_iter().map(|Counted(found, _)| found).collect(), total))
}

/// How many of the user's diaries contain every term (for a page past the end).
async fn count(db: &mut impl Executor, user_id: i64, terms: &Terms<'_>) -> db::Result<i64> {
    db.fetch_value(
        &format!("select count(*) as value from diaries d, {FOLDED} where d.user_id = $1 and {EVERY_TERM}"),
        &[(&user_id, Type::INT8), (&terms.terms, Type::TEXT_ARRAY), (&terms.fold_case, Type::BOOL)],
    )
    .await
}
