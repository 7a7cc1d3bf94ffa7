//! Typed settings, read once from the environment at start-up (every variable is documented in
//! `.env.example`) and checked as a whole by `check` (`dearme check-config`). Tests build a
//! `Settings` directly and change what they need.

mod budgets;
mod caching;
mod check;
mod embedding;
mod smtp;

use std::{fmt, net::IpAddr, str::FromStr, time::Duration};

use anyhow::bail;

pub use budgets::BudgetSettings;
pub use caching::{CacheTtls, LocalCache};
use check::Env;
pub use embedding::EmbeddingSettings;
pub use smtp::{SmtpSettings, SmtpTls};

/// One problem with one variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub name: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// Every problem found, one a line.
#[derive(Debug)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for Problems {}

/// A value that must never reach a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// Address the API binds to (`0.0.0.0:8000`; port 0 in tests).
    pub listen_addr: String,
    /// Write pool: the primary, through PgBouncer.
    pub database_url: Secret,
    /// Read pools, one per replica (`DATABASE_READ_URLS`, else `DATABASE_READ_URL`), through
    /// PgBouncer. Defaults to `database_url` alone.
    pub database_read_urls: Vec<Secret>,
    /// `DATABASE_READ_VERIFY_LSN`: a read URL may hide several replicas (a Kubernetes service),
    /// so recent writers' reads check the replay position in their own transaction.
    pub database_read_verify_lsn: bool,
    /// `DB_NAMED_STATEMENTS`: statements are prepared once per server connection and reused
    /// (PgBouncer >= 1.21 with `max_prepared_statements`, or direct connections); off, every
    /// statement is unnamed and parsed on each call, which PgBouncer 1.18 needs.
    pub db_named_statements: bool,
    /// Direct (session) connection to the primary: migrations and job storage.
    pub database_direct_url: Secret,
    pub db_pool_size: usize,
    pub db_connect_timeout: Duration,
    pub db_query_timeout: Duration,
    /// A replica further behind than this is not used for reads.
    pub replica_max_lag_bytes: u64,
    pub replica_max_lag: Duration,
    pub replica_check_interval: Duration,
    pub redis_url: Secret,
    /// Prefix of every Redis key (version and tenant): tests give each app its own.
    pub redis_prefix: String,
    pub redis_timeout: Duration,
    pub jwt_secret: Secret,
    pub session_ttl: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub cors_origins: Vec<String>,
    /// Peers whose `X-Real-IP` / `X-Forwarded-For` are believed (nginx).
    pub trusted_proxies: Vec<IpNet>,
    pub rate_limit_enabled: bool,
    pub frontend_url: String,
    pub smtp: Option<SmtpSettings>,
    /// Development only: new accounts are marked verified at registration.
    pub auto_verify_email: bool,
    pub log_json: bool,
    /// Cache-aside reads through Redis (off: every read computes from Postgres).
    pub cache_enabled: bool,
    pub cache_ttls: CacheTtls,
    /// The API's first cache level, in its own process (`platform::cache::Local`).
    pub cache_local: LocalCache,
    pub llm: LlmSettings,
    /// LLM spending per user, plan and month.
    pub budgets: BudgetSettings,
    /// How long a request waits for its job (persona, quiz, upgrade, chat reply, report).
    pub job_wait_timeout: Duration,
    /// How long a reply stream waits for the next event before settling from Postgres.
    pub stream_idle_timeout: Duration,
    pub worker: WorkerSettings,
}

/// The monthly reports' default schedule: the `cron` crate has no "last day of the month", so it
/// fires at 21:30 UTC on days 28 to 31, and the tick acts on the month's last day only.
pub const MONTHLY_REPORT_CRON: &str = "0 30 21 28-31 * *";

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub heartbeat: Duration,
    /// How often an idle worker looks for due jobs that did not notify it (background jobs).
    pub poll_interval: Duration,
    pub shutdown_timeout: Duration,
    pub job_timeout: Duration,
    pub metrics_addr: String,
    pub weekly_report_cron: String,
    pub monthly_report_cron: String,
    /// How often the worker embeds diaries the current embedding model has not (at start, then
    /// at this interval); zero turns the background backfill off.
    pub embedding_backfill_every: Duration,
}

impl Settings {
    /// Reads and checks every setting from the process environment; `Err` lists every problem
    /// (what `dearme check-config` prints), not just the first.
    pub fn from_env() -> Result<Self, Problems> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same from any environment: `lookup` gives a variable's value (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Problems> {
        let mut env = Env::new(&lookup);
        let settings = Self::read(&mut env);
        check::validate(&settings, &mut env);
        env.finish(settings)
    }

    /// Every value, its default where it is unset or unreadable (then `env` has the problem).
    fn read(env: &mut Env<'_>) -> Self {
        let database_url = env.required("DATABASE_URL");
        let proxies = env.list("TRUSTED_PROXIES", "127.0.0.1/32,::1/128");
        Self {
            listen_addr: env.optional("LISTEN_ADDR").unwrap_or_else(|| "0.0.0.0:8000".into()),
            database_read_urls: read_urls(env, &database_url),
            database_read_verify_lsn: env.parse_or("DATABASE_READ_VERIFY_LSN", false),
            db_named_statements: env.parse_or("DB_NAMED_STATEMENTS", false),
            database_direct_url: Secret::new(
                env.optional("DATABASE_DIRECT_URL").unwrap_or_else(|| database_url.clone()),
            ),
            database_url: Secret::new(database_url),
            db_pool_size: env.parse_or("DB_POOL_SIZE", 16),
            db_connect_timeout: env.millis_or("DB_CONNECT_TIMEOUT_MS", 2_000),
            db_query_timeout: env.millis_or("DB_QUERY_TIMEOUT_MS", 5_000),
            replica_max_lag_bytes: env.parse_or("REPLICA_MAX_LAG_BYTES", 16 * 1024 * 1024),
            replica_max_lag: env.millis_or("REPLICA_MAX_LAG_MS", 30_000),
            replica_check_interval: env.millis_or("REPLICA_CHECK_INTERVAL_MS", 100),
            redis_url: Secret::new(env.required("REDIS_URL")),
            redis_prefix: env.optional("REDIS_PREFIX").unwrap_or_else(|| "dearme:v1".into()),
            redis_timeout: env.millis_or("REDIS_TIMEOUT_MS", 250),
            jwt_secret: Secret::new(env.required("JWT_SECRET")),
            session_ttl: Duration::from_secs(env.parse_or("SESSION_TTL_SECS", 24 * 3600)),
            request_timeout: env.millis_or("REQUEST_TIMEOUT_MS", 30_000),
            body_limit_bytes: env.parse_or("BODY_LIMIT_BYTES", 1024 * 1024),
            cors_origins: env.list("CORS_ORIGINS", "http://localhost:5173,http://localhost:3000,http://127.0.0.1:5173"),
            trusted_proxies: env.parse_each("TRUSTED_PROXIES", &proxies, "an IP network (address/prefix)"),
            rate_limit_enabled: env.parse_or("RATE_LIMIT_ENABLED", true),
            frontend_url: env.optional("FRONTEND_URL").unwrap_or_else(|| "http://localhost:5173".into()),
            smtp: SmtpSettings::read(env),
            auto_verify_email: env.parse_or("AUTO_VERIFY_EMAIL", false),
            log_json: env.optional("LOG_FORMAT").is_some_and(|f| f == "json"),
            cache_enabled: env.parse_or("CACHE_ENABLED", true),
            cache_ttls: CacheTtls::read(env),
            cache_local: LocalCache::read(env),
            llm: LlmSettings::read(env),
            budgets: BudgetSettings::read(env),
            job_wait_timeout: env.millis_or("JOB_WAIT_TIMEOUT_MS", 90_000),
            stream_idle_timeout: env.millis_or("STREAM_IDLE_TIMEOUT_MS", 45_000),
            worker: WorkerSettings::read(env),
        }
    }
}

impl LlmSettings {
    /// The provider is `LLM_PROVIDER`, else `openai-compatible` when `LLM_BASE_URL` is set (both
    /// unset is a problem: see `check`). `dev` without `LLM_BASE_URL` reaches `LLM_DEV_URL`.
    fn read(env: &mut Env<'_>) -> Self {
        let base_url = env.optional("LLM_BASE_URL");
        let default = if base_url.is_some() { LlmProvider::OpenAiCompatible } else { LlmProvider::Dev };
        let provider = env.parse_or("LLM_PROVIDER", default);
        let base_url = match (base_url, provider) {
            (Some(url), _) => url,
            (None, LlmProvider::Dev) => env.optional("LLM_DEV_URL").unwrap_or_else(|| DEV_LLM_URL.into()),
            // Reported by `check`: there is no endpoint to call.
            (None, LlmProvider::OpenAiCompatible) => String::new(),
        };
        Self {
            provider,
            base_url,
            api_key: Secret::new(env.optional("LLM_API_KEY").unwrap_or_else(|| "unused".into())),
            model: env.optional("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
            timeout: env.millis_or("LLM_TIMEOUT_MS", 60_000),
            max_concurrency: env.parse_or("LLM_MAX_CONCURRENCY", 8),
            max_attempts: env.parse_or("LLM_MAX_ATTEMPTS", 4),
            backoff: env.millis_or("LLM_BACKOFF_MS", 1_000),
            embedding: EmbeddingSettings::read(env),
        }
    }
}

impl WorkerSettings {
    fn read(env: &mut Env<'_>) -> Self {
        Self {
            concurrency: env.parse_or("WORKER_CONCURRENCY", 16),
            heartbeat: env.millis_or("WORKER_HEARTBEAT_MS", 10_000),
            poll_interval: env.millis_or("WORKER_POLL_INTERVAL_MS", 500),
            shutdown_timeout: env.millis_or("WORKER_SHUTDOWN_TIMEOUT_MS", 30_000),
            job_timeout: env.millis_or("JOB_TIMEOUT_MS", 300_000),
            metrics_addr: env.optional("METRICS_ADDR").unwrap_or_else(|| "0.0.0.0:9100".into()),
            weekly_report_cron: env.optional("WEEKLY_REPORT_CRON").unwrap_or_else(|| "0 0 21 * * Sun".into()),
            monthly_report_cron: env.optional("MONTHLY_REPORT_CRON").unwrap_or_else(|| MONTHLY_REPORT_CRON.into()),
            embedding_backfill_every: env.millis_or("EMBEDDING_BACKFILL_INTERVAL_MS", 600_000),
        }
    }
}

/// An IPv4 or IPv6 network in CIDR notation (a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(v4)) => self.contains(IpAddr::V6(v4.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_some_and(|v4| self.contains(IpAddr::V4(v4))),
        }
    }
}

impl FromStr for IpNet {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>()?, Some(p.parse::<u8>()?)),
            None => (s.parse::<IpAddr>()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            bail!("prefix /{prefix} too long for {addr}");
        }
        Ok(Self { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_matches_addresses_inside_its_prefix_only() {
        let net: IpNet = "192.0.2.0/24".parse().unwrap();
        assert!(net.contains("192.0.2.77".parse().unwrap()));
        assert!(!net.contains("192.0.3.1".parse().unwrap()));
        let host: IpNet = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(!host.contains("::2".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
    }

    #[test]
    fn secret_never_prints_its_value() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}

/// Where `LLM_PROVIDER=dev` finds `dearme dev-llm` by default (natively; compose sets
/// `LLM_DEV_URL` to its dev-llm service).
pub const DEV_LLM_URL: &str = "http://127.0.0.1:8090/v1";

/// Which LLM answers. Both speak the OpenAI API; `Dev` is the development double (`dearme
/// dev-llm`, canned answers), named so that it is never used without saying so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlmProvider {
    OpenAiCompatible,
    Dev,
}

impl LlmProvider {
    /// The `LLM_PROVIDER` value, also shown by `/health/ready` and `llm_provider_info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAiCompatible => "openai-compatible",
            Self::Dev => "dev",
        }
    }
}

impl FromStr for LlmProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai-compatible" => Ok(Self::OpenAiCompatible),
            "dev" => Ok(Self::Dev),
            _ => Err("the providers are openai-compatible and dev".into()),
        }
    }
}

/// The LLM endpoint: any OpenAI-compatible API, or the development double.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    pub provider: LlmProvider,
    pub base_url: String,
    pub api_key: Secret,
    pub model: String,
    /// Per attempt (a stream may run longer as long as tokens keep arriving within it).
    pub timeout: Duration,
    pub max_concurrency: usize,
    pub max_attempts: u32,
    pub backoff: Duration,
    pub embedding: EmbeddingSettings,
}

/// `DATABASE_READ_URLS` (comma-separated), else `DATABASE_READ_URL`, else the write URL.
fn read_urls(env: &mut Env<'_>, database_url: &str) -> Vec<Secret> {
    let list: Vec<String> = env.list("DATABASE_READ_URLS", "");
    if !list.is_empty() {
        if env.optional("DATABASE_READ_URL").is_some() {
            env.report("DATABASE_READ_URLS", "set it or DATABASE_READ_URL, not both");
        }
        return list.into_iter().map(Secret::new).collect();
    }
    vec![Secret::new(env.optional("DATABASE_READ_URL").unwrap_or_else(|| database_url.to_owned()))]
}
