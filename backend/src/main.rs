//! `dearme serve | worker | migrate | check-config | dev-llm | users | embeddings`: one binary, so every
//! container runs the same image; the library does the work.

use anyhow::Context;
use dearme::{
    cli::{self, Outcome},
    platform::settings::Settings,
    startup::Application,
};

const USAGE: &str = "usage: dearme <serve|worker|migrate|check-config|dev-llm|users|embeddings>
  serve         run the HTTP API
  worker        run the background jobs (every LLM call) and the report schedule
  migrate       apply database migrations and the job queue's schema (direct connection to the primary)
  check-config  check every setting without connecting to anything: prints each problem (naming its
                variable) and exits 2, or prints `config ok` (serve, worker and migrate check first too)
  dev-llm       run the OpenAI-compatible development LLM server (DEV_LLM_ADDR, default 127.0.0.1:8090)
  users         operator commands on accounts: `users verify EMAIL`, `users create EMAIL USERNAME`
                (`dearme users` alone explains them)
  embeddings    `embeddings backfill [--user ID]`: embed every diary (or one user's) without an
                embedding by EMBEDDING_MODEL (the worker also does it in the background)";

/// The process's allocator. The hot reads allocate and free many short-lived buffers of a few
/// kilobytes (request bodies, cached pages, JSON) from both runtime threads; glibc's malloc spent
/// about a fifth of a cached list read's CPU on that (README, "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let command = args.get(1).cloned().unwrap_or_default();
    match command.as_str() {
        "dev-llm" => dev_llm().await,
        "check-config" => check_config(),
        "users" => users(&args[2..]).await,
        "embeddings" if args.get(2).is_some_and(|a| a == "backfill") => match &args[3..] {
            [] => backfill(None).await,
            [flag, id] if flag == "--user" && id.parse::<i64>().is_ok() => backfill(id.parse().ok()).await,
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        },
        "serve" | "worker" | "migrate" => {
            let settings = settings();
            dearme::platform::telemetry::init(settings.log_json);
            match command.as_str() {
                "serve" => Application::build(settings).await?.run_until(dearme::platform::shutdown::signal()).await,
                "worker" => dearme::jobs::worker::run(settings).await,
                _ => dearme::platform::db::migrate::run(settings.database_direct_url.expose()).await.context("migrate"),
            }
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Every setting checked, or the problems printed and exit 2.
fn settings() -> Settings {
    Settings::from_env().unwrap_or_else(|problems| {
        eprintln!("invalid configuration (`dearme check-config` lists the same):\n{problems}");
        std::process::exit(2);
    })
}

/// Operator commands: one line on stdout and exit 0, or one line on stderr and exit 1 (2 for a
/// wrong invocation or configuration). No log output: the line is the answer.
#[allow(clippy::print_stdout, reason = "the command's one line of output")]
async fn users(args: &[String]) -> anyhow::Result<()> {
    let Some(command) = cli::Command::parse(args) else {
        eprintln!("{}", cli::USAGE);
        std::process::exit(2);
    };
    match cli::run(command, &settings()).await? {
        Outcome::Done(line) => {
            println!("{line}");
            Ok(())
        }
        Outcome::Failed(line) => {
            eprintln!("{line}");
            std::process::exit(1);
        }
    }
}

/// Embeds what the current model has not: one line with the count, or the error and exit 1.
#[allow(clippy::print_stdout, reason = "the command's one line of output")]
async fn backfill(user_id: Option<i64>) -> anyhow::Result<()> {
    let settings = settings();
    let (ctx, _monitor) = dearme::jobs::worker::Context::build(&settings).await?;
    match dearme::jobs::embed::backfill(&ctx, user_id, std::time::Duration::ZERO).await {
        Ok(n) => {
            println!(
                "embedded {n} diaries with {} ({} dimensions)",
                settings.llm.embedding.model, settings.llm.embedding.dim
            );
            Ok(())
        }
        Err(err) => {
            eprintln!("backfill stopped: {err}");
            std::process::exit(1);
        }
    }
}

/// Needs no database settings: it stands in for an LLM provider.
async fn dev_llm() -> anyhow::Result<()> {
    dearme::platform::telemetry::init(std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json"));
    let addr = std::env::var("DEV_LLM_ADDR").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let config = dearme::llm::devserver::DevConfig {
        latency_ms: std::env::var("DEV_LLM_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0),
        token_latency_ms: std::env::var("DEV_LLM_TOKEN_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(20),
    };
    dearme::llm::devserver::serve(&addr, config).await
}

#[allow(clippy::print_stdout, reason = "the problems, or `config ok`, are the command's output")]
fn check_config() -> anyhow::Result<()> {
    match Settings::from_env() {
        Ok(_) => {
            println!("config ok");
            Ok(())
        }
        Err(problems) => {
            println!("{problems}");
            std::process::exit(2);
        }
    }
}
