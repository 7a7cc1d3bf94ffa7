//! `dearme serve | worker | migrate | dev-llm`: one binary, so every container runs the same image;
//! the library does the work.

use anyhow::Context;
use dearme::{platform::settings::Settings, startup::Application};

const USAGE: &str = "usage: dearme <serve|worker|migrate|dev-llm>
  serve    run the HTTP API
  worker   run the background jobs (every LLM call) and the report schedule
  migrate  apply database migrations and the job queue's schema (direct connection to the primary)
  dev-llm  run the OpenAI-compatible development LLM server (DEV_LLM_ADDR, default 127.0.0.1:8090)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1).unwrap_or_default();
    if command == "dev-llm" {
        // Needs no database settings: it stands in for an LLM provider.
        dearme::platform::telemetry::init(std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json"));
        let addr = std::env::var("DEV_LLM_ADDR").unwrap_or_else(|_| "127.0.0.1:8090".into());
        let config = dearme::llm::devserver::DevConfig {
            latency_ms: std::env::var("DEV_LLM_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0),
            token_latency_ms: std::env::var("DEV_LLM_TOKEN_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(20),
        };
        return dearme::llm::devserver::serve(&addr, config).await;
    }
    let settings = Settings::from_env()?;
    dearme::platform::telemetry::init(settings.log_json);
    match command.as_str() {
        "serve" => Application::build(settings).await?.run_until(dearme::platform::shutdown::signal()).await,
        "worker" => dearme::jobs::worker::run(settings).await,
        "migrate" => dearme::platform::db::migrate::run(settings.database_direct_url.expose()).await.context("migrate"),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
