//! Values that must agree with each other or with the deployment: the timeouts against nginx's,
//! and the LLM provider against its URL.

use std::time::Duration;

use super::Env;
use crate::platform::{
    http::timeout::WAIT_MARGIN,
    settings::{LlmProvider, Settings},
};

/// nginx's `proxy_read_timeout` for the API (nginx/nginx.conf.template): a response slower than
/// this is cut by nginx with a 504, whatever the API would have answered.
const NGINX_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A waiting endpoint answers within `JOB_WAIT_TIMEOUT_MS` + [`WAIT_MARGIN`]; that must end
/// before nginx gives up, with [`WAIT_MARGIN`] to spare again.
const MAX_JOB_WAIT: Duration = NGINX_READ_TIMEOUT.saturating_sub(WAIT_MARGIN).saturating_sub(WAIT_MARGIN);

pub(super) fn timeouts(s: &Settings, env: &mut Env<'_>) {
    for (name, value) in
        [("JOB_WAIT_TIMEOUT_MS", s.job_wait_timeout), ("STREAM_IDLE_TIMEOUT_MS", s.stream_idle_timeout)]
    {
        if value.is_zero() && !env.failed(name) {
            env.report(name, "must be greater than 0");
        }
    }
    if s.job_wait_timeout > MAX_JOB_WAIT && !env.failed("JOB_WAIT_TIMEOUT_MS") {
        env.report(
            "JOB_WAIT_TIMEOUT_MS",
            format!(
                "{} ms must be at most {} ms: a waiting endpoint answers within it + {} s, which must stay under \
                 nginx's proxy_read_timeout ({} s)",
                s.job_wait_timeout.as_millis(),
                MAX_JOB_WAIT.as_millis(),
                WAIT_MARGIN.as_secs(),
                NGINX_READ_TIMEOUT.as_secs(),
            ),
        );
    }
}

/// The provider is said, or implied by a real `LLM_BASE_URL`: never the development double by
/// accident.
pub(super) fn llm(s: &Settings, env: &mut Env<'_>) {
    if env.failed("LLM_PROVIDER") {
        return;
    }
    let provider_set = env.optional("LLM_PROVIDER").is_some();
    let url_set = env.optional("LLM_BASE_URL").is_some();
    match s.llm.provider {
        LlmProvider::Dev if !provider_set && !url_set => env.report(
            "LLM_PROVIDER",
            "must be set: dev for the development LLM (canned answers), or openai-compatible with LLM_BASE_URL \
             (setting LLM_BASE_URL alone implies openai-compatible)",
        ),
        LlmProvider::OpenAiCompatible if !url_set => env.report(
            "LLM_BASE_URL",
            "must be set with LLM_PROVIDER=openai-compatible (or set LLM_PROVIDER=dev for the development LLM)",
        ),
        _ => {}
    }
}
