//! An OpenAI-compatible development and test server (`dearme dev-llm`): the one double in the
//! system, at its network edge. It answers `POST /v1/chat/completions` (streaming and not) with
//! replies derived deterministically from the input, JSON shaped for each of our prompts (it reads
//! the `[dearme:<op> …]` marker), with configurable latency per request and per token, and
//! injectable failures: HTTP statuses (500, 429 with `Retry-After`, …) and hangs.
//!
//! Control endpoints (tests use them): `POST /_control/config {latency_ms, token_latency_ms}`,
//! `POST /_control/faults [{"kind":"status","status":500,"times":2}, {"kind":"hang","times":1}]`
//! (consumed in order, one per chat completion), `POST /_control/embeddings {"down": true}` (every
//! `/v1/embeddings` answers 503 until `false`; see `devembed`), `GET /_control/stats` (`{"requests": n, "in_flight": n,
//! "max_in_flight": n}`: the most requests it ever served at once).

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct DevConfig {
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub token_latency_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    Status {
        status: u16,
        #[serde(default)]
        retry_after_secs: Option<u64>,
        #[serde(default = "one")]
        times: u32,
    },
    Hang {
        #[serde(default = "one")]
        times: u32,
    },
}

fn one() -> u32 {
    1
}

#[derive(Default)]
struct DevState {
    config: Mutex<DevConfig>,
    faults: Mutex<VecDeque<Fault>>,
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Counts a request as in flight until dropped (also when the client goes away mid-request).
struct InFlight<'a>(&'a DevState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a DevState) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn router(config: DevConfig) -> Router {
    let state = Arc::new(DevState { config: Mutex::new(config), ..Default::default() });
    let embeddings_down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let down = embeddings_down.clone();
    let embeddings = Router::new()
        .route("/v1/embeddings", post(super::devembed::embeddings))
        .route(
            "/_control/embeddings",
            post(move |Json(body): Json<Value>| async move {
                down.store(body["down"].as_bool().unwrap_or(false), Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(embeddings_down);
    Router::new()
        .merge(embeddings)
        .route("/v1/chat/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/_control/config", post(set_config))
        .route("/_control/faults", post(set_faults))
        .route("/_control/stats", get(stats))
        .route("/health", get(|| async { Json(json!({ "status": "healthy" })) }))
        .with_state(state)
}

/// Serves on `addr` until the process ends.
pub async fn serve(addr: &str, config: DevConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "dev LLM server (OpenAI-compatible) listening");
    axum::serve(listener, router(config)).with_graceful_shutdown(crate::platform::shutdown::signal()).await?;
    Ok(())
}

/// Starts a server on a free loopback port (tests).
pub async fn spawn(config: DevConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router(config)).await });
    addr
}

async fn models() -> Json<Value> {
    Json(
        json!({ "object": "list", "data": [{ "id": "dev-model", "object": "model", "created": 0, "owned_by": "dearme" }] }),
    )
}

async fn set_config(State(state): State<Arc<DevState>>, Json(config): Json<DevConfig>) -> StatusCode {
    *state.config.lock().expect("config lock") = config;
    StatusCode::NO_CONTENT
}

async fn set_faults(State(state): State<Arc<DevState>>, Json(faults): Json<Vec<Fault>>) -> StatusCode {
    *state.faults.lock().expect("faults lock") = faults.into();
    StatusCode::NO_CONTENT
}

async fn stats(State(state): State<Arc<DevState>>) -> Json<Value> {
    Json(json!({
        "requests": state.requests.load(Ordering::Relaxed),
        "in_flight": state.in_flight.load(Ordering::SeqCst),
        "max_in_flight": state.max_in_flight.load(Ordering::SeqCst),
    }))
}

fn next_fault(state: &DevState) -> Option<Fault> {
    let mut faults = state.faults.lock().expect("faults lock");
    let front = faults.front_mut()?;
    let fault = front.clone();
    let times = match front {
        Fault::Status { times, .. } | Fault::Hang { times } => times,
    };
    *times -= 1;
    if *times == 0 {
        faults.pop_front();
    }
    Some(fault)
}

async fn completions(State(state): State<Arc<DevState>>, Json(body): Json<Value>) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight::enter(&state);
    let config = *state.config.lock().expect("config lock");
    match next_fault(&state) {
        Some(Fault::Status { status, retry_after_secs, .. }) => return injected_error(status, retry_after_secs),
        Some(Fault::Hang { .. }) => std::future::pending::<()>().await,
        None => {}
    }
    tokio::time::sleep(Duration::from_millis(config.latency_ms)).await;
    let completion = Completion::answering(&body);
    if body["stream"].as_bool() != Some(true) {
        return Json(completion.whole()).into_response();
    }
    let include_usage = body["stream_options"]["include_usage"].as_bool() == Some(true);
    stream_events(completion.chunks(include_usage), Duration::from_millis(config.token_latency_ms))
}

/// An injected provider error, as OpenAI shapes them.
fn injected_error(status: u16, retry_after_secs: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error = json!({ "error": { "message": format!("injected {status}"), "type": "server_error", "code": status.as_u16() } });
    let mut response = (status, Json(error)).into_response();
    if let Some(secs) = retry_after_secs {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The deterministic answer to one request, and its OpenAI-shaped envelopes.
struct Completion {
    id: String,
    model: String,
    created: i64,
    answer: String,
    usage: Value,
}

impl Completion {
    fn answering(body: &Value) -> Self {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let text_of = |m: &Value| m["content"].as_str().unwrap_or("").to_owned();
        let system = messages.first().map(text_of).unwrap_or_default();
        let user = messages.last().map(text_of).unwrap_or_default();
        let seed = fnv(messages.iter().map(text_of).collect::<Vec<_>>().join("\u{1}").as_bytes());
        let op = system.strip_prefix("[dearme:").and_then(|s| s.split([' ', ']']).next()).unwrap_or("chat");
        let answer = answer(op, &system, &user, seed);
        let prompt_tokens = messages.iter().map(|m| text_of(m).chars().count() as u64 / 3 + 1).sum::<u64>();
        let completion_tokens = answer.chars().count() as u64 / 3 + 1;
        Self {
            id: format!("chatcmpl-dev-{seed:x}"),
            model: body["model"].as_str().unwrap_or("dev-model").to_owned(),
            created: chrono::Utc::now().timestamp(),
            usage: json!({ "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens }),
            answer,
        }
    }

    fn whole(&self) -> Value {
        json!({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": self.answer }, "finish_reason": "stop" }],
            "usage": self.usage,
        })
    }

    /// The stream's `data:` payloads: a chunk per piece, the stop chunk, usage if asked, `[DONE]`.
    fn chunks(&self, include_usage: bool) -> Vec<String> {
        let chunk = |delta: Value, finish: Value| {
            json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        };
        let mut events: Vec<String> =
            pieces(&self.answer).into_iter().map(|p| chunk(json!({ "content": p }), Value::Null).to_string()).collect();
        events.push(chunk(json!({}), json!("stop")).to_string());
        if include_usage {
            events.push(json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": [], "usage": self.usage }).to_string());
        }
        events.push("[DONE]".into());
        events
    }
}

/// Server-sent events, one `data:` line each, `delay` apart.
fn stream_events(events: Vec<String>, delay: Duration) -> Response {
    let stream = futures_util::stream::unfold(events.into_iter(), move |mut events| async move {
        let event = events.next()?;
        tokio::time::sleep(delay).await;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(format!("data: {event}\n\n"))), events))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

/// Splits an answer into streaming pieces of a few characters (whole UTF-8 characters).
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn pick<'a>(options: &[&'a str], seed: u64, salt: u64) -> &'a str {
    options[((seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % options.len() as u64) as usize]
}

/// Mood words in the prompt nudge the scores, so analyses of happy and sad diaries differ.
fn mood_shift(text: &str) -> i64 {
    let positive = ["(happy)", "(excited)", "(grateful)", "(hopeful)", "(calm)"];
    let negative = ["(sad)", "(angry)", "(anxious)", "(lonely)", "(tired)"];
    let count = |words: &[&str]| words.iter().map(|w| text.matches(w).count() as i64).sum::<i64>();
    (count(&positive) - count(&negative)).clamp(-3, 3) * 10
}

fn answer(op: &str, system: &str, user: &str, seed: u64) -> String {
    let names = ["하루", "별빛", "온새미", "다온", "라온"];
    let traits = ["따뜻한", "호기심 많은", "차분한", "유쾌한", "성실한", "섬세한", "긍정적인"];
    match op {
        "persona" | "quiz_persona" => json!({
            "name": format!("{} 페르소나", pick(&names, seed, 1)),
            "personality": format!("{} 성격으로, 일상의 작은 순간을 소중히 여깁니다. 주변 사람들에게 힘이 되어 주려 합니다.", pick(&traits, seed, 2)),
            "traits": [pick(&traits, seed, 3), pick(&traits, seed, 4), pick(&traits, seed, 5)],
            "speaking_style": "다정하고 편안한 말투로 이야기합니다.",
        })
        .to_string(),
        "analysis" => {
            let base = 50 + mood_shift(user);
            let score = |salt: u64| (base + (((seed >> (salt * 5)) % 11) as i64) - 5).clamp(0, 100);
            let scores: Vec<i64> = (1..=6).map(score).collect();
            let average = scores.iter().sum::<i64>() / 6;
            let status = match average {
                65.. => "good",
                45..=64 => "neutral",
                30..=44 => "concerning",
                _ => "critical",
            };
            json!({
                "emotional_stability": scores[0], "vitality": scores[1], "self_esteem": scores[2],
                "positivity": scores[3], "social_connection": scores[4], "resilience": scores[5],
                "overall_status": status,
                "feedback": {
                    "status_label": match status { "good" => "좋음", "neutral" => "보통", "concerning" => "주의", _ => "위험" },
                    "message": "오늘의 기록에서 당신의 마음을 느낄 수 있었어요.",
                    "encouragement": "스스로를 돌보는 지금의 습관이 큰 힘이 될 거예요.",
                    "suggestion": "잠들기 전 10분 동안 오늘 좋았던 일을 떠올려 보세요.",
                    "emoji": match status { "good" => "😊", "neutral" => "🙂", "concerning" => "😟", _ => "😢" },
                }
            })
            .to_string()
        }
        "report" => json!({
            "insights": ["이번 기간 동안 감정이 비교적 안정적이었어요.", "사람들과의 교류가 기분에 좋은 영향을 주었어요.", "피곤한 날에는 긍정성이 낮아지는 경향이 있어요."],
            "recommendations": ["규칙적인 수면 시간을 지켜 보세요.", "가까운 사람과 대화하는 시간을 가져 보세요.", "하루 한 번 짧은 산책을 해 보세요."],
        })
        .to_string(),
        "weekly_summary" => json!({ "summary": format!("{} 한 주를 보냈어요.", pick(&["차분하게 마음을 돌본", "바쁘지만 의미 있는", "소소한 행복이 가득한"], seed, 6)) }).to_string(),
        "prompt_suggestions" => json!({ "prompts": [
            { "title": "오늘의 작은 성취", "description": "오늘 해낸 일 중 스스로 칭찬하고 싶은 것을 적어보세요." },
            { "title": "마음을 움직인 대화", "description": "최근 기억에 남는 대화와 그때의 감정을 떠올려 보세요." },
            { "title": "다음 주의 나", "description": "다음 주에 시도해 보고 싶은 한 가지를 적어보세요." },
        ]})
        .to_string(),
        _ => {
            let profile: Option<Value> = system
                .lines()
                .find_map(|l| l.strip_prefix("PERSONA: "))
                .and_then(|p| serde_json::from_str(p).ok());
            let name = profile.as_ref().and_then(|p| p["name"].as_str()).unwrap_or("페르소나");
            let echo: String = user.chars().take(20).collect();
            format!("{name}로서 말할게요. \"{echo}\"라는 말이 마음에 남네요. {} 오늘도 당신의 이야기를 들려줘서 고마워요.",
                pick(&["그 마음 충분히 이해해요.", "정말 멋진 생각이에요.", "천천히 함께 생각해 봐요."], seed, 7))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_deterministic_and_shaped_for_each_operation() {
        let persona: Value = serde_json::from_str(&answer("persona", "", "diaries", 42)).unwrap();
        assert!(persona["name"].is_string() && persona["traits"].as_array().unwrap().len() == 3);
        assert_eq!(answer("persona", "", "diaries", 42), answer("persona", "", "diaries", 42));
        let happy: Value = serde_json::from_str(&answer("analysis", "", "[d] (happy) t\nx", 7)).unwrap();
        let sad: Value = serde_json::from_str(&answer("analysis", "", "[d] (sad) t\nx", 7)).unwrap();
        assert!(happy["positivity"].as_i64() > sad["positivity"].as_i64());
    }

    #[test]
    fn faults_are_consumed_in_order() {
        let state = DevState::default();
        *state.faults.lock().unwrap() =
            vec![Fault::Status { status: 500, retry_after_secs: None, times: 2 }, Fault::Hang { times: 1 }].into();
        assert!(matches!(next_fault(&state), Some(Fault::Status { status: 500, .. })));
        assert!(matches!(next_fault(&state), Some(Fault::Status { status: 500, .. })));
        assert!(matches!(next_fault(&state), Some(Fault::Hang { .. })));
        assert!(next_fault(&state).is_none());
    }
}
