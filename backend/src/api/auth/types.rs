//! The account endpoints' request and response shapes.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    data::limits::{MAX_EMAIL, MAX_PASSWORD, MAX_TOKEN},
    platform::http::validate::{Validate, Violations},
};

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
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[schema(min_length = 2, max_length = 50)]
    pub username: String,
    #[schema(min_length = 8, max_length = 100)]
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
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[schema(max_length = 100)]
    pub password: String,
}

impl Validate for LoginJson {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
        // No account has a longer one (registration caps it), and hashing is the expensive part.
        v.str_len("password", &self.password, 0, Some(MAX_PASSWORD));
    }
}

/// OAuth2's password form: `username` carries the e-mail.
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    #[schema(max_length = 254)]
    pub username: String,
    #[schema(max_length = 100)]
    pub password: String,
}

impl Validate for LoginForm {
    fn validate(&self, v: &mut Violations) {
        v.str_len("username", &self.username, 0, Some(MAX_EMAIL));
        v.str_len("password", &self.password, 0, Some(MAX_PASSWORD));
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    #[param(max_length = 128)]
    pub token: String,
}

impl Validate for TokenQuery {
    fn validate(&self, v: &mut Violations) {
        v.str_len("token", &self.token, 0, Some(MAX_TOKEN));
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EmailOnly {
    #[schema(max_length = 254, format = Email)]
    pub email: String,
}

impl Validate for EmailOnly {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPassword {
    #[schema(max_length = 128)]
    pub token: String,
    #[schema(min_length = 8, max_length = 100)]
    pub password: String,
}

impl Validate for ResetPassword {
    fn validate(&self, v: &mut Violations) {
        v.str_len("token", &self.token, 0, Some(MAX_TOKEN));
        v.str_len("password", &self.password, 8, Some(100));
    }
}
