//! Chats with personas (contract 4.6): the chats and their messages (`crud`), sending a message
//! within the plan's daily limit (`send`, `limits`), the reply's SSE stream (`relay`) and the
//! diaries a reply drew on (`sources`).
//! Replies are written by the worker (`jobs::chat`).

pub mod crud;
mod limits;
pub mod relay;
pub mod send;
pub mod sources;
pub mod streams;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::create_chat, crud::list_chats))
        .routes(routes!(crud::get_chat, crud::delete_chat))
        .routes(routes!(crud::list_messages))
        .routes(routes!(sources::get_sources))
        .route_layer(timeout::short())
        // Waits for the reply job.
        .merge(OpenApiRouter::new().routes(routes!(send::send_message)).route_layer(timeout::waiting()))
        // SSE: each stream ends itself after `STREAM_IDLE_TIMEOUT_MS` without an event.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(relay::stream_message))
                .routes(routes!(relay::resume_stream))
                .route_layer(timeout::streaming()),
        )
}
