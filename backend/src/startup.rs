//! Boot in one place: `Application::build(Settings)` is what `main` serves and what every
//! integration test runs (on port 0), so tests exercise exactly the production wiring.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware,
    routing::get,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::CompressionLayer,
    cors::{AllowCredentials, AllowHeaders, AllowMethods, AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::{
    api::{
        health,
        state::{AppState, Inner},
    },
    openapi,
    platform::{
        core::Core,
        http::{
            middleware::{JsonErrorsLayer, RecordMetricsLayer, method_not_allowed, not_found, record_route},
            timeout::{self, Timeouts},
        },
        mail::Mailer,
        metrics,
        settings::Settings,
        telemetry::RequestContextLayer,
    },
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    replica_monitor: tokio::task::JoinHandle<()>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let (state, replica_monitor) = build_state(&settings).await?;
        // The API's reads get a first cache level in this process; the worker only invalidates.
        state.cache.start_local(settings.cache_local.max_bytes, settings.cache_local.ttl);
        let listener = TcpListener::bind(&settings.listen_addr)
            .await
            .with_context(|| format!("binding {}", settings.listen_addr))?;
        Ok(Self { router: router(&state), listener, state, replica_monitor })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "serving");
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await;
        self.replica_monitor.abort();
        result.context("server")
    }
}

/// The state the API and the worker share, and the replica monitor feeding its routing.
pub async fn build_state(settings: &Settings) -> anyhow::Result<(AppState, tokio::task::JoinHandle<()>)> {
    metrics::install(&crate::jobs::JobKind::names());
    metrics::register_llm_provider(&settings.llm);
    let (Core { db, redis, cache, writes }, monitor) = Core::start(settings).await?;
    let state = AppState::new(Inner {
        redis,
        mailer: Mailer::new(settings.smtp.as_ref()).context("smtp")?,
        rate_limiter: Default::default(),
        diary_ids: crate::api::diaries::id_block(),
        open_streams: Default::default(),
        revoked: Default::default(),
        jwt: crate::api::auth::jwt::JwtKey::new(settings.jwt_secret.expose().as_bytes()),
        cache,
        writes,
        db,
        settings: settings.clone(),
    });
    Ok((state, monitor))
}

pub fn router(state: &AppState) -> Router {
    let settings = &state.settings;
    let (api, document) = openapi::api();
    // Serialized once: the document is the same for the life of the process.
    let document = Bytes::from(serde_json::to_vec(&document).expect("the OpenAPI document serializes"));
    // Each API router sets its routes' time limits (`platform::http::timeout`); these get the
    // request timeout.
    let plain = Router::new()
        .route(
            "/api/v1/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document.clone()) }),
        )
        .merge(docs_page())
        .merge(health::router())
        .route("/", get(root))
        .route("/metrics", get(|State(state): State<AppState>| async move { metrics::render(&state.db) }))
        .route_layer(timeout::short());
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api.route_layer(middleware::from_fn(record_route)))
        .merge(plain)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION]))
                .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
                // Which request each log line is for (`platform::telemetry`: a task-local value,
                // not a span). tower-http's own span is none: it would record the raw path. Its
                // `started processing request` line is off: it is written in `call`, before the
                // request's future (and the context's scope) exists; `finished processing request`
                // (debug) and `response failed` (error) are written inside it.
                .layer(RequestContextLayer)
                .layer(TraceLayer::new_for_http().make_span_with(|_: &Request| tracing::Span::none()).on_request(()))
                // Outside the panic layer and the routes' time limits: their 500s and 503s count.
                .layer(RecordMetricsLayer)
                .layer(PropagateRequestIdLayer::new(request_id))
                // Outside the panic layer: a panic's 500 gets the JSON shape too.
                .layer(JsonErrorsLayer)
                .layer(CatchPanicLayer::new())
                .layer(SetResponseHeaderLayer::appending(header::VARY, VARY))
                .layer(cors(&settings.cors_origins))
                .layer(CompressionLayer::new())
                .layer(Extension(Timeouts::new(settings.request_timeout, settings.job_wait_timeout)))
                .layer(RequestBodyLimitLayer::new(settings.body_limit_bytes)),
        )
}

/// Origins compared as `AllowOrigin::list` would, as a predicate: axum clones the layers with a
/// route's service on every request, and a list is a `Vec` to copy each time, where a predicate
/// is kept behind an `Arc`. (`check-config` refuses `*`, which `list` would refuse too.)
///
/// A request without an `Origin` (the frontend's own, through nginx) allocates nothing here:
/// credentials are allowed only to an allowed origin (so not to a request without one), and
/// `Vary` is the constant [`VARY`], added outside it. Written by the layer, it was three
/// allocations per response. (As a predicate, credentials skip tower-http's check against
/// wildcards; nothing here is one.)
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Arc<[HeaderValue]> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    let allowed = origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| origins.contains(origin)))
        .allow_credentials(AllowCredentials::predicate(move |origin, _| allowed.contains(origin)))
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
        .vary([])
}

/// What every answer varies with: the allowed origin, and the preflight's mirrored method and
/// headers (what `CorsLayer` would write with the settings above).
const VARY: HeaderValue =
    HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers");

async fn root() -> Json<Value> {
    Json(json!({ "message": "DearMe API", "docs": "/api/v1/docs", "openapi": "/api/v1/openapi.json" }))
}

/// The interactive reference (Swagger UI) at `/api/v1/docs`, reading the document served above.
/// Its HTML, scripts and styles are compiled into the binary: the page works offline and behind
/// nginx's same-origin policy, and nothing is fetched from a CDN.
fn docs_page() -> Router<AppState> {
    SwaggerUi::new("/api/v1/docs").config(SwaggerConfig::new(["/api/v1/openapi.json"])).into()
}

/// Request ids: 128 random bits, hex.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&crate::platform::random::token(16)).ok().map(RequestId::new)
    }
}
