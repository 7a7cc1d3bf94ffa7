//! The checks against whole environments: `good()` passes, each change names its problems.

use std::collections::HashMap;

use super::{Problems, Settings};
use crate::platform::settings::{DEV_LLM_URL, LlmProvider};

/// A complete, valid environment (SMTP with credentials included).
fn good() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("DATABASE_URL", "postgres://dearme:pw@pgbouncer-rw:6432/dearme"),
        ("DATABASE_READ_URL", "postgres://dearme:pw@pgbouncer-ro:6432/dearme"),
        ("DATABASE_DIRECT_URL", "postgres://dearme:pw@postgres-primary:5432/dearme"),
        ("REDIS_URL", "redis://:pw@redis:6379/0"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("TRUSTED_PROXIES", "172.28.10.0/24"),
        ("LLM_BASE_URL", "http://dev-llm:8090/v1"),
        ("SMTP_HOST", "smtp.example.com"),
        ("SMTP_PORT", "587"),
        ("SMTP_USERNAME", "mailer"),
        ("SMTP_PASSWORD", "pw"),
        ("SMTP_FROM", "DearMe <no-reply@dearme.example>"),
        ("WEEKLY_REPORT_CRON", "0 0 21 * * Sun"),
        ("MONTHLY_REPORT_CRON", "0 30 21 28-31 * *"),
        ("LOG_FORMAT", "json"),
    ])
}

/// The problems of `good()` changed by `changes` (an empty value unsets a variable).
fn problems(changes: &[(&'static str, &'static str)]) -> Vec<String> {
    let mut env = good();
    env.extend(changes.iter().copied());
    match Settings::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())) {
        Ok(_) => Vec::new(),
        Err(Problems(problems)) => problems.iter().map(ToString::to_string).collect(),
    }
}

fn assert_reported(changes: &[(&'static str, &'static str)], expected: &[&str]) {
    let found = problems(changes);
    assert!(found.iter().all(|p| !p.contains('\n')), "one line each: {found:#?}");
    for prefix in expected {
        assert!(found.iter().any(|p| p.starts_with(prefix)), "no {prefix:?} in {found:#?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn a_good_environment_passes_and_reads_its_values() {
    assert_eq!(problems(&[]), Vec::<String>::new());
    let env = good();
    let settings = Settings::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())).unwrap();
    assert_eq!(settings.smtp.unwrap().port, 587);
    assert_eq!(settings.worker.monthly_report_cron, crate::platform::settings::MONTHLY_REPORT_CRON);
}

#[test]
fn check_reports_every_unparsable_value_with_its_name() {
    assert_reported(
        &[
            ("DB_POOL_SIZE", "sixteen"),
            ("REQUEST_TIMEOUT_MS", "30s"),
            ("RATE_LIMIT_ENABLED", "yes"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/33,nope"),
            ("DATABASE_URL", ""),
        ],
        &[
            "DB_POOL_SIZE: \"sixteen\" is not a whole number",
            "REQUEST_TIMEOUT_MS: \"30s\" is not a whole number",
            "RATE_LIMIT_ENABLED: \"yes\" is not a boolean",
            "TRUSTED_PROXIES: \"10.0.0.0/33\" is not an IP network",
            "TRUSTED_PROXIES: \"nope\" is not an IP network",
            "DATABASE_URL: must be set",
        ],
    );
}

#[test]
fn check_reports_bad_urls_without_printing_secrets() {
    let changes = [
        ("DATABASE_READ_URL", "postgres://u:hunter2@host:port/db"),
        ("DATABASE_DIRECT_URL", "host=primary password=hunter2 dbname=dearme"),
        ("REDIS_URL", "http://:hunter2@redis:6379"),
        ("LLM_BASE_URL", "dev-llm:8090/v1"),
        ("FRONTEND_URL", "ftp://example.com"),
        ("CORS_ORIGINS", "http://localhost:5173/,https://app.example.com"),
    ];
    assert!(problems(&changes).iter().all(|p| !p.contains("hunter2")), "{:#?}", problems(&changes));
    assert_reported(
        &changes,
        &[
            "DATABASE_READ_URL: is not a valid postgres connection string: invalid value for option `port`",
            "DATABASE_DIRECT_URL: is not a postgres:// URL",
            "REDIS_URL: is not a valid Redis URL",
            "LLM_BASE_URL: \"dev-llm:8090/v1\" is not an http(s) URL",
            "FRONTEND_URL: \"ftp://example.com\" is not an http(s) URL",
            "CORS_ORIGINS: \"http://localhost:5173/\" is not an origin as browsers send it (did you mean \"http://localhost:5173\"?)",
        ],
    );
}

#[test]
fn check_reports_cron_secret_address_and_log_format() {
    assert_reported(
        &[
            ("MONTHLY_REPORT_CRON", "0 30 21 L * *"),
            ("JWT_SECRET", "short"),
            ("METRICS_ADDR", "9100"),
            ("LOG_FORMAT", "text"),
        ],
        &[
            "MONTHLY_REPORT_CRON: \"0 30 21 L * *\" is not a valid cron expression: The 'Days of Month' field",
            "JWT_SECRET: must be at least 32 characters (has 5)",
            "METRICS_ADDR: \"9100\" is not host:port",
            "LOG_FORMAT: \"text\" is neither json nor compact",
        ],
    );
}

#[test]
fn check_reports_values_that_disagree() {
    assert_reported(
        &[
            ("DB_QUERY_TIMEOUT_MS", "30000"),
            ("REPLICA_CHECK_INTERVAL_MS", "60000"),
            ("WORKER_SHUTDOWN_TIMEOUT_MS", "0"),
            ("DB_POOL_SIZE", "0"),
            ("WORKER_CONCURRENCY", "0"),
            ("LLM_MAX_CONCURRENCY", "0"),
            ("LLM_MAX_ATTEMPTS", "0"),
        ],
        &[
            "DB_QUERY_TIMEOUT_MS: 30000 ms must be less than REQUEST_TIMEOUT_MS (30000 ms)",
            "REPLICA_CHECK_INTERVAL_MS: 60000 ms must be less than REPLICA_MAX_LAG_MS (30000 ms)",
            "WORKER_SHUTDOWN_TIMEOUT_MS: must be greater than 0",
            "DB_POOL_SIZE: must be at least 1",
            "WORKER_CONCURRENCY: must be at least 1",
            "LLM_MAX_CONCURRENCY: must be at least 1",
            "LLM_MAX_ATTEMPTS: must be at least 1",
        ],
    );
    // A value that does not parse is reported once, not again against its neighbours.
    assert_reported(
        &[("REQUEST_TIMEOUT_MS", "1000"), ("DB_QUERY_TIMEOUT_MS", "five")],
        &["DB_QUERY_TIMEOUT_MS: \"five\" is not a whole number"],
    );
}

#[test]
fn check_reports_smtp_settings_only_with_a_host() {
    assert_reported(
        &[("SMTP_PORT", "smtp"), ("SMTP_FROM", "DearMe no-reply"), ("SMTP_PASSWORD", "")],
        &[
            "SMTP_PORT: \"smtp\" is not a whole number",
            "SMTP_FROM: \"DearMe no-reply\" is not a mailbox",
            "SMTP_PASSWORD: must be set when SMTP_USERNAME is",
        ],
    );
    assert_reported(
        &[("SMTP_PORT", "0"), ("SMTP_USERNAME", "")],
        &["SMTP_PORT: must be a port number", "SMTP_USERNAME: must be set when SMTP_PASSWORD is"],
    );
    let no_host = [("SMTP_HOST", ""), ("SMTP_PORT", "smtp"), ("SMTP_FROM", "nope"), ("SMTP_PASSWORD", "")];
    assert_eq!(problems(&no_host), Vec::<String>::new());
}

#[test]
fn check_reports_an_unknown_llm_provider_and_one_without_an_endpoint() {
    assert_reported(
        &[("LLM_PROVIDER", "openai")],
        &["LLM_PROVIDER: \"openai\" is not valid: the providers are openai-compatible and dev"],
    );
    assert_reported(
        &[("LLM_PROVIDER", "openai-compatible"), ("LLM_BASE_URL", "")],
        &["LLM_BASE_URL: must be set with LLM_PROVIDER=openai-compatible"],
    );
    // Neither said: the development double is never chosen silently.
    assert_reported(&[("LLM_BASE_URL", "")], &["LLM_PROVIDER: must be set: dev for the development LLM"]);
    assert_reported(&[("LLM_PROVIDER", "dev"), ("LLM_DEV_URL", "dev-llm:8090")], &["LLM_DEV_URL: \"dev-llm:8090\""]);
}

#[test]
fn the_llm_provider_is_said_or_implied_by_a_base_url() {
    let read = |changes: &[(&'static str, &'static str)]| {
        let mut env = good();
        env.extend(changes.iter().copied());
        Settings::from_lookup(|name| env.get(name).map(|v| (*v).to_owned())).unwrap().llm
    };
    let implied = read(&[]);
    assert_eq!(
        (implied.provider, implied.base_url.as_str()),
        (LlmProvider::OpenAiCompatible, "http://dev-llm:8090/v1")
    );
    let dev = read(&[("LLM_PROVIDER", "dev"), ("LLM_BASE_URL", "")]);
    assert_eq!((dev.provider, dev.base_url.as_str()), (LlmProvider::Dev, DEV_LLM_URL));
    let compose = read(&[("LLM_PROVIDER", "dev"), ("LLM_BASE_URL", ""), ("LLM_DEV_URL", "http://dev-llm:8090/v1")]);
    assert_eq!(compose.base_url, "http://dev-llm:8090/v1");
    let explicit = read(&[("LLM_PROVIDER", "dev")]);
    assert_eq!((explicit.provider, explicit.base_url.as_str()), (LlmProvider::Dev, "http://dev-llm:8090/v1"));
}

#[test]
fn check_reports_a_job_wait_that_nginx_would_cut() {
    assert_eq!(problems(&[("JOB_WAIT_TIMEOUT_MS", "110000")]), Vec::<String>::new());
    assert_reported(
        &[("JOB_WAIT_TIMEOUT_MS", "110001"), ("STREAM_IDLE_TIMEOUT_MS", "0")],
        &[
            "JOB_WAIT_TIMEOUT_MS: 110001 ms must be at most 110000 ms: a waiting endpoint answers within it + 5 s, \
             which must stay under nginx's proxy_read_timeout (120 s)",
            "STREAM_IDLE_TIMEOUT_MS: must be greater than 0",
        ],
    );
}
