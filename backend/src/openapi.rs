//! The OpenAPI document of every endpoint, generated from the handlers' annotations and served
//! at `/api/v1/openapi.json`.

use axum::Json;
use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::error::FieldError;

/// A business error: `{"detail": "<exact string from the contract>"}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub detail: String,
}

/// A validation error: `{"detail": [{type, loc, msg, input, ctx?}]}` (pydantic's shape).
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "DearMe API", version = "1.0.0", description = "AI diary backend; wire-compatible with the DearMe frontend."),
    paths(
        crate::auth::register, crate::auth::login_json, crate::auth::login_form, crate::auth::verify_email,
        crate::auth::resend_verification, crate::auth::forgot_password, crate::auth::reset_password, crate::auth::logout,
        crate::users::get_me, crate::users::update_me, crate::users::search_users, crate::users::get_user,
        crate::diaries::create_diary, crate::diaries::list_diaries, crate::diaries::count_diaries,
        crate::diaries::insights::get_stats, crate::diaries::insights::get_calendar,
        crate::diaries::insights::get_weekly_insight, crate::diaries::insights::get_prompt_suggestions,
        crate::diaries::get_diary, crate::diaries::update_diary, crate::diaries::delete_diary,
        crate::friends::list_friends, crate::friends::send_request, crate::friends::list_received,
        crate::friends::list_sent, crate::friends::respond_to_request, crate::friends::delete_friend,
        crate::friends::list_friends_with_persona, crate::friends::list_recommendations,
        crate::subscriptions::get_status, crate::subscriptions::get_usage, crate::subscriptions::list_plans,
        crate::subscriptions::upgrade, crate::subscriptions::cancel, crate::subscriptions::get_mine,
        crate::personas::get_status, crate::personas::get_my_persona, crate::personas::update_my_persona,
        crate::personas::customize_my_persona, crate::personas::generate_persona, crate::personas::regenerate_persona,
        crate::personas::get_friend_persona,
        crate::chats::create_chat, crate::chats::list_chats, crate::chats::get_chat, crate::chats::delete_chat,
        crate::chats::send_message, crate::chats::list_messages, crate::chats::stream_message, crate::chats::resume_stream,
        crate::notifications::list_notifications, crate::notifications::get_unread_count,
        crate::notifications::get_notification, crate::notifications::read_notification,
        crate::notifications::mark_all_notifications_read, crate::notifications::mark_notifications_read,
        crate::notifications::delete_notification,
        crate::mental::get_current_analysis, crate::mental::get_radar, crate::mental::list_history,
        crate::mental::check_negative_trend, crate::mental::list_book_recommendations, crate::mental::get_feedback,
        crate::reports::get_weekly_report, crate::reports::get_monthly_report,
        crate::quiz::list_questions, crate::quiz::submit_quiz, crate::quiz::get_persona_level, crate::quiz::upgrade_persona,
        crate::jobs::get_job,
    ),
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

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
