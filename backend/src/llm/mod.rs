//! The LLM client: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, or our own
//! `dev-llm` server) through async-openai, configured by settings alone.
//!
//! Only the worker calls it. Every call goes through a per-process semaphore (a burst of jobs
//! cannot flood the provider), has a per-attempt timeout, and is retried with exponential backoff
//! (honouring `Retry-After` on 429) a bounded number of times; then it fails with a typed error
//! that the job records. async-openai's own retry layer is replaced by a plain transport plus our
//! layer, so there is exactly one retry policy. Prompts and replies are never logged.

mod devembed;
pub mod devserver;
pub mod embed;
pub mod prompts;
pub mod usage;

use std::{sync::Arc, time::Duration};

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::OpenAIError,
    middleware::{HttpRequestFactory, ReqwestService},
    types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse},
};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Semaphore;

pub use prompts::Prompt;

use crate::platform::settings::LlmSettings;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    #[error("provider error: {0}")]
    Server(String),
    #[error("timed out")]
    Timeout,
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    #[error("{0}")]
    Other(String),
}

impl LlmError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Server(_) => "server",
            Self::Timeout => "timeout",
            Self::InvalidOutput(_) => "invalid_output",
            Self::Other(_) => "other",
        }
    }

    fn retryable(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

/// Marks a 429 inside the transport, where the `Retry-After` header is still visible.
#[derive(Debug)]
struct RateLimitedResponse(Option<Duration>);

impl std::fmt::Display for RateLimitedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "429 Too Many Requests")
    }
}

impl std::error::Error for RateLimitedResponse {}

fn classify(err: OpenAIError) -> LlmError {
    match err {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<RateLimitedResponse>() {
            Ok(rl) => LlmError::RateLimited { retry_after: rl.0 },
            Err(other) => LlmError::Server(other.to_string()),
        },
        OpenAIError::ApiError(api) if api.status_code.as_u16() == 429 => LlmError::RateLimited { retry_after: None },
        OpenAIError::ApiError(api) if api.status_code.is_server_error() => LlmError::Server(api.to_string()),
        OpenAIError::ApiError(api) => LlmError::Other(api.to_string()),
        OpenAIError::Reqwest(e) if e.is_timeout() => LlmError::Timeout,
        OpenAIError::Reqwest(e) => LlmError::Server(e.to_string()),
        OpenAIError::JSONDeserialize(e, _) => LlmError::InvalidOutput(e.to_string()),
        OpenAIError::StreamError(e) => LlmError::Server(e.to_string()),
        other => LlmError::Other(other.to_string()),
    }
}

#[derive(Clone)]
pub struct Llm {
    client: Client<OpenAIConfig>,
    settings: LlmSettings,
    permits: Arc<Semaphore>,
    /// Background prompts take one of these first: at most half of `permits` (at least one), so
    /// background work always leaves LLM calls free for the prompts someone waits on.
    background: Arc<Semaphore>,
}

impl Llm {
    pub fn new(settings: LlmSettings) -> anyhow::Result<Self> {
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.trim_end_matches('/'))
            .with_api_key(settings.api_key.expose());
        // No whole-request timeout (it would cut long streams): connect and read timeouts only,
        // plus our per-attempt timeout around each call.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(settings.timeout)
            .build()?;
        let transport = ReqwestService::new(http);
        let service = tower::service_fn(move |request: HttpRequestFactory| {
            let mut transport = transport.clone();
            async move {
                use tower::Service;
                let response = transport.call(request).await?;
                if response.status().as_u16() == 429 {
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(Duration::from_secs_f64);
                    return Err(OpenAIError::Boxed(Box::new(RateLimitedResponse(retry_after))));
                }
                Ok(response)
            }
        });
        Ok(Self {
            client: Client::with_config(config).with_http_service(service),
            permits: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
            background: Arc::new(Semaphore::new((settings.max_concurrency / 2).max(1))),
            settings,
        })
    }

    /// The permits one call holds: a background one first for a background prompt, then one
    /// of the shared ones.
    async fn permits(
        &self,
        prompt: &Prompt,
    ) -> Result<(Option<tokio::sync::SemaphorePermit<'_>>, tokio::sync::SemaphorePermit<'_>), LlmError> {
        self.permits_for(prompt.background).await
    }

    async fn permits_for(
        &self,
        background: bool,
    ) -> Result<(Option<tokio::sync::SemaphorePermit<'_>>, tokio::sync::SemaphorePermit<'_>), LlmError> {
        let closed = |e: tokio::sync::AcquireError| LlmError::Other(e.to_string());
        let background = match background {
            true => Some(self.background.acquire().await.map_err(closed)?),
            false => None,
        };
        Ok((background, self.permits.acquire().await.map_err(closed)?))
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    fn request(&self, prompt: &Prompt, stream: bool) -> Result<CreateChatCompletionRequest, LlmError> {
        let mut body = json!({
            "model": self.settings.model,
            "messages": prompt.messages(),
            "max_completion_tokens": prompt.max_tokens,
            "temperature": prompt.temperature,
        });
        if prompt.json {
            body["response_format"] = json!({ "type": "json_object" });
        }
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({ "include_usage": true });
        }
        serde_json::from_value(body).map_err(|e| LlmError::Other(format!("building the request: {e}")))
    }

    /// A JSON answer, parsed into `T` and validated; retried as a whole on any retryable failure.
    pub async fn complete_json<T, V>(&self, prompt: &Prompt, validate: V) -> Result<T, LlmError>
    where
        T: DeserializeOwned,
        V: Fn(&T) -> Result<(), String>,
    {
        self.with_retries(prompt, || async {
            let text = self.complete_once(prompt).await?;
            let value: T =
                serde_json::from_str(strip_fences(&text)).map_err(|e| LlmError::InvalidOutput(e.to_string()))?;
            validate(&value).map_err(LlmError::InvalidOutput)?;
            Ok(value)
        })
        .await
    }

    /// Streams a text answer, sending every piece to `pieces`. Retried only until the first
    /// piece: a reply half-shown to the user cannot be taken back.
    pub async fn stream_text(
        &self,
        prompt: &Prompt,
        pieces: &tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<String, LlmError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut started = false;
            let result = self.stream_once(prompt, &mut started, pieces).await;
            match result {
                Ok(text) => return Ok(text),
                Err(err) if !started && err.retryable() && attempt < self.settings.max_attempts => {
                    tokio::time::sleep(self.delay(attempt, &err)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn with_retries<T, F, Fut>(&self, prompt: &Prompt, mut call: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Ok(value) => return Ok(value),
                Err(err) if err.retryable() && attempt < self.settings.max_attempts => {
                    tracing::warn!(op = prompt.op, attempt, error = %err, "llm call failed; retrying");
                    tokio::time::sleep(self.delay(attempt, &err)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Exponential backoff from `backoff` (x2 per attempt, capped at 30 s), or the provider's
    /// `Retry-After` when it gave one.
    fn delay(&self, attempt: u32, err: &LlmError) -> Duration {
        if let LlmError::RateLimited { retry_after: Some(after) } = err {
            return (*after).min(Duration::from_secs(60));
        }
        self.settings.backoff.saturating_mul(1 << (attempt - 1).min(6)).min(Duration::from_secs(30))
    }

    async fn complete_once(&self, prompt: &Prompt) -> Result<String, LlmError> {
        let request = self.request(prompt, false)?;
        let _permits = self.permits(prompt).await?;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.settings.timeout, self.client.chat().create(request)).await;
        let result: Result<CreateChatCompletionResponse, LlmError> = match result {
            Ok(r) => r.map_err(classify),
            Err(_) => Err(LlmError::Timeout),
        };
        self.observe(prompt.op, started, result.as_ref().err());
        let response = result?;
        if let Some(usage) = &response.usage {
            self.count_tokens(prompt.op, usage.prompt_tokens, usage.completion_tokens);
        }
        response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| LlmError::InvalidOutput("empty answer".into()))
    }

    async fn stream_once(
        &self,
        prompt: &Prompt,
        started: &mut bool,
        pieces: &tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<String, LlmError> {
        let request = self.request(prompt, true)?;
        let _permits = self.permits(prompt).await?;
        let began = std::time::Instant::now();
        let timeout = self.settings.timeout;
        let result: Result<String, LlmError> = async {
            let mut stream = tokio::time::timeout(timeout, self.client.chat().create_stream(request))
                .await
                .map_err(|_| LlmError::Timeout)?
                .map_err(classify)?;
            let mut text = String::new();
            // Each piece must arrive within the timeout: a provider that stalls mid-reply fails.
            while let Some(chunk) = tokio::time::timeout(timeout, stream.next()).await.map_err(|_| LlmError::Timeout)? {
                let chunk = chunk.map_err(classify)?;
                if let Some(usage) = &chunk.usage {
                    self.count_tokens(prompt.op, usage.prompt_tokens, usage.completion_tokens);
                }
                for choice in chunk.choices {
                    if let Some(piece) = choice.delta.content.filter(|p| !p.is_empty()) {
                        *started = true;
                        text.push_str(&piece);
                        let _ = pieces.send(piece);
                    }
                }
            }
            if text.trim().is_empty() {
                return Err(LlmError::InvalidOutput("empty answer".into()));
            }
            Ok(text)
        }
        .await;
        self.observe(prompt.op, began, result.as_ref().err());
        result
    }

    fn observe(&self, op: &'static str, started: std::time::Instant, error: Option<&LlmError>) {
        let model = self.settings.model.clone();
        metrics::counter!("llm_requests_total", "operation" => op, "model" => model.clone()).increment(1);
        metrics::histogram!("llm_request_duration_seconds", "operation" => op, "model" => model.clone())
            .record(started.elapsed().as_secs_f64());
        if let Some(err) = error {
            metrics::counter!("llm_errors_total", "kind" => err.kind(), "operation" => op, "model" => model)
                .increment(1);
        }
    }

    fn count_tokens(&self, op: &'static str, prompt_tokens: u32, completion_tokens: u32) {
        usage::add(u64::from(prompt_tokens) + u64::from(completion_tokens));
        let model = self.settings.model.clone();
        metrics::counter!("llm_tokens_total", "direction" => "in", "operation" => op, "model" => model.clone())
            .increment(u64::from(prompt_tokens));
        metrics::counter!("llm_tokens_total", "direction" => "out", "operation" => op, "model" => model)
            .increment(u64::from(completion_tokens));
    }
}

/// Some models wrap JSON in Markdown fences even in JSON mode.
fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let t = t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).unwrap_or(t);
    t.strip_suffix("```").unwrap_or(t).trim()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fenced_json_is_unwrapped() {
        assert_eq!(super::strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(super::strip_fences(" {\"a\":1} "), "{\"a\":1}");
    }
}
