//! Middleware of our own: RED metrics per matched route (the route also goes to the request's log
//! lines), and the contract's JSON error shape for responses produced outside our handlers
//! (unknown routes, 405, 413, timeouts, panics).

use std::{
    convert::Infallible,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    BoxError,
    body::{Body, Bytes, HttpBody},
    extract::{MatchedPath, Request},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures_util::{
    FutureExt,
    future::{BoxFuture, Map},
};
use serde_json::json;
use tower::{Layer, Service};

use crate::platform::{cache, metrics::hot, telemetry};

/// Where [`record_route`] leaves the matched route for [`RecordMetrics`], which runs outside
/// routing (and outside the timeout and panic layers).
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// Request count and latency, labelled by method, matched route (bounded cardinality: never the
/// raw URI) and status. It wraps the panic and timeout layers, so the 500s and 503s they produce
/// are counted like any other answer; requests that matched no API route are not counted.
///
/// A hand-written service rather than `middleware::from_fn`: `from_fn` clones the whole stack
/// beneath it on every request (CORS configuration included), which cost the cheapest cached
/// reads about 7 % (`scripts/bench-ab`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordMetricsLayer;

impl<S> Layer<S> for RecordMetricsLayer {
    type Service = RecordMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordMetrics { inner }
    }
}

/// The service [`RecordMetricsLayer`] makes.
#[derive(Clone, Debug)]
pub struct RecordMetrics<S> {
    inner: S,
}

impl<S> Service<Request> for RecordMetrics<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(req.method());
        let slot = RouteSlot::default();
        req.extensions_mut().insert(slot.clone());
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            if let Some(route) = slot.0.get() {
                hot::request(method, route.as_str(), response.status().as_u16(), started.elapsed().as_secs_f64());
            }
            Ok(response)
        })
    }
}

/// The routing half of [`RecordMetrics`] (a `route_layer`): the matched route, for the metrics
/// and the request's log lines, and the in-flight gauge. A write's answer waits here for the
/// fence lease of its invalidations (`cache::answer_after_invalidations`), after its handler has
/// let go of its database connections.
pub async fn record_route(req: Request, next: Next) -> Response {
    if let Some(route) = req.extensions().get::<MatchedPath>() {
        // The request's log lines learn the matched route here.
        telemetry::record_route(route);
        if let Some(slot) = req.extensions().get::<RouteSlot>() {
            let _ = slot.0.set(route.clone());
        }
    }
    let _in_flight = InFlight::enter();
    cache::answer_after_invalidations(next.run(req)).await
}

/// One request in `http_requests_in_flight`, until dropped: also when the request's future is
/// dropped (a timeout, a client gone) or unwound by a panic.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        hot::gauge_add("http_requests_in_flight", &[], 1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        hot::gauge_add("http_requests_in_flight", &[], -1.0);
    }
}

/// The method as a label: the standard ones, anything else `other` (bounded cardinality).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] =
        [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS];
    KNOWN.iter().find(|m| *m == method).map_or("other", Method::as_str)
}

/// Rewrites non-JSON error responses (from axum or tower-http layers) into `{"detail": ...}`, and
/// turns the body of the stack beneath it into axum's.
///
/// Hand-written for the reason [`RecordMetrics`] is: `middleware::from_fn` clones the stack
/// beneath it on every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonErrorsLayer;

impl<S> Layer<S> for JsonErrorsLayer {
    type Service = JsonErrors<S>;
    fn layer(&self, inner: S) -> Self::Service {
        JsonErrors { inner }
    }
}

/// The service [`JsonErrorsLayer`] makes.
#[derive(Clone, Debug)]
pub struct JsonErrors<S> {
    inner: S,
}

type Rewrite<B> = fn(Result<Response<B>, Infallible>) -> Result<Response, Infallible>;

impl<S, B> Service<Request> for JsonErrors<S>
where
    S: Service<Request, Response = Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Map<S::Future, Rewrite<B>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let rewrite: Rewrite<B> = |result| Ok(json_error(result?.map(Body::new)));
        self.inner.call(req).map(rewrite)
    }
}

/// `response` itself, unless it is an error whose body is not JSON: then the contract's shape.
fn json_error(response: Response) -> Response {
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => "Service temporarily unavailable",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported Media Type",
        s if s.is_server_error() => "Internal Server Error",
        s => s.canonical_reason().unwrap_or("Error"),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    // The compression layer beneath may have encoded the body this replaces: the new one is plain.
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(json!({ "detail": detail }).to_string()))
}

pub async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "detail": "Not Found" })))
}

pub async fn method_not_allowed() -> impl IntoResponse {
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({ "detail": "Method Not Allowed" })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rewritten_error_drops_the_encoding_of_the_body_it_replaces() {
        use tower::ServiceExt;
        let app = JsonErrorsLayer.layer(axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                (StatusCode::BAD_REQUEST, [(header::CONTENT_ENCODING, "gzip")], vec![0x1f_u8, 0x8b, 8, 0])
            }),
        ));
        let res = app.oneshot(Request::new(Body::empty())).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"detail":"Bad Request"}"#);
    }

    #[test]
    fn only_the_standard_methods_are_labels() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        assert_eq!(method_label(&Method::TRACE), "other");
        assert_eq!(method_label(&Method::from_bytes(b"PURGE").unwrap()), "other");
    }
}
