//! The feedback shown with an analysis: what the diary job stores, or fixed texts per overall
//! status while there is none.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
/// unknown status reads as neutral).
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

/// The stored feedback, or the fallback for `overall_status` while there is none (or what is
/// stored does not parse).
pub fn feedback_or_fallback(stored: Option<serde_json::Value>, overall_status: &str) -> MentalFeedback {
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

#[cfg(test)]
mod tests {
    use super::fallback_feedback;

    #[test]
    fn fallback_feedback_covers_every_status_and_reads_unknown_as_neutral() {
        assert_eq!(fallback_feedback("good").emoji, "😊");
        assert_eq!(fallback_feedback("whatever"), fallback_feedback("neutral"));
        for status in super::super::OVERALL_STATUSES {
            let f = fallback_feedback(status);
            assert!(!f.status_label.is_empty() && !f.message.is_empty() && f.suggestion.is_some());
        }
    }
}
