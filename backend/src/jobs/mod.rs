//! Background jobs: every LLM call runs here, in `dearme worker`, never on the request path.
//!
//! The contract the API and the worker share: [`AiJob`] (the queued payload), its [`JobKind`],
//! the [`JobState`]s of its `ai_jobs` row ([`JobStatus`]), the reply [`stream`] events, and
//! [`enqueue`] (the queue's table SQL, in `queue`). The worker runs each job with a
//! [`Context`](worker::Context) of its own; nothing here knows about HTTP.

pub mod analysis;
pub mod chat;
mod context;
pub mod embed;
mod error;
mod kind;
mod lifecycle;
pub mod persona;
mod queue;
mod reads;
pub mod report;
mod retrieve;
mod schedule;
pub mod status;
pub mod stream;
pub mod summary;
pub mod worker;

use serde::{Deserialize, Serialize};

pub use kind::JobKind;
pub use queue::{BACKGROUND_QUEUE, Batch, INTERACTIVE_QUEUE, enqueue, enqueue_many, new_job_id};
pub use status::{JobState, JobStatus};

/// Which queue a job waits in. Each has its own workers, and background jobs may hold at most
/// half of the LLM calls in flight (`llm::Prompt::background`), so a flood of background work
/// never delays another user's chat reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobClass {
    Interactive,
    Background,
}

impl JobClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::Background => "background",
        }
    }

    /// The apalis queue (`job_type`) of the class.
    pub fn queue(self) -> &'static str {
        match self {
            Self::Interactive => INTERACTIVE_QUEUE,
            Self::Background => BACKGROUND_QUEUE,
        }
    }
}

/// A queued job: apalis stores it as JSON (`type` names the variant) and the worker runs it.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AiJob {
    Persona {
        job_id: String,
        user_id: i64,
        mode: persona::Mode,
    },
    ChatReply {
        job_id: String,
        user_id: i64,
        chat_id: i64,
        user_message_id: i64,
    },
    AnalyzeDiary {
        job_id: String,
        user_id: i64,
        diary_id: i64,
    },
    Report {
        job_id: String,
        user_id: i64,
        kind: report::Kind,
        period_start: chrono::NaiveDate,
        /// Made by the schedule's fan-out (background), not asked for by the user.
        #[serde(default)]
        scheduled: bool,
    },
    WeeklySummary {
        job_id: String,
        user_id: i64,
        week_start: chrono::NaiveDate,
    },
    PromptSuggestions {
        job_id: String,
        user_id: i64,
        day: chrono::NaiveDate,
    },
    /// Fans a scheduled tick out into one report job per active user.
    ScheduleReports {
        job_id: String,
        kind: report::Kind,
        period_start: chrono::NaiveDate,
    },
}

impl AiJob {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Persona { .. } => JobKind::Persona,
            Self::ChatReply { .. } => JobKind::ChatReply,
            Self::AnalyzeDiary { .. } => JobKind::DiaryAnalysis,
            Self::Report { .. } => JobKind::MentalReport,
            Self::WeeklySummary { .. } => JobKind::WeeklySummary,
            Self::PromptSuggestions { .. } => JobKind::PromptSuggestions,
            Self::ScheduleReports { .. } => JobKind::ScheduleReports,
        }
    }

    pub fn job_id(&self) -> &str {
        match self {
            Self::Persona { job_id, .. }
            | Self::ChatReply { job_id, .. }
            | Self::AnalyzeDiary { job_id, .. }
            | Self::Report { job_id, .. }
            | Self::WeeklySummary { job_id, .. }
            | Self::PromptSuggestions { job_id, .. }
            | Self::ScheduleReports { job_id, .. } => job_id,
        }
    }

    /// The row the job is about, when one is worth looking it up by.
    pub fn subject_id(&self) -> Option<i64> {
        match self {
            Self::ChatReply { user_message_id, .. } => Some(*user_message_id),
            Self::AnalyzeDiary { diary_id, .. } => Some(*diary_id),
            _ => None,
        }
    }

    /// Whether someone waits on this job (a streaming chat reply, a persona or a report asked
    /// for): such a job is due at once, and apalis's insert trigger NOTIFYs the workers. Other
    /// jobs are due a moment later, so the trigger stays quiet and a worker's poll
    /// (`WORKER_POLL_INTERVAL_MS`) finds them: a transaction that NOTIFYs takes a database-wide
    /// lock from pre-commit to the end of its commit, WAL flush included, which serialized every
    /// diary write behind the one before it (README, "Performance").
    pub fn wakes_worker(&self) -> bool {
        self.class() == JobClass::Interactive
    }

    /// Someone waits on an interactive job (a chat reply, a persona or a report asked for); a
    /// background one (analyses, summaries, suggestions, scheduled reports) nobody watches.
    pub fn class(&self) -> JobClass {
        match self {
            Self::Persona { .. } | Self::ChatReply { .. } | Self::Report { scheduled: false, .. } => {
                JobClass::Interactive
            }
            _ => JobClass::Background,
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match self {
            Self::Persona { user_id, .. }
            | Self::ChatReply { user_id, .. }
            | Self::AnalyzeDiary { user_id, .. }
            | Self::Report { user_id, .. }
            | Self::WeeklySummary { user_id, .. }
            | Self::PromptSuggestions { user_id, .. } => Some(*user_id),
            Self::ScheduleReports { .. } => None,
        }
    }
}
