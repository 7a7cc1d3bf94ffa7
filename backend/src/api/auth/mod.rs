//! Accounts: registration, login, e-mail verification, password reset, logout (contract 4.1),
//! and the session every other endpoint authenticates with.

mod hashing;
pub mod jwt;
pub mod login;
pub mod password;
pub mod ratelimit;
pub mod register;
pub mod session;
mod tokens;
mod types;
pub mod verify;

use axum::{
    Router,
    routing::{get, post},
};

use crate::api::state::AppState;
pub use crate::platform::random::token as random_token;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register::register))
        .route("/auth/login/json", post(login::login_json))
        .route("/auth/login", post(login::login_form))
        .route("/auth/verify-email", get(verify::verify_email))
        .route("/auth/resend-verification", post(verify::resend_verification))
        .route("/auth/forgot-password", post(password::forgot_password))
        .route("/auth/reset-password", post(password::reset_password))
        .route("/auth/logout", post(login::logout))
}
