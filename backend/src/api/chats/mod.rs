//! Chats with personas (contract 4.6): the chats and their messages (`crud`), sending a message
//! within the plan's daily limit (`send`, `limits`), and the reply's SSE stream (`relay`).
//! Replies are written by the worker (`jobs::chat`).

pub mod crud;
mod limits;
pub mod relay;
pub mod send;
pub mod types;

use axum::{
    Router,
    routing::{get, post},
};

use self::{
    crud::{create_chat, delete_chat, get_chat, list_chats, list_messages},
    relay::{resume_stream, stream_message},
    send::send_message,
};
use crate::api::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chats", post(create_chat).get(list_chats))
        .route("/chats/{chat_id}", get(get_chat).delete(delete_chat))
        .route("/chats/{chat_id}/messages", post(send_message).get(list_messages))
        .route("/chats/{chat_id}/messages/stream", post(stream_message))
        .route("/chats/{chat_id}/messages/{message_id}/stream", get(resume_stream))
}
