//! Why a job failed: recorded in `ai_jobs.error` (its `Display`) and logged with its cause chain
//! (its `Debug`), never replaced by a silent fallback.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the AI service failed: {0}")]
    Llm(#[from] crate::llm::LlmError),
    #[error("{0}")]
    Invalid(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A database call failed; the source chain says why.
    #[error("internal error: {0}")]
    Db(#[from] crate::platform::db::Error),
}

impl JobError {
    /// Whether running again later may succeed: a database outage or timeout. (LLM calls retry
    /// on their own, with backoff, before they fail a job.)
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Db(e) if e.is_transient())
    }
}

/// What a job returns: the result stored in `ai_jobs.result`, if any.
pub type JobResult = Result<Option<Value>, JobError>;
