//! The notification endpoints' query string, request body and counter responses.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::{
    data::notifications::Notification,
    platform::http::validate::{Validate, Violations},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    /// Rows matching the filter (all, or unread only).
    pub total_count: i64,
    /// Unread rows, whatever the filter.
    pub unread_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedCount {
    pub updated_count: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[serde(default)]
    #[param(minimum = 0)]
    pub skip: i64,
    #[serde(default = "twenty")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: i64,
    /// Only unread notifications (omitted or `false`: all).
    #[serde(default)]
    pub unread_only: bool,
}

fn twenty() -> i64 {
    20
}

impl Validate for ListQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("skip", self.skip, 0, None);
        v.range("limit", self.limit, 1, Some(100));
    }
}

/// The most ids one mark-read call takes.
const MAX_IDS: usize = 500;

#[derive(Deserialize, ToSchema)]
pub struct MarkRead {
    /// 1 to 500 ids; ids that are unknown or not the caller's are ignored.
    #[schema(min_items = 1, max_items = 500)]
    pub notification_ids: Vec<i64>,
}

impl Validate for MarkRead {
    fn validate(&self, v: &mut Violations) {
        if self.notification_ids.is_empty() {
            v.push(
                "notification_ids",
                "too_short",
                "List should have at least 1 item after validation, not 0".into(),
                json!([]),
                Some(json!({ "field_type": "List", "min_length": 1, "actual_length": 0 })),
            );
        } else if self.notification_ids.len() > MAX_IDS {
            let n = self.notification_ids.len();
            v.push(
                "notification_ids",
                "too_long",
                format!("List should have at most {MAX_IDS} items after validation, not {n}"),
                json!(n),
                Some(json!({ "field_type": "List", "max_length": MAX_IDS, "actual_length": n })),
            );
        }
    }
}
