//! Tracing: JSON logs in production (`LOG_FORMAT=json`), compact ones in development; the level
//! from `RUST_LOG` (default `info`).
//!
//! Logging must cost a request next to nothing at the production level when it logs nothing
//! (README, Performance, steps 10 and 12):
//! - Which request a line is for is a task-local value read when a line is written
//!   ([`request`]), not a span opened on every request.
//! - A span's fields (the worker's job spans, the handlers' `debug` spans) are kept as one JSON
//!   object appended to in place ([`json_fields`]) instead of `tracing-subscriber`'s
//!   `JsonFields`, which parses and re-serializes the object each time a field is recorded.
//! - A `RUST_LOG` of targets and levels (the usual kind) is applied by a static filter
//!   (`Targets`), which keeps no state per span. `EnvFilter`, which takes a shared lock on every
//!   enter and exit of every span, is used only for directives that need it (span or field
//!   matchers).

mod json_fields;
mod request;

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, Layer, filter::Targets, fmt, prelude::*, registry::LookupSpan};

use json_fields::AppendJsonFields;
use request::WithRequest;
pub use request::{RequestContextLayer, record_route, record_user};

/// The filter when `RUST_LOG` is unset, blank or invalid.
const DEFAULT: &str = "info";

pub fn init(json: bool) {
    let registry = tracing_subscriber::registry().with(filter(std::env::var("RUST_LOG").ok().as_deref()));
    if json {
        let format = fmt::format().json().flatten_event(true).with_current_span(true);
        registry.with(fmt::layer().event_format(WithRequest::json(format)).fmt_fields(AppendJsonFields)).init();
    } else {
        registry.with(fmt::layer().event_format(WithRequest::text(fmt::format().compact()))).init();
    }
}

/// The filter for `spec` (`RUST_LOG`): static when it names only targets and levels.
fn filter<S>(spec: Option<&str>) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // What EnvFilter refuses falls back to the default, as it always did (statically filtered too).
    let spec = spec.filter(|s| !s.trim().is_empty() && EnvFilter::try_new(s).is_ok()).unwrap_or(DEFAULT);
    match static_filter(spec) {
        Some(targets) => Box::new(targets),
        None => Box::new(EnvFilter::new(spec)),
    }
}

/// `spec` as `Targets`, when every directive is `level`, `target` or `target=level`; `None` for
/// anything else (span and field matchers, `target=` with no level), which EnvFilter reads.
/// `Targets` alone would read some of those differently: `[span]=debug` as a target named
/// `[span]`, an empty directive as the level `error`, `target=` as `error` instead of `trace`.
fn static_filter(spec: &str) -> Option<Targets> {
    let directives: Vec<&str> = spec.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    let plain = |d: &&str| !d.contains(['[', '{', ' ']) && !d.starts_with('=') && !d.ends_with('=');
    if !directives.iter().all(plain) {
        return None;
    }
    directives.join(",").parse().ok()
}

/// Log lines written to memory, for tests.
#[cfg(test)]
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::Registry;

    use super::*;

    /// Whether `spec` lets an event of target `probe` at `level` (INFO or DEBUG) through, inside
    /// a span named `job` when `in_request` is set.
    fn lets_through(spec: Option<&str>, level: Level, in_request: bool) -> bool {
        tracing::subscriber::with_default(Registry::default().with(filter(spec)), || {
            let span = if in_request { tracing::info_span!("job") } else { tracing::Span::none() };
            let _entered = span.enter();
            if level == Level::DEBUG {
                tracing::enabled!(target: "probe", Level::DEBUG)
            } else {
                tracing::enabled!(target: "probe", Level::INFO)
            }
        })
    }

    #[test]
    fn only_targets_and_levels_are_filtered_statically() {
        for spec in ["info", "warn,dearme=debug", "off", "dearme::api=trace", "info,", " warn , ,probe=debug "] {
            assert!(static_filter(spec).is_some(), "{spec}");
        }
        for spec in ["warn,[job]=debug", "dearme[{user_id}]=debug", "probe=", "=debug"] {
            assert!(static_filter(spec).is_none(), "{spec}");
        }
    }

    #[test]
    fn empty_directives_and_odd_ones_read_as_env_filter_reads_them() {
        // An empty directive is skipped, not read as `error`.
        assert!(lets_through(Some("info,"), Level::INFO, false));
        assert!(lets_through(Some("warn,,probe=debug"), Level::DEBUG, false));
        // `target=` is every level of that target.
        assert!(lets_through(Some("warn,probe="), Level::DEBUG, false));
        // What EnvFilter refuses is the default.
        assert!(lets_through(Some("=debug"), Level::INFO, false));
        assert!(!lets_through(Some("=debug"), Level::DEBUG, false));
        assert!(lets_through(Some("*=debug"), Level::INFO, false));
        assert!(!lets_through(Some("*=debug"), Level::DEBUG, false));
    }

    #[test]
    fn targets_levels_and_span_directives_all_filter() {
        assert!(lets_through(None, Level::INFO, false));
        assert!(!lets_through(None, Level::DEBUG, false));
        assert!(!lets_through(Some("warn"), Level::INFO, false));
        assert!(lets_through(Some("warn,probe=debug"), Level::DEBUG, false));
        assert!(!lets_through(Some("warn,other=debug"), Level::DEBUG, false));
        // A span matcher goes to EnvFilter: inside such a span its level applies, outside the
        // bare one.
        assert!(lets_through(Some("warn,[job]=debug"), Level::DEBUG, true));
        assert!(!lets_through(Some("warn,[job]=debug"), Level::INFO, false));
        // Nonsense falls back to the default.
        assert!(lets_through(Some("probe=loud"), Level::INFO, false));
        assert!(!lets_through(Some("probe=loud"), Level::DEBUG, false));
    }
}
