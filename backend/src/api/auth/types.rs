//! The account endpoints' request and response shapes.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::platform::http::validate::{Validate, Violations};

#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    access_token: String,
    /// Always `bearer`.
    token_type: String,
}

impl Token {
    pub fn bearer(access_token: String) -> Self {
        Self { access_token, token_type: "bearer".into() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Verified {
    pub message: String,
    pub access_token: String,
    pub token_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    message: String,
}

pub fn message(text: &str) -> Json<Message> {
    Json(Message { message: text.into() })
}

#[derive(Deserialize, ToSchema)]
pub struct Register {
    pub email: String,
    pub username: String,
    pub password: String,
}

impl Validate for Register {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
        v.str_len("username", &self.username, 2, Some(50));
        v.str_len("password", &self.password, 8, Some(100));
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginJson {
    pub email: String,
    pub password: String,
}

impl Validate for LoginJson {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
    }
}

/// OAuth2's password form: `username` carries the e-mail.
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

impl Validate for LoginForm {
    fn validate(&self, _: &mut Violations) {}
}

#[derive(Deserialize, IntoParams)]
pub struct TokenQuery {
    pub token: String,
}

impl Validate for TokenQuery {
    fn validate(&self, _: &mut Violations) {}
}

#[derive(Deserialize, ToSchema)]
pub struct EmailOnly {
    pub email: String,
}

impl Validate for EmailOnly {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPassword {
    pub token: String,
    pub password: String,
}

impl Validate for ResetPassword {
    fn validate(&self, v: &mut Violations) {
        v.str_len("password", &self.password, 8, Some(100));
    }
}
