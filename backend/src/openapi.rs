//! The OpenAPI document, served at `/api/v1/openapi.json`.

use axum::Json;
use serde_json::Value;

pub async fn document() -> Json<Value> {
    Json(serde_json::json!({}))
}
