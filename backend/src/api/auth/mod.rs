//! Accounts: registration, login, e-mail verification, password reset, logout (contract 4.1),
//! and the session every other endpoint authenticates with.

pub mod hashing;
pub mod jwt;
pub mod login;
pub mod password;
pub mod ratelimit;
pub mod register;
pub mod revoked;
pub mod session;
mod tokens;
mod types;
pub mod verified;
pub mod verify;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use crate::platform::random::token as random_token;
use crate::{api::state::AppState, platform::http::timeout};
/// The sign-up input and its rules, which `dearme users create` applies too.
pub use types::Register;

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register::register))
        .routes(routes!(login::login_json))
        .routes(routes!(login::login_form))
        .routes(routes!(verify::verify_email))
        .routes(routes!(verify::resend_verification))
        .routes(routes!(password::forgot_password))
        .routes(routes!(password::reset_password))
        .routes(routes!(login::logout))
        .route_layer(timeout::short())
}
