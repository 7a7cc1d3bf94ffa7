//! The chat endpoints' request and response bodies.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    data::{
        chats::{Chat, ChatMessage},
        limits::MAX_CHAT_MESSAGE,
    },
    platform::http::{
        page,
        validate::{Validate, Violations},
    },
};

#[derive(Deserialize, ToSchema)]
pub struct CreateChat {
    pub persona_id: i64,
}

impl Validate for CreateChat {
    fn validate(&self, _: &mut Violations) {}
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatPage {
    #[serde(default = "page::first")]
    #[param(minimum = 1)]
    pub page: i64,
    #[serde(default = "page::ten")]
    #[param(minimum = 1, maximum = 50)]
    pub per_page: i64,
}

impl Validate for ChatPage {
    fn validate(&self, v: &mut Violations) {
        page::validate(v, self.page, self.per_page, 50);
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChatList {
    pub items: Vec<Chat>,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ChatWithMessages {
    #[serde(flatten)]
    pub chat: Chat,
    pub messages: Vec<ChatMessage>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageLimit {
    #[serde(default = "fifty")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: i64,
}

fn fifty() -> i64 {
    50
}

impl Validate for MessageLimit {
    fn validate(&self, v: &mut Violations) {
        v.range("limit", self.limit, 1, Some(100));
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SendMessage {
    #[schema(min_length = 1, max_length = 4000)]
    pub content: String,
}

impl Validate for SendMessage {
    fn validate(&self, v: &mut Violations) {
        v.str_len("content", &self.content, 1, Some(MAX_CHAT_MESSAGE));
    }
}
