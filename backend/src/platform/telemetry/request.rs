//! Which request a log line was written for, without a span per request.
//!
//! Every request used to open an `info` span for this, so the production level paid for a span on
//! every request (registry slot, a shared reference count taken and dropped on every poll, a
//! lock on each recorded field) whether or not anything was logged. The same facts are now a
//! task-local value: [`RequestContextLayer`] scopes it around the request's future, the route and
//! the user are set in it once known, and the log formatter ([`WithRequest`]) reads it only when a
//! line is written. A request that logs nothing pays for moving it in and out of its slot on each
//! poll.
//!
//! The scope is the request's future as it is polled: the route's middleware, extractors and
//! handler, and what the layers beneath write from their futures. Each layer's `call`, run while
//! the request is handed down the stack, is outside it; so are a streamed body polled after the
//! handler returned and a task spawned from a request (a span had to be passed to a spawned task
//! explicitly too). Their lines carry no request.

use std::{
    cell::{Cell, OnceCell},
    fmt::{self, Write},
    task::{Context, Poll},
};

use axum::{
    extract::{MatchedPath, Request},
    http::{HeaderValue, Method},
};
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::{Event, Subscriber};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// What a request's log lines say about it: `method` and `request_id` from the start, `route`
/// after routing, `user_id` once the session is known. Never the raw path (it can carry ids and
/// tokens).
pub struct RequestContext {
    method: Method,
    request_id: Option<HeaderValue>,
    route: OnceCell<MatchedPath>,
    user_id: Cell<Option<i64>>,
}

/// The matched route of the current request, for its log lines.
pub fn record_route(route: &MatchedPath) {
    let _ = REQUEST.try_with(|r| r.route.set(route.clone()));
}

/// The user the current request is for, for its log lines.
pub fn record_user(user_id: i64) {
    let _ = REQUEST.try_with(|r| r.user_id.set(Some(user_id)));
}

/// Scopes a [`RequestContext`] around each request (beneath the request id's layer, which it
/// reads).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestContextLayer;

impl<S> Layer<S> for RequestContextLayer {
    type Service = WithRequestContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithRequestContext { inner }
    }
}

#[derive(Clone, Debug)]
pub struct WithRequestContext<S> {
    inner: S,
}

impl<S: Service<Request>> Service<Request> for WithRequestContext<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = TaskLocalFuture<RequestContext, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let context = RequestContext {
            method: req.method().clone(),
            request_id: req.headers().get("x-request-id").cloned(),
            route: OnceCell::new(),
            user_id: Cell::new(None),
        };
        REQUEST.scope(context, self.inner.call(req))
    }
}

/// An event formatter that adds the current request, if any, to each line: a `request` object in
/// JSON lines, `request{...}` at the end of a text line. A line inside a request is formatted
/// into a buffer first, and in text loses the level's and target's colours.
pub struct WithRequest<F> {
    inner: F,
    json: bool,
}

impl<F> WithRequest<F> {
    pub fn json(inner: F) -> Self {
        Self { inner, json: true }
    }

    pub fn text(inner: F) -> Self {
        Self { inner, json: false }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let Ok(request) = REQUEST.try_with(|r| if self.json { r.json() } else { r.text() }) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        // The inner formatter ends the line (`{...}` or text, then a newline): the request goes
        // before the JSON object's closing brace, or before the text's newline.
        let body = line.trim_end_matches('\n');
        let cut = if self.json { body.strip_suffix('}').map(str::len) } else { Some(body.len()) };
        match cut {
            Some(at) => {
                let separator = if !self.json {
                    " "
                } else if line[..at].ends_with('{') {
                    ""
                } else {
                    ","
                };
                writer.write_str(&line[..at])?;
                writer.write_str(separator)?;
                writer.write_str(&request)?;
                writer.write_str(&line[at..])
            }
            None => writer.write_str(&line),
        }
    }
}

impl RequestContext {
    /// `"request":{...}`: each value a JSON string or number.
    fn json(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push_str("\"request\":{\"method\":");
        push_json_str(&mut out, self.method.as_str());
        out.push_str(",\"request_id\":");
        push_json_str(&mut out, self.request_id());
        if let Some(route) = self.route.get() {
            out.push_str(",\"route\":");
            push_json_str(&mut out, route.as_str());
        }
        if let Some(user_id) = self.user_id.get() {
            let _ = write!(out, ",\"user_id\":{user_id}");
        }
        out.push('}');
        out
    }

    /// `request{method=GET request_id="..." route=... user_id=...}`.
    fn text(&self) -> String {
        let mut out = format!("request{{method={} request_id={:?}", self.method, self.request_id());
        if let Some(route) = self.route.get() {
            let _ = write!(out, " route={}", route.as_str());
        }
        if let Some(user_id) = self.user_id.get() {
            let _ = write!(out, " user_id={user_id}");
        }
        out.push('}');
        out
    }

    /// The request id as text: empty when absent or not visible ASCII (as the span had it).
    fn request_id(&self) -> &str {
        self.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::from(s).to_string());
}

#[cfg(test)]
mod tests {
    use axum::{
        Router,
        body::Body,
        middleware::{self, Next},
        response::Response,
        routing::get,
    };
    use serde_json::{Value, json};
    use tower::ServiceExt;
    use tracing_subscriber::{fmt, prelude::*};

    use super::*;
    use crate::platform::telemetry::{Lines, json_fields::AppendJsonFields};

    /// A line outside any request, then a request to `/users/{id}` through [`RequestContextLayer`]
    /// whose handler logs one line at the top and one inside a span; the lines as written.
    fn log_a_request(json: bool, request_id: &str) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let layer = if json {
            let format = fmt::format().json().flatten_event(true).with_current_span(true);
            fmt::layer()
                .event_format(WithRequest::json(format))
                .fmt_fields(AppendJsonFields)
                .with_writer(move || writer.clone())
                .boxed()
        } else {
            let format = fmt::format().compact().with_ansi(false);
            fmt::layer()
                .event_format(WithRequest::text(format))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .boxed()
        };
        async fn route(req: Request, next: Next) -> Response {
            record_route(req.extensions().get::<MatchedPath>().unwrap());
            record_user(42);
            next.run(req).await
        }
        let app = Router::new()
            .route(
                "/users/{id}",
                get(|| async {
                    tracing::error!(cause = "boom", "failed");
                    let span = tracing::info_span!("inner", step = 2);
                    span.in_scope(|| tracing::warn!("inside"));
                }),
            )
            .route_layer(middleware::from_fn(route))
            .layer(RequestContextLayer);
        let request =
            axum::http::Request::get("/users/7").header("x-request-id", request_id).body(Body::empty()).unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!("outside");
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async { app.oneshot(request).await.unwrap() });
        });
        lines.text()
    }

    #[test]
    fn json_lines_in_a_request_carry_it_and_stay_valid_json() {
        let text = log_a_request(true, r#"say "hi" \ "#);
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["message"], "outside");
        assert_eq!(lines[0].get("request"), None);
        let request = json!({ "method": "GET", "request_id": r#"say "hi" \ "#, "route": "/users/{id}", "user_id": 42 });
        assert_eq!(lines[1]["request"], request);
        assert_eq!(
            (&lines[1]["message"], &lines[1]["cause"], lines[1].get("span")),
            (&json!("failed"), &json!("boom"), None)
        );
        assert_eq!(lines[2]["request"], request);
        assert_eq!(lines[2]["span"], json!({ "name": "inner", "step": 2 }));
    }

    #[test]
    fn text_lines_in_a_request_end_with_it() {
        let text = log_a_request(false, "abc");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("outside"), "{text}");
        let request = r#" request{method=GET request_id="abc" route=/users/{id} user_id=42}"#;
        assert!(lines[1].contains("failed") && lines[1].ends_with(request), "{text}");
        assert!(lines[2].contains("inside") && lines[2].ends_with(request), "{text}");
        assert!(text.ends_with('\n'));
    }
}
