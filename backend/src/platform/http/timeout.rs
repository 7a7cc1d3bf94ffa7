//! Time limits per route group, applied by each router with `route_layer`:
//! - [`short`]: `REQUEST_TIMEOUT_MS`, what every route gets unless it says otherwise;
//! - [`waiting`]: the endpoints that wait for a job, `JOB_WAIT_TIMEOUT_MS` + [`WAIT_MARGIN`] (the
//!   handler gives up on the job first and answers 504; this only bounds a handler that hangs);
//! - [`streaming`]: SSE, no whole-request limit (each stream ends itself after
//!   `STREAM_IDLE_TIMEOUT_MS` without an event).
//!
//! The durations come from the settings at request time: `startup` puts [`Timeouts`] in every
//! request's extensions, so the routers need no settings to be built. A route cut by its limit
//! answers 503 `{"detail": "Service temporarily unavailable"}`.

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Json,
    extract::Request,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures_util::future::BoxFuture;
use serde_json::json;
use tower::{Layer, Service};

/// What a waiting endpoint gets beyond the job wait, to answer once the wait is over.
pub const WAIT_MARGIN: Duration = Duration::from_secs(5);

/// The limits in force (from `REQUEST_TIMEOUT_MS` and `JOB_WAIT_TIMEOUT_MS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub request: Duration,
    pub waiting: Duration,
}

impl Timeouts {
    pub fn new(request_timeout: Duration, job_wait_timeout: Duration) -> Self {
        Self { request: request_timeout, waiting: job_wait_timeout + WAIT_MARGIN }
    }

    fn limit(self, class: Class) -> Option<Duration> {
        match class {
            Class::Short => Some(self.request),
            Class::Waiting => Some(self.waiting),
            Class::Streaming => None,
        }
    }
}

impl Default for Timeouts {
    /// The settings' defaults, for a router served without `startup`'s extension.
    fn default() -> Self {
        Self::new(Duration::from_secs(30), Duration::from_secs(90))
    }
}

#[derive(Clone, Copy, Debug)]
enum Class {
    Short,
    Waiting,
    Streaming,
}

/// `REQUEST_TIMEOUT_MS`.
pub fn short() -> RouteTimeout {
    RouteTimeout(Class::Short)
}

/// `JOB_WAIT_TIMEOUT_MS` + [`WAIT_MARGIN`].
pub fn waiting() -> RouteTimeout {
    RouteTimeout(Class::Waiting)
}

/// No whole-request limit (SSE: bounded by the stream's own idle timeout).
pub fn streaming() -> RouteTimeout {
    RouteTimeout(Class::Streaming)
}

/// The layer [`short`], [`waiting`] and [`streaming`] make.
#[derive(Clone, Copy, Debug)]
pub struct RouteTimeout(Class);

impl<S> Layer<S> for RouteTimeout {
    type Service = TimeoutService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService { inner, class: self.0 }
    }
}

#[derive(Clone, Debug)]
pub struct TimeoutService<S> {
    inner: S,
    class: Class,
}

impl<S> Service<Request> for TimeoutService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let limit = req.extensions().get::<Timeouts>().copied().unwrap_or_default().limit(self.class);
        let response = self.inner.call(req);
        Box::pin(async move {
            let Some(limit) = limit else { return response.await };
            // On expiry the handler's future is dropped: whatever it held is released.
            tokio::time::timeout(limit, response).await.unwrap_or_else(|_| Ok(unavailable()))
        })
    }
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "detail": "Service temporarily unavailable" }))).into_response()
}

#[cfg(test)]
mod tests {
    use axum::{Extension, Router, body::Body, routing::get};
    use tower::ServiceExt;

    use super::*;

    /// A route that answers after `delay`, under `layer`, with a 50 ms request limit and a
    /// 150 ms job wait (so 5.15 s for the waiting routes).
    async fn status(layer: RouteTimeout, delay: Duration) -> StatusCode {
        let app = Router::new()
            .route(
                "/",
                get(move || async move {
                    tokio::time::sleep(delay).await;
                    "done"
                }),
            )
            .route_layer(layer)
            .layer(Extension(Timeouts::new(Duration::from_millis(50), Duration::from_millis(150))));
        app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap().status()
    }

    #[tokio::test]
    async fn each_route_group_has_its_own_limit() {
        assert_eq!(status(short(), Duration::from_millis(5)).await, StatusCode::OK);
        assert_eq!(status(short(), Duration::from_millis(200)).await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status(waiting(), Duration::from_millis(200)).await, StatusCode::OK);
        assert_eq!(status(streaming(), Duration::from_millis(200)).await, StatusCode::OK);
    }

    #[test]
    fn waiting_routes_get_the_job_wait_and_a_margin() {
        let t = Timeouts::new(Duration::from_secs(30), Duration::from_secs(90));
        assert_eq!(t.limit(Class::Short), Some(Duration::from_secs(30)));
        assert_eq!(t.limit(Class::Waiting), Some(Duration::from_secs(95)));
        assert_eq!(t.limit(Class::Streaming), None);
    }
}
