//! Request and response bodies of the quiz endpoints.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::questions::QUESTIONS;
use crate::platform::http::validate::{Validate, Violations};

#[derive(Serialize, ToSchema)]
pub struct Questions {
    pub questions: Vec<QuestionOut>,
    pub total_questions: usize,
}

#[derive(Serialize, ToSchema)]
pub struct QuestionOut {
    pub id: usize,
    pub question: &'static str,
    pub options: Vec<OptionOut>,
}

#[derive(Serialize, ToSchema)]
pub struct OptionOut {
    pub id: &'static str,
    pub text: &'static str,
}

#[derive(Deserialize, ToSchema)]
pub struct Submit {
    /// Exactly one answer per question.
    #[schema(min_items = 5, max_items = 5)]
    pub answers: Vec<Answer>,
}

#[derive(Deserialize, ToSchema)]
pub struct Answer {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub question_id: i64,
    pub option_id: OptionId,
}

#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OptionId {
    A,
    B,
    C,
    D,
}

/// One answer per question: exactly five, each naming a question 1-5 (duplicates are a 400,
/// checked by the handler).
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
        for (i, answer) in self.answers.iter().enumerate() {
            v.at(&["answers".into(), i.into()], |v| v.range("question_id", answer.question_id, 1, Some(5)));
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Submitted {
    pub success: bool,
    pub persona_id: i64,
    pub persona_name: String,
    pub persona_level: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct PersonaLevel {
    pub current_level: Option<String>,
    pub level_name: String,
    pub description: String,
    pub diary_count: i64,
    pub next_level: Option<String>,
    pub next_level_name: Option<String>,
    pub diaries_needed: Option<i64>,
    pub progress_percent: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Upgraded {
    pub success: bool,
    pub new_level: String,
    pub level_name: String,
    pub message: String,
}
