//! Handles for the series every request touches, kept per thread.
//!
//! `metrics::counter!` builds its key (allocating each label it is given) and looks it up in the
//! registry on every call; a cached read calls it half a dozen times, which profiled at several
//! percent of its CPU. Here a series named by static strings is keyed by their addresses, and
//! the request metrics by their route, so a repeat costs one small hash lookup and no
//! allocation. Handles are kept only once the recorder is installed: one taken before would
//! record nowhere, forever.

use std::{cell::RefCell, collections::HashMap};

use metrics::{Counter, Gauge, Histogram, Label};

/// Static label pairs; at most [`MAX_LABELS`] are keyed (more are looked up every time).
pub type Labels<'a> = &'a [(&'static str, &'static str)];

const MAX_LABELS: usize = 3;

/// The name and each label's key and value, as (address, length): equal for the same statics.
type StaticKey = [(usize, usize); 1 + 2 * MAX_LABELS];

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

thread_local! {
    static COUNTERS: RefCell<Map<StaticKey, Counter>> = RefCell::default();
    static GAUGES: RefCell<Map<StaticKey, Gauge>> = RefCell::default();
    static REQUESTS: RefCell<Map<Box<str>, Vec<RequestSeries>>> = RefCell::default();
}

/// The request count and latency of one route, method and status.
struct RequestSeries {
    method: &'static str,
    status: u16,
    count: Counter,
    duration: Histogram,
}

fn static_key(name: &'static str, labels: Labels) -> Option<StaticKey> {
    let at = |s: &'static str| (s.as_ptr() as usize, s.len());
    let mut key = [(0, 0); 1 + 2 * MAX_LABELS];
    key[0] = at(name);
    if labels.len() > MAX_LABELS {
        return None;
    }
    for (i, &(label, value)) in labels.iter().enumerate() {
        key[1 + 2 * i] = at(label);
        key[2 + 2 * i] = at(value);
    }
    Some(key)
}

fn owned(labels: Labels) -> Vec<Label> {
    labels.iter().map(|&(key, value)| Label::from_static_parts(key, value)).collect()
}

/// Applies `f` to the series' handle, kept in `map` once the recorder is installed.
fn with_handle<T>(
    map: &'static std::thread::LocalKey<RefCell<Map<StaticKey, T>>>,
    name: &'static str,
    labels: Labels,
    make: impl FnOnce(&'static str, Vec<Label>) -> T,
    f: impl FnOnce(&T),
) {
    let Some(key) = static_key(name, labels).filter(|_| super::installed()) else {
        return f(&make(name, owned(labels)));
    };
    map.with_borrow_mut(|handles| f(handles.entry(key).or_insert_with(|| make(name, owned(labels)))));
}

/// Adds `by` to the counter `name{labels}`.
pub fn count(name: &'static str, labels: Labels, by: u64) {
    with_handle(&COUNTERS, name, labels, |name, labels| metrics::counter!(name, labels), |c| c.increment(by));
}

/// Adds `delta` (negative: subtracts) to the gauge `name{labels}`.
pub fn gauge_add(name: &'static str, labels: Labels, delta: f64) {
    with_handle(&GAUGES, name, labels, |name, labels| metrics::gauge!(name, labels), |g| g.increment(delta));
}

/// One answered request: `http_requests_total` and `http_request_duration_seconds` of its
/// method, matched route and status.
pub fn request(method: &'static str, route: &str, status: u16, seconds: f64) {
    let make = || {
        let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
        let count = metrics::counter!("http_requests_total", &labels);
        let duration = metrics::histogram!("http_request_duration_seconds", &labels);
        RequestSeries { method, status, count, duration }
    };
    let record = |series: &RequestSeries| {
        series.count.increment(1);
        series.duration.record(seconds);
    };
    if !super::installed() {
        return record(&make());
    }
    REQUESTS.with_borrow_mut(|routes| {
        let series = match routes.get_mut(route) {
            Some(series) => series,
            None => routes.entry(route.into()).or_default(),
        };
        match series.iter().position(|s| s.method == method && s.status == status) {
            Some(i) => record(&series[i]),
            None => {
                series.push(make());
                record(&series[series.len() - 1]);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(series: &str) -> Option<String> {
        super::super::exposition().lines().find(|l| l.starts_with(series)).map(str::to_owned)
    }

    #[test]
    fn kept_handles_count_into_their_own_series() {
        super::super::install(&[]);
        for _ in 0..3 {
            count("hot_test_total", &[("kind", "a")], 2);
        }
        count("hot_test_total", &[("kind", "b")], 1);
        assert_eq!(line(r#"hot_test_total{kind="a"}"#).as_deref(), Some(r#"hot_test_total{kind="a"} 6"#));
        assert_eq!(line(r#"hot_test_total{kind="b"}"#).as_deref(), Some(r#"hot_test_total{kind="b"} 1"#));
        gauge_add("hot_test_gauge", &[], 3.0);
        gauge_add("hot_test_gauge", &[], -1.0);
        assert_eq!(line("hot_test_gauge").as_deref(), Some("hot_test_gauge 2"));
    }

    #[test]
    fn each_route_method_and_status_is_its_own_request_series() {
        super::super::install(&[]);
        // The same route in another allocation is the same series.
        let (route, again) = (String::from("/hot-test/{id}"), String::from("/hot-test/{id}"));
        request("GET", &route, 200, 0.001);
        request("GET", &again, 200, 0.001);
        request("GET", &route, 404, 0.001);
        request("POST", &route, 200, 0.001);
        let total = |method: &str, status: u16| {
            line(&format!(r#"http_requests_total{{method="{method}",route="/hot-test/{{id}}",status="{status}"}}"#))
                .and_then(|l| l.rsplit(' ').next().map(str::to_owned))
        };
        assert_eq!(total("GET", 200).as_deref(), Some("2"));
        assert_eq!(total("GET", 404).as_deref(), Some("1"));
        assert_eq!(total("POST", 200).as_deref(), Some("1"));
    }
}
