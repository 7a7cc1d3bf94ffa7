//! Tracing: JSON logs in production (`LOG_FORMAT=json`), compact ones in development; the level
//! from `RUST_LOG` (default `info`).
//!
//! Every request opens an `info` span (`startup::router`), so at the production level its cost
//! is paid on every request even when nothing is logged. Two choices keep it small, measured with
//! `scripts/bench-ab` (same binary, `RUST_LOG=warn` against `info` with JSON logs, which cost 17 %
//! more CPU per cached read before them):
//! - A span's fields are kept as one JSON object appended to in place ([`json_fields`]) instead
//!   of `tracing-subscriber`'s `JsonFields`, which parses and re-serializes the object each time
//!   a field is recorded (the route and the user are recorded after the span opens).
//! - A `RUST_LOG` of targets and levels (the usual kind) is applied by a static filter
//!   (`Targets`), which keeps no state per span. `EnvFilter`, which takes a shared lock on every
//!   enter and exit of every span, is used only for directives that need it (span or field
//!   matchers).

mod json_fields;

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, Layer, filter::Targets, fmt, prelude::*, registry::LookupSpan};

pub use json_fields::AppendJsonFields;

/// The level when `RUST_LOG` is unset or invalid.
const DEFAULT: &str = "info,tower_http=info";

pub fn init(json: bool) {
    let registry = tracing_subscriber::registry().with(filter(std::env::var("RUST_LOG").ok().as_deref()));
    if json {
        registry
            .with(fmt::layer().json().flatten_event(true).with_current_span(true).fmt_fields(AppendJsonFields))
            .init();
    } else {
        registry.with(fmt::layer().compact()).init();
    }
}

/// The filter for `spec` (`RUST_LOG`): static when it names only targets and levels.
fn filter<S>(spec: Option<&str>) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let spec = spec.filter(|s| !s.trim().is_empty()).unwrap_or(DEFAULT);
    // `Targets` would read `[span]=debug` as a target named `[span]`: brackets go to EnvFilter.
    if !spec.contains(['[', '{'])
        && let Ok(targets) = spec.parse::<Targets>()
    {
        return Box::new(targets);
    }
    Box::new(EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new(DEFAULT)))
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::Registry;

    use super::*;

    /// Whether `spec` lets an event of target `probe` at `level` (INFO or DEBUG) through, inside
    /// a span named `request` when `in_request` is set.
    fn lets_through(spec: Option<&str>, level: Level, in_request: bool) -> bool {
        tracing::subscriber::with_default(Registry::default().with(filter(spec)), || {
            let span = if in_request { tracing::info_span!("request") } else { tracing::Span::none() };
            let _entered = span.enter();
            if level == Level::DEBUG {
                tracing::enabled!(target: "probe", Level::DEBUG)
            } else {
                tracing::enabled!(target: "probe", Level::INFO)
            }
        })
    }

    #[test]
    fn targets_and_levels_filter_statically_and_span_directives_still_apply() {
        assert!(lets_through(None, Level::INFO, false));
        assert!(!lets_through(None, Level::DEBUG, false));
        assert!(!lets_through(Some("warn"), Level::INFO, false));
        assert!(lets_through(Some("warn,probe=debug"), Level::DEBUG, false));
        assert!(!lets_through(Some("warn,other=debug"), Level::DEBUG, false));
        // A span matcher goes to EnvFilter: inside such a span its level applies, outside the
        // bare one.
        assert!(lets_through(Some("warn,[request]=debug"), Level::DEBUG, true));
        assert!(!lets_through(Some("warn,[request]=debug"), Level::INFO, false));
        // Nonsense falls back to the default.
        assert!(lets_through(Some("probe=loud"), Level::INFO, false));
        assert!(!lets_through(Some("probe=loud"), Level::DEBUG, false));
    }
}
