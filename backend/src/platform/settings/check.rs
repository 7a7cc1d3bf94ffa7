//! Every setting checked without connecting to anything: each variable parses (all problems are
//! collected, each naming its variable), the URLs and cron expressions parse, and the values
//! agree with each other. `dearme check-config` prints the problems; `serve`, `worker` and
//! `migrate` refuse to start with them.

use std::{fmt, str::FromStr, time::Duration};

use super::{Problem, Problems, Settings};

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
    fn report(&mut self, name: &str, message: impl Into<String>) {
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
    for (name, value) in [("LLM_BASE_URL", &s.llm.base_url), ("FRONTEND_URL", &s.frontend_url)] {
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
mod tests {
    use std::collections::HashMap;

    use super::{Problems, Settings};

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
}
