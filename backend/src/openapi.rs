//! The OpenAPI document of every endpoint, served at `/api/v1/openapi.json`. Its paths come from
//! the routers themselves (`utoipa_axum::routes!` reads each handler's `#[utoipa::path]`), so a
//! route cannot be served without being documented, or documented without being served; this
//! module adds what is global: title, tags and the bearer scheme.

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use utoipa_axum::router::OpenApiRouter;

use crate::{
    api::state::AppState,
    platform::error::{ErrorBody, FieldError, ValidationErrorBody},
};

#[derive(OpenApi)]
#[openapi(
    info(title = "DearMe API", version = "1.0.0", description = "AI diary backend; wire-compatible with the DearMe frontend."),
    // The error bodies the shared `Unauthenticated` and `Invalid` responses refer to.
    components(schemas(ErrorBody, ValidationErrorBody, FieldError)),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "diaries"), (name = "friends"), (name = "subscriptions"), (name = "personas"),
        (name = "chats"), (name = "notifications"), (name = "mental"), (name = "quiz"), (name = "jobs")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The API's routes, and the document that describes exactly those routes (with the responses
/// and links every operation shares, added once the routes are in: `api::openapi_extras`).
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(crate::api::router()).split_for_parts();
    crate::api::openapi_extras::Extras.modify(&mut document);
    (router, document)
}
