//! Mental health views (contract 4.8) over the analyses the diary job writes: the latest analysis
//! with its feedback, the radar, the history, the negative-trend check, book picks and feedback on
//! demand. No request calls an LLM (section 8): until the job has stored an analysis' feedback,
//! `fallback_feedback` answers. The weekly and monthly reports live elsewhere.

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::Type};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::auth::session::AuthUser,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, QueryParams},
        validate::{Validate, Violations},
    },
    api::state::AppState,
    platform::time::today,
};

const NO_ANALYSIS: &str = "No mental analysis found. Write a diary first.";
const ANALYSIS_NOT_FOUND: &str = "Mental analysis not found.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mental/current", get(get_current_analysis))
        .route("/mental/radar", get(get_radar))
        .route("/mental/history", get(list_history))
        .route("/mental/check-negative-trend", get(check_negative_trend))
        // The report endpoints, `/mental/reports/weekly` and `/mental/reports/monthly`, go here.
        .route("/mental/book-recommendations", get(list_book_recommendations))
        .route("/mental/feedback", post(get_feedback))
}

/// The six axes (contract 3.4), in contract order: 0-100, higher is better, 50 is neutral.
pub const AXES: [&str; 6] =
    ["emotional_stability", "vitality", "self_esteem", "positivity", "social_connection", "resilience"];

/// The columns holding the axes, in `AXES` order (smallint in the table).
const SCORE_COLUMN_NAMES: [&str; 6] = [
    "emotional_stability_score",
    "vitality_score",
    "self_esteem_score",
    "positivity_score",
    "social_connection_score",
    "resilience_score",
];
const SCORE_COLUMNS: &str = "emotional_stability_score, vitality_score, self_esteem_score, positivity_score, \
                             social_connection_score, resilience_score";
const ANALYSIS_COLUMNS: &str = "id, user_id, diary_id, emotional_stability_score, vitality_score, self_esteem_score, \
                                positivity_score, social_connection_score, resilience_score, overall_status, \
                                analysis_date, created_at";
/// "Latest" is by `created_at` (contract); the id breaks ties.
const LATEST_FIRST: &str = "order by created_at desc, id desc";

/// The six scores as `<axis>_score` fields (flattened into the shapes that carry them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Scores {
    pub emotional_stability_score: i64,
    pub vitality_score: i64,
    pub self_esteem_score: i64,
    pub positivity_score: i64,
    pub social_connection_score: i64,
    pub resilience_score: i64,
}

impl Scores {
    /// Reads the six `<axis>_score` columns of a row.
    pub fn from_row(row: &Row) -> Self {
        Self::from_values(SCORE_COLUMN_NAMES.map(|column| i64::from(row.get::<_, i16>(column))))
    }

    /// Scores in `AXES` order.
    pub fn from_values(values: [i64; 6]) -> Self {
        let [
            emotional_stability_score,
            vitality_score,
            self_esteem_score,
            positivity_score,
            social_connection_score,
            resilience_score,
        ] = values;
        Self {
            emotional_stability_score,
            vitality_score,
            self_esteem_score,
            positivity_score,
            social_connection_score,
            resilience_score,
        }
    }

    /// Scores in `AXES` order.
    pub fn values(&self) -> [i64; 6] {
        [
            self.emotional_stability_score,
            self.vitality_score,
            self.self_esteem_score,
            self.positivity_score,
            self.social_connection_score,
            self.resilience_score,
        ]
    }

    /// What the radar shows before any analysis exists.
    pub fn neutral() -> Self {
        Self::from_values([50; 6])
    }

    /// The lowest axis and its score; the first in `AXES` order on a tie.
    pub fn lowest(&self) -> (&'static str, i64) {
        AXES.into_iter().zip(self.values()).min_by_key(|&(_, score)| score).expect("six axes")
    }
}

/// The radar's shape: the axes without the `_score` suffix.
#[derive(Debug, Serialize, ToSchema)]
pub struct RadarData {
    emotional_stability: i64,
    vitality: i64,
    self_esteem: i64,
    positivity: i64,
    social_connection: i64,
    resilience: i64,
}

impl From<Scores> for RadarData {
    fn from(s: Scores) -> Self {
        Self {
            emotional_stability: s.emotional_stability_score,
            vitality: s.vitality_score,
            self_esteem: s.self_esteem_score,
            positivity: s.positivity_score,
            social_connection: s.social_connection_score,
            resilience: s.resilience_score,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Improving,
    Stable,
    Declining,
}

/// The radar's rule: the summed change over the six axes above 15 is improving, below -15
/// declining, anything in between (15 and -15 included) stable.
pub fn radar_trend(current: &Scores, previous: &Scores) -> Trend {
    let change: i64 = current.values().iter().sum::<i64>() - previous.values().iter().sum::<i64>();
    if change > 15 {
        Trend::Improving
    } else if change < -15 {
        Trend::Declining
    } else {
        Trend::Stable
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MentalFeedback {
    pub status_label: String,
    pub message: String,
    pub encouragement: String,
    /// Absent in stored feedback reads as `null`.
    pub suggestion: Option<String>,
    pub emoji: String,
}

/// The feedback shown while the job has not written one: fixed texts per overall status (an
/// unknown status reads as neutral). The worker uses it too when the LLM finally fails.
pub fn fallback_feedback(status: &str) -> MentalFeedback {
    let (status_label, emoji, message, encouragement, suggestion) = match status {
        "good" => (
            "좋음",
            "😊",
            "요즘 마음이 안정적이고 활기차 보여요.",
            "지금의 좋은 흐름을 만든 나 자신을 칭찬해 주세요!",
            "오늘 고마웠던 일 세 가지를 일기에 적어 보면 좋은 기분이 더 오래 남아요.",
        ),
        "concerning" => (
            "주의",
            "😟",
            "최근 마음이 조금 지쳐 보여요.",
            "힘든 날에도 기록을 이어가는 당신은 이미 충분히 애쓰고 있어요.",
            "오늘은 잠시 쉬어 가며 믿을 수 있는 사람과 이야기를 나눠 보세요.",
        ),
        "critical" => (
            "많이 힘듦",
            "💙",
            "요즘 많이 힘든 시간을 보내고 있는 것 같아요.",
            "혼자 견디지 않아도 괜찮아요. 당신의 마음은 소중해요.",
            "힘들 때는 자살예방상담전화(109)나 정신건강상담전화(1577-0199), 가까운 전문가에게 도움을 요청해 주세요.",
        ),
        _ => (
            "보통",
            "🙂",
            "큰 굴곡 없이 평온한 날들을 보내고 있어요.",
            "꾸준히 마음을 기록하는 것만으로도 잘하고 있어요.",
            "가벼운 산책이나 좋아하는 음악으로 하루에 작은 즐거움을 더해 보세요.",
        ),
    };
    MentalFeedback {
        status_label: status_label.into(),
        message: message.into(),
        encouragement: encouragement.into(),
        suggestion: Some(suggestion.into()),
        emoji: emoji.into(),
    }
}

/// The stored feedback of a row with a `feedback` column, or the fallback while there is none
/// (or what is stored does not parse).
fn feedback_of(row: &Row, overall_status: &str) -> MentalFeedback {
    let stored: Option<serde_json::Value> = row.get("feedback");
    stored
        .and_then(|value| match serde_json::from_value::<MentalFeedback>(value) {
            Ok(feedback) => Some(feedback),
            Err(error) => {
                tracing::warn!(%error, "stored mental feedback does not parse; serving the fallback");
                None
            }
        })
        .unwrap_or_else(|| fallback_feedback(overall_status))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MentalAnalysis {
    id: i64,
    user_id: i64,
    diary_id: Option<i64>,
    #[serde(flatten)]
    scores: Scores,
    /// `good` | `neutral` | `concerning` | `critical`
    overall_status: String,
    analysis_date: NaiveDate,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
}

impl MentalAnalysis {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            diary_id: row.get("diary_id"),
            scores: Scores::from_row(row),
            overall_status: row.get("overall_status"),
            analysis_date: row.get("analysis_date"),
            created_at: row.get("created_at"),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentAnalysis {
    #[serde(flatten)]
    analysis: MentalAnalysis,
    feedback: MentalFeedback,
}

#[utoipa::path(get, path = "/api/v1/mental/current", tag = "mental", security(("bearer" = [])),
    responses((status = 200, body = CurrentAnalysis), (status = 404, description = "No mental analysis found. Write a diary first.", body = crate::platform::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn get_current_analysis(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<CurrentAnalysis>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(
            &format!(
                "select {ANALYSIS_COLUMNS}, feedback from mental_analyses \
                 where user_id = $1 {LATEST_FIRST} limit 1"
            ),
            &[(&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(NO_ANALYSIS))?;
    let analysis = MentalAnalysis::from_row(&row);
    let feedback = feedback_of(&row, &analysis.overall_status);
    Ok(Json(CurrentAnalysis { analysis, feedback }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Radar {
    current: RadarData,
    previous: Option<RadarData>,
    trend: Trend,
}

/// The latest analysis against the one before; never 404 (all 50 and `stable` without data).
#[utoipa::path(get, path = "/api/v1/mental/radar", tag = "mental", security(("bearer" = [])),
    responses((status = 200, body = Radar), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn get_radar(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Radar>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db
        .query(
            &format!("select {SCORE_COLUMNS} from mental_analyses where user_id = $1 {LATEST_FIRST} limit 2"),
            &[(&auth.id(), Type::INT8)],
        )
        .await?;
    let current = rows.first().map(Scores::from_row);
    let previous = rows.get(1).map(Scores::from_row);
    let trend = match (&current, &previous) {
        (Some(current), Some(previous)) => radar_trend(current, previous),
        _ => Trend::Stable,
    };
    Ok(Json(Radar {
        current: current.unwrap_or_else(Scores::neutral).into(),
        previous: previous.map(RadarData::from),
        trend,
    }))
}

#[derive(Deserialize, IntoParams)]
struct HistoryQuery {
    /// Days back from today (UTC): analyses dated today-days or later.
    #[serde(default = "thirty")]
    days: i64,
    #[serde(default)]
    skip: i64,
    #[serde(default = "thirty")]
    limit: i64,
}

fn thirty() -> i64 {
    30
}

impl Validate for HistoryQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("days", self.days, 1, Some(365));
        v.range("skip", self.skip, 0, None);
        v.range("limit", self.limit, 1, Some(100));
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// The analysis date.
    date: NaiveDate,
    overall_status: String,
    #[serde(flatten)]
    scores: Scores,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    items: Vec<HistoryItem>,
    total: i64,
}

/// Newest first. One round trip: the page and the total (a window count) together; only a page
/// past the end needs a separate count.
#[utoipa::path(get, path = "/api/v1/mental/history", tag = "mental", security(("bearer" = [])), params(HistoryQuery),
    responses((status = 200, body = History), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn list_history(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<History>> {
    let since = today() - Duration::days(q.days);
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db
        .query(
            &format!(
                "select analysis_date, overall_status, {SCORE_COLUMNS}, count(*) over () as total \
                 from mental_analyses where user_id = $1 and analysis_date >= $2 \
                 order by analysis_date desc, created_at desc, id desc limit $3 offset $4"
            ),
            &[(&auth.id(), Type::INT8), (&since, Type::DATE), (&q.limit, Type::INT8), (&q.skip, Type::INT8)],
        )
        .await?;
    let total: i64 = match rows.first() {
        Some(row) => row.get("total"),
        None if q.skip > 0 => db
            .query_one(
                "select count(*) from mental_analyses where user_id = $1 and analysis_date >= $2",
                &[(&auth.id(), Type::INT8), (&since, Type::DATE)],
            )
            .await?
            .get(0),
        None => 0,
    };
    let items: Vec<HistoryItem> = rows
        .iter()
        .map(|row| HistoryItem {
            date: row.get("analysis_date"),
            overall_status: row.get("overall_status"),
            scores: Scores::from_row(row),
        })
        .collect();
    Ok(Json(History { items, total }))
}

/// Fewer analyses than this in the window is never a negative trend.
const NEGATIVE_TREND_MIN_ANALYSES: i64 = 3;

/// The contract's rule: at least three analyses, of which half or more are concerning or critical.
pub fn is_negative_trend(analyses: i64, negative: i64) -> bool {
    analyses >= NEGATIVE_TREND_MIN_ANALYSES && negative * 2 >= analyses
}

#[derive(Deserialize, IntoParams)]
struct TrendQuery {
    /// Days back from today (UTC).
    #[serde(default = "seven")]
    days: i64,
}

fn seven() -> i64 {
    7
}

impl Validate for TrendQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("days", self.days, 1, Some(30));
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NegativeTrend {
    is_negative_trend: bool,
    days_checked: i64,
}

#[utoipa::path(get, path = "/api/v1/mental/check-negative-trend", tag = "mental", security(("bearer" = [])), params(TrendQuery),
    responses((status = 200, body = NegativeTrend), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn check_negative_trend(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<TrendQuery>,
) -> ApiResult<Json<NegativeTrend>> {
    let since = today() - Duration::days(q.days);
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_one(
            "select count(*) as analyses, \
                    count(*) filter (where overall_status in ('concerning', 'critical')) as negative \
             from mental_analyses where user_id = $1 and analysis_date >= $2",
            &[(&auth.id(), Type::INT8), (&since, Type::DATE)],
        )
        .await?;
    Ok(Json(NegativeTrend {
        is_negative_trend: is_negative_trend(row.get("analyses"), row.get("negative")),
        days_checked: q.days,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookRecommendations {
    books: Vec<Book>,
    /// The overall status of the latest analysis.
    based_on_status: String,
}

/// Three books for the latest analysis (static catalogue, random picks).
#[utoipa::path(get, path = "/api/v1/mental/book-recommendations", tag = "mental", security(("bearer" = [])),
    responses((status = 200, body = BookRecommendations), (status = 404, description = "No mental analysis found. Write a diary first.", body = crate::platform::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn list_book_recommendations(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<BookRecommendations>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(
            &format!(
                "select overall_status, {SCORE_COLUMNS} from mental_analyses \
                 where user_id = $1 {LATEST_FIRST} limit 1"
            ),
            &[(&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(NO_ANALYSIS))?;
    let status: String = row.get("overall_status");
    let books = pick_books(&status, &Scores::from_row(&row), random_index);
    Ok(Json(BookRecommendations { books, based_on_status: status }))
}

#[derive(Deserialize, ToSchema)]
struct FeedbackRequest {
    /// The analysis; absent or null: the latest.
    analysis_id: Option<i64>,
}

impl Validate for FeedbackRequest {
    fn validate(&self, _: &mut Violations) {}
}

/// A POST for the frontend's sake, but a read: the stored feedback or the fallback (the
/// original generated one here with the LLM).
#[utoipa::path(post, path = "/api/v1/mental/feedback", tag = "mental", security(("bearer" = [])), request_body(content = FeedbackRequest, description = "Optional"),
    responses((status = 200, body = MentalFeedback), (status = 404, description = "Mental analysis not found.", body = crate::platform::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn get_feedback(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<FeedbackRequest>,
) -> ApiResult<Json<MentalFeedback>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(
            &format!(
                "select overall_status, feedback from mental_analyses \
                 where user_id = $1 and ($2::int8 is null or id = $2) {LATEST_FIRST} limit 1"
            ),
            &[(&auth.id(), Type::INT8), (&body.analysis_id, Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(ANALYSIS_NOT_FOUND))?;
    let status: String = row.get("overall_status");
    Ok(Json(feedback_of(&row, &status)))
}

// ---------------------------------------------------------------------------------------------
// Book catalogue: well-known books published in Korean, by overall status and by axis.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Book {
    pub title: &'static str,
    pub author: &'static str,
    pub description: &'static str,
    pub reason: &'static str,
    pub category: &'static str,
}

/// How many books a recommendation holds.
const BOOKS_PER_RECOMMENDATION: usize = 3;
/// An axis below this contributes one book from its own list.
const LOW_AXIS: i64 = 40;

/// Three distinct books: one from the lowest axis' list when that axis is below 40, the rest
/// drawn from the status list. `random(n)` picks an index below `n`.
fn pick_books(status: &str, scores: &Scores, mut random: impl FnMut(usize) -> usize) -> Vec<Book> {
    let mut picked: Vec<Book> = Vec::with_capacity(BOOKS_PER_RECOMMENDATION);
    let (axis, lowest) = scores.lowest();
    let axis_list = axis_books(axis);
    if lowest < LOW_AXIS && !axis_list.is_empty() {
        picked.push(axis_list[random(axis_list.len())]);
    }
    let mut pool: Vec<Book> =
        status_books(status).iter().filter(|b| !picked.iter().any(|p| p.title == b.title)).copied().collect();
    while picked.len() < BOOKS_PER_RECOMMENDATION && !pool.is_empty() {
        let i = random(pool.len());
        picked.push(pool.swap_remove(i));
    }
    picked
}

/// A uniform-enough index below `len` (`len` > 0) from the OS's randomness.
fn random_index(len: usize) -> usize {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).expect("OS randomness");
    (u64::from_le_bytes(buf) % len as u64) as usize
}

/// The books for an overall status; an unknown status reads as neutral.
pub fn status_books(status: &str) -> &'static [Book] {
    match status {
        "good" => GOOD_BOOKS,
        "concerning" => CONCERNING_BOOKS,
        "critical" => CRITICAL_BOOKS,
        _ => NEUTRAL_BOOKS,
    }
}

/// The books for a weak axis (one of `AXES`); empty for anything else.
pub fn axis_books(axis: &str) -> &'static [Book] {
    match axis {
        "emotional_stability" => EMOTIONAL_STABILITY_BOOKS,
        "vitality" => VITALITY_BOOKS,
        "self_esteem" => SELF_ESTEEM_BOOKS,
        "positivity" => POSITIVITY_BOOKS,
        "social_connection" => SOCIAL_CONNECTION_BOOKS,
        "resilience" => RESILIENCE_BOOKS,
        _ => &[],
    }
}

const GOOD_BOOKS: &[Book] = &[
    Book {
        title: "미움받을 용기",
        author: "기시미 이치로, 고가 후미타케",
        description: "아들러 심리학을 철학자와 청년의 대화로 풀어낸 책",
        reason: "좋은 흐름을 타고 있는 지금, 타인의 시선에서 더 자유로워지는 법을 배워 보세요.",
        category: "심리학",
    },
    Book {
        title: "아주 작은 습관의 힘",
        author: "제임스 클리어",
        description: "작은 습관이 쌓여 큰 변화를 만드는 원리와 방법",
        reason: "지금의 좋은 컨디션을 오래 가는 습관으로 만들어 보세요.",
        category: "자기계발",
    },
    Book {
        title: "몰입",
        author: "미하이 칙센트미하이",
        description: "무언가에 깊이 빠져드는 몰입의 순간이 행복을 만든다는 심리학 고전",
        reason: "에너지가 좋은 지금, 나를 몰입하게 하는 일을 찾아보기 좋아요.",
        category: "심리학",
    },
    Book {
        title: "사피엔스",
        author: "유발 하라리",
        description: "인류가 어떻게 지금의 세상을 만들었는지 돌아보는 역사서",
        reason: "마음에 여유가 있을 때 시야를 넓혀 주는 큰 이야기를 만나 보세요.",
        category: "인문",
    },
    Book {
        title: "연금술사",
        author: "파울로 코엘료",
        description: "자신의 꿈을 찾아 길을 떠나는 양치기 소년 산티아고의 이야기",
        reason: "좋은 기운을 나만의 꿈을 향한 한 걸음으로 이어 보세요.",
        category: "소설",
    },
];

const NEUTRAL_BOOKS: &[Book] = &[
    Book {
        title: "어린 왕자",
        author: "앙투안 드 생텍쥐페리",
        description: "어른이 잊고 지낸 소중한 것들을 일깨우는 이야기",
        reason: "평온한 날, 마음 한편을 따뜻하게 채워 줄 거예요.",
        category: "소설",
    },
    Book {
        title: "불편한 편의점",
        author: "김호연",
        description: "서울의 작은 편의점에서 이어지는 사람들의 따뜻한 이야기",
        reason: "잔잔한 일상에 기분 좋은 온기를 더해 줄 소설이에요.",
        category: "소설",
    },
    Book {
        title: "아몬드",
        author: "손원평",
        description: "감정을 느끼지 못하는 소년이 세상과 관계를 배워 가는 성장 소설",
        reason: "내 감정을 한 번 더 들여다보게 해 주는 이야기예요.",
        category: "소설",
    },
    Book {
        title: "나는 나로 살기로 했다",
        author: "김수현",
        description: "남의 기준이 아닌 나답게 사는 법을 담은 에세이",
        reason: "무난한 요즘, 나에게 맞는 삶의 방향을 생각해 보기 좋아요.",
        category: "에세이",
    },
    Book {
        title: "멈추면, 비로소 보이는 것들",
        author: "혜민",
        description: "바쁜 일상 속에서 잠시 멈춰 마음을 돌보는 글들",
        reason: "잠깐의 쉼으로 일상의 작은 행복을 발견해 보세요.",
        category: "에세이",
    },
];

const CONCERNING_BOOKS: &[Book] = &[
    Book {
        title: "죽고 싶지만 떡볶이는 먹고 싶어",
        author: "백세희",
        description: "가벼운 우울을 겪는 저자가 정신과 상담을 기록한 에세이",
        reason: "비슷한 마음을 지나온 사람의 이야기가 위로가 될 거예요.",
        category: "에세이",
    },
    Book {
        title: "당신이 옳다",
        author: "정혜신",
        description: "공감으로 서로를 살리는 심리적 심폐소생술에 관한 책",
        reason: "지친 마음에 먼저 필요한 건 공감이라는 걸 느낄 수 있어요.",
        category: "심리학",
    },
    Book {
        title: "지금 이 순간을 살아라",
        author: "에크하르트 톨레",
        description: "과거와 미래에 대한 걱정에서 벗어나 현재에 머무는 법",
        reason: "생각이 많아 지칠 때 지금 이 순간으로 돌아오는 연습이 도움이 돼요.",
        category: "심리학",
    },
    Book {
        title: "언어의 온도",
        author: "이기주",
        description: "일상의 말과 글에 담긴 온기를 담담하게 풀어낸 에세이",
        reason: "따뜻한 문장들이 지친 하루에 작은 위로가 되어 줄 거예요.",
        category: "에세이",
    },
    Book {
        title: "달러구트 꿈 백화점",
        author: "이미예",
        description: "잠든 사람들에게 꿈을 파는 신비한 백화점 이야기",
        reason: "복잡한 마음을 잠시 내려놓고 편안하게 읽을 수 있어요.",
        category: "소설",
    },
];

const CRITICAL_BOOKS: &[Book] = &[
    Book {
        title: "죽음의 수용소에서",
        author: "빅터 프랭클",
        description: "강제수용소에서 살아남은 정신과 의사가 전하는 삶의 의미",
        reason: "가장 어두운 순간에도 삶의 의미를 찾을 수 있다는 희망을 전해 줘요.",
        category: "심리학",
    },
    Book {
        title: "필링 굿",
        author: "데이비드 D. 번스",
        description: "인지행동치료로 우울한 생각을 다루는 법을 안내하는 책",
        reason: "나를 괴롭히는 생각을 알아차리고 다루는 구체적인 방법을 알려 줘요.",
        category: "심리학",
    },
    Book {
        title: "내 마음이 지옥일 때",
        author: "이명수",
        description: "마음이 무너질 때 나를 지키는 방법을 전하는 심리 치유서",
        reason: "힘든 마음을 혼자 견디지 않도록 곁에서 말을 건네는 책이에요.",
        category: "심리학",
    },
    Book {
        title: "우울할 땐 뇌 과학",
        author: "앨릭스 코브",
        description: "뇌 과학으로 우울의 악순환을 끊는 작은 실천들을 소개하는 책",
        reason: "지금 당장 할 수 있는 작은 변화부터 시작할 수 있게 도와줘요.",
        category: "심리학",
    },
];

const EMOTIONAL_STABILITY_BOOKS: &[Book] = &[
    Book {
        title: "감정 수업",
        author: "강신주",
        description: "스피노자의 48가지 감정을 문학 작품으로 살펴보는 인문서",
        reason: "흔들리는 감정에 이름을 붙이면 마음이 한결 차분해져요.",
        category: "인문",
    },
    Book {
        title: "마음챙김 명상과 자기치유",
        author: "존 카밧진",
        description: "마음챙김에 기반한 스트레스 완화(MBSR) 프로그램의 안내서",
        reason: "불안하고 흔들릴 때 마음을 가라앉히는 연습을 배울 수 있어요.",
        category: "심리학",
    },
];

const VITALITY_BOOKS: &[Book] = &[
    Book {
        title: "운동화 신은 뇌",
        author: "존 레이티",
        description: "운동이 뇌와 기분을 어떻게 바꾸는지 보여 주는 과학서",
        reason: "기운이 없을 때 몸을 움직이는 것부터 시작할 용기를 줘요.",
        category: "과학",
    },
    Book {
        title: "우리는 왜 잠을 자야 할까",
        author: "매슈 워커",
        description: "수면이 몸과 마음의 건강에 미치는 영향을 다룬 과학서",
        reason: "지친 몸과 마음을 회복하는 첫걸음은 좋은 잠이에요.",
        category: "과학",
    },
];

const SELF_ESTEEM_BOOKS: &[Book] = &[
    Book {
        title: "자존감 수업",
        author: "윤홍균",
        description: "정신과 의사가 알려 주는 자존감을 회복하는 구체적인 방법",
        reason: "나를 있는 그대로 존중하는 연습을 시작할 수 있어요.",
        category: "심리학",
    },
    Book {
        title: "자존감의 여섯 기둥",
        author: "너새니얼 브랜든",
        description: "자존감을 떠받치는 여섯 가지 실천을 다룬 고전",
        reason: "흔들리는 자존감을 단단하게 세우는 방법을 알려 줘요.",
        category: "심리학",
    },
];

const POSITIVITY_BOOKS: &[Book] = &[
    Book {
        title: "마틴 셀리그만의 긍정심리학",
        author: "마틴 셀리그만",
        description: "긍정심리학의 창시자가 전하는 진정한 행복에 이르는 길",
        reason: "부정적인 생각이 많을 때 강점과 긍정 정서를 키우는 법을 배울 수 있어요.",
        category: "심리학",
    },
    Book {
        title: "행복의 기원",
        author: "서은국",
        description: "진화심리학으로 본 행복의 정체",
        reason: "행복을 크게 기대하기보다 자주 느끼는 법을 알려 줘요.",
        category: "심리학",
    },
];

const SOCIAL_CONNECTION_BOOKS: &[Book] = &[
    Book {
        title: "관계를 읽는 시간",
        author: "문요한",
        description: "건강한 관계를 위한 마음의 경계를 세우는 법",
        reason: "사람 사이에서 지칠 때 나를 지키며 관계를 맺는 법을 알려 줘요.",
        category: "심리학",
    },
    Book {
        title: "데일 카네기 인간관계론",
        author: "데일 카네기",
        description: "사람의 마음을 얻는 법을 다룬 인간관계의 고전",
        reason: "다시 사람들과 가까워지고 싶을 때 작은 실마리가 되어 줘요.",
        category: "자기계발",
    },
];

const RESILIENCE_BOOKS: &[Book] = &[
    Book {
        title: "회복탄력성",
        author: "김주환",
        description: "시련을 딛고 다시 일어서는 마음의 근력을 기르는 법",
        reason: "넘어져도 다시 일어설 수 있는 힘은 기를 수 있어요.",
        category: "심리학",
    },
    Book {
        title: "그릿",
        author: "앤절라 더크워스",
        description: "재능보다 중요한 열정과 끈기의 힘",
        reason: "포기하고 싶을 때 한 걸음 더 나아갈 힘을 줘요.",
        category: "자기계발",
    },
    Book {
        title: "옵션 B",
        author: "셰릴 샌드버그, 애덤 그랜트",
        description: "상실을 겪은 뒤 다시 삶의 기쁨을 찾아가는 이야기",
        reason: "원하던 길이 막혔을 때 다른 길을 찾아가는 용기를 줘요.",
        category: "에세이",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(values: [i64; 6]) -> Scores {
        Scores::from_values(values)
    }

    #[test]
    fn radar_trend_is_stable_up_to_fifteen_points_either_way() {
        let base = scores([50; 6]);
        assert_eq!(radar_trend(&scores([55, 55, 55, 50, 50, 50]), &base), Trend::Stable);
        assert_eq!(radar_trend(&scores([56, 55, 55, 50, 50, 50]), &base), Trend::Improving);
        assert_eq!(radar_trend(&scores([45, 45, 45, 50, 50, 50]), &base), Trend::Stable);
        assert_eq!(radar_trend(&scores([44, 45, 45, 50, 50, 50]), &base), Trend::Declining);
    }

    #[test]
    fn negative_trend_needs_three_analyses_and_half_negative() {
        assert!(!is_negative_trend(2, 2));
        assert!(is_negative_trend(3, 2));
        assert!(!is_negative_trend(3, 1));
        assert!(is_negative_trend(4, 2));
        assert!(!is_negative_trend(5, 2));
    }

    #[test]
    fn lowest_axis_is_the_first_minimum_in_axis_order() {
        assert_eq!(scores([60, 30, 70, 30, 80, 90]).lowest(), ("vitality", 30));
        assert_eq!(scores([50; 6]).lowest(), ("emotional_stability", 50));
    }

    #[test]
    fn the_catalogue_has_enough_books_for_every_status_and_axis() {
        for status in ["good", "neutral", "concerning", "critical"] {
            assert!(status_books(status).len() >= 4, "{status}");
        }
        for axis in AXES {
            assert!(axis_books(axis).len() >= 2, "{axis}");
        }
    }

    #[test]
    fn picks_are_three_distinct_books_with_one_from_a_low_axis() {
        for seed in 0..50usize {
            let mut n = seed;
            let mut random = |len: usize| {
                n = n.wrapping_mul(31).wrapping_add(7);
                n % len
            };
            let low = pick_books("concerning", &scores([60, 60, 35, 60, 60, 60]), &mut random);
            assert_eq!(low.len(), 3);
            assert!(SELF_ESTEEM_BOOKS.contains(&low[0]));
            assert!(low[1..].iter().all(|b| CONCERNING_BOOKS.contains(b)));
            let mut titles: Vec<&str> = low.iter().map(|b| b.title).collect();
            titles.sort_unstable();
            titles.dedup();
            assert_eq!(titles.len(), 3, "no duplicates");

            let fine = pick_books("good", &scores([60, 60, 40, 60, 60, 60]), &mut random);
            assert_eq!(fine.len(), 3);
            assert!(fine.iter().all(|b| GOOD_BOOKS.contains(b)), "40 is not low");
        }
    }

    #[test]
    fn fallback_feedback_covers_every_status_and_reads_unknown_as_neutral() {
        assert_eq!(fallback_feedback("good").emoji, "😊");
        assert_eq!(fallback_feedback("whatever"), fallback_feedback("neutral"));
        for status in ["good", "neutral", "concerning", "critical"] {
            let f = fallback_feedback(status);
            assert!(!f.status_label.is_empty() && !f.message.is_empty() && f.suggestion.is_some());
        }
    }
}
