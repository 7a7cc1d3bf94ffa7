//! The personality quiz (contract 4.9): five questions whose answers seed a temporary persona,
//! the persona's level, and level upgrades (3 diaries to `basic`, 7 to `complete`), all
//! generation running in the worker.

use axum::{
    Json, Router,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::{
    api::auth::session::AuthUser,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::Body,
        validate::{Validate, Violations},
    },
    jobs::{self, persona::Mode},
    api::personas,
    api::state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quiz/questions", get(list_questions))
        .route("/quiz/submit", post(submit_quiz))
        .route("/quiz/persona-level", get(get_persona_level))
        .route("/quiz/upgrade-persona", post(upgrade_persona))
}

/// (question, [(option text, hidden trait words)]).
type Question = (&'static str, [(&'static str, &'static [&'static str]); 4]);

const QUESTIONS: [Question; 5] = [
    (
        "주말에 가장 하고 싶은 일은?",
        [
            ("친구들과 새로운 곳에 놀러 가기", &["외향적인", "모험을 즐기는"]),
            ("집에서 책이나 영화 보며 쉬기", &["내향적인", "사색적인"]),
            ("새로운 취미나 기술 배우기", &["호기심 많은", "성장 지향적인"]),
            ("계획 없이 그날 기분대로 보내기", &["자유로운", "즉흥적인"]),
        ],
    ),
    (
        "친구가 고민을 털어놓을 때 나는?",
        [
            ("끝까지 들어주며 공감한다", &["공감 능력이 높은", "따뜻한"]),
            ("현실적인 해결책을 함께 찾는다", &["논리적인", "실용적인"]),
            ("기분 전환이 되도록 밖으로 데리고 나간다", &["활동적인", "배려심 깊은"]),
            ("비슷한 내 경험을 나눈다", &["솔직한", "친근한"]),
        ],
    ),
    (
        "팀 프로젝트에서 나의 스타일은?",
        [
            ("전체 계획을 세우고 이끈다", &["리더십 있는", "체계적인"]),
            ("아이디어를 많이 낸다", &["창의적인", "열정적인"]),
            ("맡은 부분을 꼼꼼히 완성한다", &["성실한", "꼼꼼한"]),
            ("팀 분위기를 좋게 만든다", &["유쾌한", "협력적인"]),
        ],
    ),
    (
        "스트레스를 받을 때 나는?",
        [
            ("운동이나 산책으로 푼다", &["건강한", "에너지 넘치는"]),
            ("일기를 쓰거나 혼자 생각을 정리한다", &["성찰적인", "차분한"]),
            ("맛있는 음식을 먹거나 쇼핑한다", &["감각적인", "낙천적인"]),
            ("믿는 사람과 이야기한다", &["관계 중심적인", "솔직한"]),
        ],
    ),
    (
        "내가 가장 중요하게 여기는 가치는?",
        [
            ("성장과 도전", &["도전적인", "목표 지향적인"]),
            ("사람과의 관계", &["다정한", "사교적인"]),
            ("마음의 평화", &["평온한", "균형 잡힌"]),
            ("자유와 개성", &["독립적인", "개성 있는"]),
        ],
    ),
];

#[derive(Serialize, ToSchema)]
pub struct Questions {
    questions: Vec<QuestionOut>,
    total_questions: usize,
}

#[derive(Serialize, ToSchema)]
pub struct QuestionOut {
    id: usize,
    question: &'static str,
    options: Vec<OptionOut>,
}

#[derive(Serialize, ToSchema)]
pub struct OptionOut {
    id: &'static str,
    text: &'static str,
}

const OPTION_IDS: [&str; 4] = ["a", "b", "c", "d"];

#[utoipa::path(get, path = "/api/v1/quiz/questions", tag = "quiz", security(("bearer" = [])), responses((status = 200, body = Questions)))]
async fn list_questions(_auth: AuthUser) -> Json<Questions> {
    let questions = QUESTIONS
        .iter()
        .enumerate()
        .map(|(i, (question, options))| QuestionOut {
            id: i + 1,
            question,
            options: options.iter().zip(OPTION_IDS).map(|((text, _), id)| OptionOut { id, text }).collect(),
        })
        .collect();
    Json(Questions { questions, total_questions: QUESTIONS.len() })
}

#[derive(Deserialize, ToSchema)]
struct Submit {
    answers: Vec<Answer>,
}

#[derive(Deserialize, ToSchema)]
struct Answer {
    question_id: i64,
    option_id: OptionId,
}

#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
enum OptionId {
    A,
    B,
    C,
    D,
}

impl Validate for Submit {
    fn validate(&self, v: &mut Violations) {
        let n = self.answers.len();
        if n != QUESTIONS.len() {
            let (kind, msg) = if n < QUESTIONS.len() {
                ("too_short", format!("List should have at least 5 items after validation, not {n}"))
            } else {
                ("too_long", format!("List should have at most 5 items after validation, not {n}"))
            };
            v.push(
                "answers",
                kind,
                msg,
                json!(n),
                Some(json!({ "field_type": "List", "min_length": 5, "max_length": 5, "actual_length": n })),
            );
        }
        for answer in &self.answers {
            v.range("answers.question_id", answer.question_id, 1, Some(5));
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Submitted {
    success: bool,
    persona_id: i64,
    persona_name: String,
    persona_level: String,
    message: String,
}

#[utoipa::path(post, path = "/api/v1/quiz/submit", tag = "quiz", security(("bearer" = [])), request_body = Submit,
    responses((status = 200, body = Submitted), (status = 202, description = "With `Prefer: respond-async`"),
        (status = 400, description = "Duplicate answer for question N | You already have a persona. Use regenerate endpoint to update.", body = crate::platform::error::ErrorBody),
        (status = 500, description = "Failed to generate persona. Please try again.", body = crate::platform::error::ErrorBody)))]
async fn submit_quiz(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    Body(body): Body<Submit>,
) -> ApiResult<Response> {
    let mut seen = [false; 5];
    let mut traits = Vec::new();
    for answer in &body.answers {
        let index = (answer.question_id - 1) as usize;
        if std::mem::replace(&mut seen[index], true) {
            return Err(ApiError::bad_request(format!("Duplicate answer for question {}", answer.question_id)));
        }
        traits.extend(QUESTIONS[index].1[answer.option_id as usize].1.iter().map(|t| (*t).to_owned()));
    }
    let mut db = state.db.writer().await?;
    if personas::load(&mut db, auth.id()).await?.is_some() {
        return Err(ApiError::bad_request("You already have a persona. Use regenerate endpoint to update."));
    }
    drop(db);
    let job_id = personas::enqueue(&state, auth.id(), Mode::Quiz { traits }).await?;
    if jobs::prefers_async(&headers) {
        return Ok(jobs::accepted(&job_id));
    }
    let persona =
        personas::wait_for_persona(&state, &job_id, auth.id(), "Failed to generate persona. Please try again.").await?;
    Ok(Json(Submitted {
        success: true,
        persona_id: persona.id,
        persona_name: persona.name,
        persona_level: persona.level,
        message: "임시 페르소나가 만들어졌어요! 일기를 쓰면 페르소나가 성장해요.".into(),
    })
    .into_response())
}

/// (level, UI label, description, minimum diaries, next level).
const LEVELS: [(&str, &str, &str, i64, Option<&str>); 3] = [
    ("temporary", "임시 페르소나", "퀴즈 답변으로 만들어진 첫 페르소나예요.", 0, Some("basic")),
    ("basic", "기본 페르소나", "일기 3개로 성장한 페르소나예요.", 3, Some("complete")),
    ("complete", "완전한 페르소나", "일기 7개 이상으로 완성된 페르소나예요.", 7, None),
];

fn level(name: &str) -> Option<&'static (&'static str, &'static str, &'static str, i64, Option<&'static str>)> {
    LEVELS.iter().find(|l| l.0 == name)
}

#[derive(Serialize, ToSchema)]
pub struct PersonaLevel {
    current_level: Option<String>,
    level_name: String,
    description: String,
    diary_count: i64,
    next_level: Option<String>,
    next_level_name: Option<String>,
    diaries_needed: Option<i64>,
    progress_percent: i64,
}

/// Without a persona: 200 with `current_level: null` (the original 500'd).
#[utoipa::path(get, path = "/api/v1/quiz/persona-level", tag = "quiz", security(("bearer" = [])), responses((status = 200, body = PersonaLevel)))]
async fn get_persona_level(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<PersonaLevel>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_one(
            "select (select level from personas where user_id = $1), (select count(*) from diaries where user_id = $1)",
            &[(&auth.id(), Type::INT8)],
        )
        .await?;
    let current: Option<String> = row.get(0);
    let count: i64 = row.get(1);
    let Some(&(name, label, description, min, next)) = current.as_deref().and_then(level) else {
        return Ok(Json(PersonaLevel {
            current_level: None,
            level_name: "페르소나 없음".into(),
            description: "퀴즈를 완료하면 임시 페르소나가 만들어져요.".into(),
            diary_count: count,
            next_level: Some("temporary".into()),
            next_level_name: Some("임시 페르소나".into()),
            diaries_needed: Some(0),
            progress_percent: 0,
        }));
    };
    let next_info = next.and_then(level);
    let (diaries_needed, progress) = match next_info {
        Some(&(_, _, _, next_at, _)) => {
            (Some((next_at - count).max(0)), (((count - min) as f64 / (next_at - min) as f64) * 100.0).floor() as i64)
        }
        None => (None, 100),
    };
    Ok(Json(PersonaLevel {
        current_level: Some(name.into()),
        level_name: label.into(),
        description: description.into(),
        diary_count: count,
        next_level: next.map(Into::into),
        next_level_name: next_info.map(|l| l.1.to_owned()),
        diaries_needed,
        progress_percent: progress.min(100),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Upgraded {
    success: bool,
    new_level: String,
    level_name: String,
    message: String,
}

#[utoipa::path(post, path = "/api/v1/quiz/upgrade-persona", tag = "quiz", security(("bearer" = [])),
    responses((status = 200, body = Upgraded), (status = 202, description = "With `Prefer: respond-async`"),
        (status = 400, description = "No persona found. Complete the quiz first. | Your persona is already at the highest level. | Write N more diaries to upgrade.", body = crate::platform::error::ErrorBody),
        (status = 500, description = "Failed to upgrade persona. Please try again.", body = crate::platform::error::ErrorBody)))]
async fn upgrade_persona(State(state): State<AppState>, auth: AuthUser, headers: HeaderMap) -> ApiResult<Response> {
    let mut db = state.db.writer().await?;
    let persona = personas::load(&mut db, auth.id())
        .await?
        .ok_or_else(|| ApiError::bad_request("No persona found. Complete the quiz first."))?;
    let Some(&(_, _, _, _, Some(next))) = level(&persona.level) else {
        return Err(ApiError::bad_request("Your persona is already at the highest level."));
    };
    let &(_, next_label, _, next_at, _) = level(next).expect("next level exists");
    let count: i64 =
        db.query_one("select count(*) from diaries where user_id = $1", &[(&auth.id(), Type::INT8)]).await?.get(0);
    if count < next_at {
        return Err(ApiError::bad_request(format!("Write {} more diaries to upgrade.", next_at - count)));
    }
    drop(db);
    let job_id = personas::enqueue(&state, auth.id(), Mode::Upgrade { to: next.into() }).await?;
    if jobs::prefers_async(&headers) {
        return Ok(jobs::accepted(&job_id));
    }
    let persona =
        personas::wait_for_persona(&state, &job_id, auth.id(), "Failed to upgrade persona. Please try again.").await?;
    Ok(Json(Upgraded {
        success: true,
        new_level: persona.level,
        level_name: next_label.into(),
        message: format!("페르소나가 {next_label}(으)로 성장했어요!"),
    })
    .into_response())
}
