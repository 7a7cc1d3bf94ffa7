//! `dearme serve | migrate`: one binary, so every container runs the same image.

use anyhow::Context;
use dearme::{settings::Settings, startup::Application};

const USAGE: &str = "usage: dearme <serve|migrate>\n  serve    run the HTTP API\n  migrate  apply database migrations (direct connection to the primary)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1).unwrap_or_default();
    let settings = Settings::from_env()?;
    dearme::telemetry::init(settings.log_json);
    match command.as_str() {
        "serve" => Application::build(settings).await?.run_until(dearme::shutdown_signal()).await,
        "migrate" => dearme::db::migrate::run(settings.database_direct_url.expose()).await.context("migrate"),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
