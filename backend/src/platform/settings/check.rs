//! Every setting checked without connecting to anything: each variable parses (all problems are
//! collected, each naming its variable), the URLs and cron expressions parse, and the values
//! agree with each other. `dearme check-config` prints the problems; `serve`, `worker` and
//! `migrate` refuse to start with them.

use std::{fmt, str::FromStr, time::Duration};

use super::{Problem, Problems, Settings};

mod relations;

/// The environment being read, and the problems found so far. A value that does not parse is
/// reported and replaced by its default, so that reading goes on to the end.
pub(super) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl<'a> Env<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup, problems: Vec::new() }
    }

    /// Unset or blank: `None` (the default applies).
    pub(super) fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub(super) fn required(&mut self, name: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.report(name, "must be set (see .env.example)");
            String::new()
        })
    }

    pub(super) fn parse_or<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: fmt::Display,
    {
        let Some(value) = self.optional(name) else { return default };
        value.parse().unwrap_or_else(|e| {
            self.report(name, format!("{value:?} is not {}: {e}", kind::<T>()));
            default
        })
    }

    pub(super) fn millis_or(&mut self, name: &str, default_ms: u64) -> Duration {
        Duration::from_millis(self.parse_or(name, default_ms))
    }

    /// A comma-separated list (blank items dropped).
    pub(super) fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.optional(name)
            .unwrap_or_else(|| default.into())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Each item of a list parsed; every item that does not parse is reported (and left out).
    pub(super) fn parse_each<T: FromStr>(&mut self, name: &str, items: &[String], what: &str) -> Vec<T>
    where
        T::Err: fmt::Display,
    {
        let mut parse =
            |item: &String| item.parse::<T>().map_err(|e| self.report(name, format!("{item:?} is not {what}: {e}")));
        items.iter().filter_map(|item| parse(item).ok()).collect()
    }

    /// One line per problem, whatever the parsers' messages hold.
    pub(super) fn report(&mut self, name: &str, message: impl Into<String>) {
        let message = message.into().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        self.problems.push(Problem { name: name.to_owned(), message });
    }

    /// Whether `name` already has a problem (its default stands in: checks on it would mislead).
    fn failed(&self, name: &str) -> bool {
        self.problems.iter().any(|p| p.name == name)
    }

    pub(super) fn finish(self, settings: Settings) -> Result<Settings, Problems> {
        if self.problems.is_empty() { Ok(settings) } else { Err(Problems(self.problems)) }
    }
}

fn kind<T>() -> &'static str {
    match std::any::type_name::<T>() {
        "bool" => "a boolean (true or false)",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number",
        _ => "valid",
    }
}

/// What parsing alone cannot see: URLs, schedules, addresses, relations between values, SMTP.
pub(super) fn validate(s: &Settings, env: &mut Env<'_>) {
    connections(s, env);
    http(s, env);
    schedules(s, env);
    numbers(s, env);
    relations::timeouts(s, env);
    relations::llm(s, env);
    smtp(s, env);
}

fn connections(s: &Settings, env: &mut Env<'_>) {
    // Values not printed: they hold passwords.
    let postgres = |env: &mut Env<'_>, name: &str, value: &str| {
        if let Err(e) = tokio_postgres::Config::from_str(value) {
            let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
            env.report(name, format!("is not a valid postgres connection string{cause}"));
        }
    };
    if !env.failed("DATABASE_URL") {
        postgres(env, "DATABASE_URL", s.database_url.expose());
    }
    for name in ["DATABASE_READ_URL", "DATABASE_DIRECT_URL"] {
        if let Some(value) = env.optional(name) {
            postgres(env, name, &value);
        }
    }
    for value in env.list("DATABASE_READ_URLS", "") {
        postgres(env, "DATABASE_READ_URLS", &value);
    }
    // The migrations and the job queue open the direct URL with sqlx, which takes URLs only.
    let direct = if env.optional("DATABASE_DIRECT_URL").is_some() { "DATABASE_DIRECT_URL" } else { "DATABASE_URL" };
    if !env.failed(direct)
        && let Err(e) = sqlx::postgres::PgConnectOptions::from_str(s.database_direct_url.expose())
    {
        env.report(direct, format!("is not a postgres:// URL, which migrations and the job queue need: {e}"));
    }
    if !env.failed("REDIS_URL")
        && let Err(e) = redis::IntoConnectionInfo::into_connection_info(s.redis_url.expose())
    {
        env.report("REDIS_URL", format!("is not a valid Redis URL (redis://[:password@]host:port/db): {e}"));
    }
    if !s.jwt_secret.expose().is_empty() && s.jwt_secret.expose().len() < 32 {
        env.report("JWT_SECRET", format!("must be at least 32 characters (has {})", s.jwt_secret.expose().len()));
    }
}

fn http(s: &Settings, env: &mut Env<'_>) {
    // The LLM URLs as given (an unset one is not used, or is a problem of `relations::llm`).
    let llm_urls = ["LLM_BASE_URL", "LLM_DEV_URL"].map(|name| (name, env.optional(name)));
    let urls = llm_urls.into_iter().filter_map(|(name, value)| Some((name, value?)));
    for (name, value) in urls.chain([("FRONTEND_URL", s.frontend_url.clone())]) {
        let value = &value;
        match reqwest::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            Ok(_) => env.report(name, format!("{value:?} is not an http(s) URL")),
            Err(e) => env.report(name, format!("{value:?} is not a valid URL: {e}")),
        }
    }
    // Browsers send `Origin: scheme://host[:port]` and the CORS layer compares it as a string.
    for origin in &s.cors_origins {
        let serialized = reqwest::Url::parse(origin).ok().map(|u| u.origin().ascii_serialization());
        if serialized.as_deref() != Some(origin.as_str()) || !origin.starts_with("http") {
            let hint = serialized.filter(|o| o != "null" && o != origin);
            let hint = hint.map(|o| format!(" (did you mean {o:?}?)")).unwrap_or_default();
            env.report("CORS_ORIGINS", format!("{origin:?} is not an origin as browsers send it{hint}"));
        }
    }
    for (name, addr) in [("LISTEN_ADDR", &s.listen_addr), ("METRICS_ADDR", &s.worker.metrics_addr)] {
        let port = addr.rsplit_once(':').filter(|(host, _)| !host.is_empty()).map(|(_, port)| port.parse::<u16>());
        if !matches!(port, Some(Ok(_))) {
            env.report(name, format!("{addr:?} is not host:port"));
        }
    }
    if let Some(format) = env.optional("LOG_FORMAT").filter(|f| f != "json" && f != "compact") {
        env.report("LOG_FORMAT", format!("{format:?} is neither json nor compact"));
    }
}

fn schedules(s: &Settings, env: &mut Env<'_>) {
    let crons =
        [("WEEKLY_REPORT_CRON", &s.worker.weekly_report_cron), ("MONTHLY_REPORT_CRON", &s.worker.monthly_report_cron)];
    for (name, expr) in crons {
        if let Err(e) = cron::Schedule::from_str(expr) {
            // The crate's message repeats the expression with a caret under the fault: its last
            // line says what is wrong.
            let e = e.to_string();
            let reason = e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim();
            env.report(name, format!("{expr:?} is not a valid cron expression: {reason}"));
        }
    }
}

fn numbers(s: &Settings, env: &mut Env<'_>) {
    let counts = [
        ("DB_POOL_SIZE", s.db_pool_size == 0),
        ("WORKER_CONCURRENCY", s.worker.concurrency == 0),
        ("LLM_MAX_CONCURRENCY", s.llm.max_concurrency == 0),
        ("LLM_MAX_ATTEMPTS", s.llm.max_attempts == 0),
    ];
    for (name, _) in counts.into_iter().filter(|(_, zero)| *zero) {
        env.report(name, "must be at least 1");
    }
    let dim = s.llm.embedding.dim;
    if !env.failed("EMBEDDING_DIM") && (!(8..=4096).contains(&dim) || !dim.is_multiple_of(8)) {
        env.report("EMBEDDING_DIM", format!("must be a multiple of 8 from 8 to 4096 (is {dim})"));
    }
    // A zero interval panics (tokio), a zero timeout fails everything it bounds.
    let durations = [
        ("DB_CONNECT_TIMEOUT_MS", s.db_connect_timeout),
        ("DB_QUERY_TIMEOUT_MS", s.db_query_timeout),
        ("REQUEST_TIMEOUT_MS", s.request_timeout),
        ("REDIS_TIMEOUT_MS", s.redis_timeout),
        ("REPLICA_CHECK_INTERVAL_MS", s.replica_check_interval),
        ("SESSION_TTL_SECS", s.session_ttl),
        ("WORKER_HEARTBEAT_MS", s.worker.heartbeat),
        ("WORKER_POLL_INTERVAL_MS", s.worker.poll_interval),
        ("WORKER_SHUTDOWN_TIMEOUT_MS", s.worker.shutdown_timeout),
        ("JOB_TIMEOUT_MS", s.worker.job_timeout),
        ("LLM_TIMEOUT_MS", s.llm.timeout),
    ];
    for (name, _) in durations.into_iter().filter(|(_, d)| d.is_zero()) {
        env.report(name, "must be greater than 0");
    }
    let below = [
        (("DB_QUERY_TIMEOUT_MS", s.db_query_timeout), ("REQUEST_TIMEOUT_MS", s.request_timeout)),
        (("REPLICA_CHECK_INTERVAL_MS", s.replica_check_interval), ("REPLICA_MAX_LAG_MS", s.replica_max_lag)),
    ];
    for ((name, value), (limit_name, limit)) in below {
        if value >= limit && !env.failed(name) && !env.failed(limit_name) {
            let (value, limit) = (value.as_millis(), limit.as_millis());
            env.report(name, format!("{value} ms must be less than {limit_name} ({limit} ms)"));
        }
    }
}

fn smtp(s: &Settings, env: &mut Env<'_>) {
    let Some(smtp) = &s.smtp else { return };
    if smtp.port == 0 {
        env.report("SMTP_PORT", "must be a port number (1 to 65535)");
    }
    if let Err(e) = smtp.from.parse::<lettre::message::Mailbox>() {
        env.report("SMTP_FROM", format!("{:?} is not a mailbox (Name <user@host> or user@host): {e}", smtp.from));
    }
    match (&smtp.username, &smtp.password) {
        (Some(_), None) => env.report("SMTP_PASSWORD", "must be set when SMTP_USERNAME is (or unset both)"),
        (None, Some(_)) => env.report("SMTP_USERNAME", "must be set when SMTP_PASSWORD is (or unset both)"),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
