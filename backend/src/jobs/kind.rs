//! The job kinds: the names `ai_jobs.kind`, the metrics' `job` label and the logs use.

/// What a job does; one per [`AiJob`](super::AiJob) variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Persona,
    ChatReply,
    DiaryAnalysis,
    MentalReport,
    WeeklySummary,
    PromptSuggestions,
    ScheduleReports,
}

impl JobKind {
    /// Every kind, so per-kind metrics can start at zero.
    pub const ALL: [Self; 7] = [
        Self::Persona,
        Self::ChatReply,
        Self::DiaryAnalysis,
        Self::MentalReport,
        Self::WeeklySummary,
        Self::PromptSuggestions,
        Self::ScheduleReports,
    ];

    /// The kind's name as stored in `ai_jobs.kind` and used as the metrics' `job` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persona => "persona",
            Self::ChatReply => "chat_reply",
            Self::DiaryAnalysis => "diary_analysis",
            Self::MentalReport => "mental_report",
            Self::WeeklySummary => "weekly_summary",
            Self::PromptSuggestions => "prompt_suggestions",
            Self::ScheduleReports => "schedule_reports",
        }
    }

    /// The kind of a queued job from its JSON `type` (see [`AiJob`](super::AiJob)).
    pub fn from_variant(variant: &str) -> Option<Self> {
        Some(match variant {
            "persona" => Self::Persona,
            "chat_reply" => Self::ChatReply,
            "analyze_diary" => Self::DiaryAnalysis,
            "report" => Self::MentalReport,
            "weekly_summary" => Self::WeeklySummary,
            "prompt_suggestions" => Self::PromptSuggestions,
            "schedule_reports" => Self::ScheduleReports,
            _ => return None,
        })
    }

    /// Every kind's name (what the metrics register at zero).
    pub fn names() -> [&'static str; 7] {
        Self::ALL.map(Self::as_str)
    }
}
