//! The quiz's five questions and submitting the answers, which starts the temporary persona.

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::types::{Answer, OptionOut, QuestionOut, Questions, Submit, Submitted};
use crate::{
    api::{
        auth::session::AuthUser,
        personas::{Outcome, run_job},
        state::AppState,
    },
    data::personas,
    jobs::persona::Mode,
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::Body,
    },
};

/// (question, [(option text, hidden trait words)]).
type Question = (&'static str, [(&'static str, &'static [&'static str]); 4]);

pub const QUESTIONS: [Question; 5] = [
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

const OPTION_IDS: [&str; 4] = ["a", "b", "c", "d"];

#[utoipa::path(
    get, path = "/api/v1/quiz/questions", tag = "quiz",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Questions),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_questions(auth: AuthUser) -> Json<Questions> {
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

/// The trait words the answers stand for, in answer order; a second answer to a question is a
/// 400. The answers were validated: question ids are 1-5.
fn traits_of(answers: &[Answer]) -> ApiResult<Vec<String>> {
    let mut seen = [false; 5];
    let mut traits = Vec::new();
    for answer in answers {
        // Validation keeps the question id in 1-5; this only guards against that ever changing.
        let index = usize::try_from(answer.question_id - 1).ok();
        let Some((index, option)) = index.and_then(|i| Some((i, QUESTIONS.get(i)?.1[answer.option_id as usize])))
        else {
            return Err(ApiError::bad_request("Invalid answer"));
        };
        if std::mem::replace(&mut seen[index], true) {
            return Err(ApiError::bad_request(format!("Duplicate answer for question {}", answer.question_id)));
        }
        traits.extend(option.1.iter().map(|t| (*t).to_owned()));
    }
    Ok(traits)
}

#[utoipa::path(
    post, path = "/api/v1/quiz/submit", tag = "quiz",
    security(("bearer" = [])),
    request_body = Submit,
    responses(
        (status = 200, body = Submitted),
        (status = 202, description = "With `Prefer: respond-async`"),
        (status = 400, description = "Duplicate answer for question N | You already have a persona. Use regenerate endpoint to update.", body = ErrorBody),
        Unauthenticated,
        Invalid,
        (status = 500, description = "Failed to generate persona. Please try again.", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn submit_quiz(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    Body(body): Body<Submit>,
) -> ApiResult<Response> {
    let traits = traits_of(&body.answers)?;
    let mut db = state.db.writer().await?;
    if personas::find(&mut db, auth.id()).await?.is_some() {
        return Err(ApiError::bad_request("You already have a persona. Use regenerate endpoint to update."));
    }
    drop(db);
    let failure = "Failed to generate persona. Please try again.";
    let persona = match run_job(&state, &headers, auth.id(), Mode::Quiz { traits }, failure).await? {
        Outcome::Accepted(response) => return Ok(response),
        Outcome::Stored(persona) => persona,
    };
    Ok(Json(Submitted {
        success: true,
        persona_id: persona.id,
        persona_name: persona.name,
        persona_level: persona.level,
        message: "임시 페르소나가 만들어졌어요! 일기를 쓰면 페르소나가 성장해요.".into(),
    })
    .into_response())
}
