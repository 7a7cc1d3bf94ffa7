//! The OpenAPI document of every endpoint, generated from the handlers' annotations and served
//! at `/api/v1/openapi.json`.

use axum::Json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};



#[derive(OpenApi)]
#[openapi(
    info(title = "DearMe API", version = "1.0.0", description = "AI diary backend; wire-compatible with the DearMe frontend."),
    paths(
        crate::api::auth::register, crate::api::auth::login_json, crate::api::auth::login_form, crate::api::auth::verify_email,
        crate::api::auth::resend_verification, crate::api::auth::forgot_password, crate::api::auth::reset_password, crate::api::auth::logout,
        crate::api::users::get_me, crate::api::users::update_me, crate::api::users::search_users, crate::api::users::get_user,
        crate::api::diaries::create_diary, crate::api::diaries::list_diaries, crate::api::diaries::count_diaries,
        crate::api::diaries::insights::get_stats, crate::api::diaries::insights::get_calendar,
        crate::api::diaries::insights::get_weekly_insight, crate::api::diaries::insights::get_prompt_suggestions,
        crate::api::diaries::get_diary, crate::api::diaries::update_diary, crate::api::diaries::delete_diary,
        crate::api::friends::list_friends, crate::api::friends::send_request, crate::api::friends::list_received,
        crate::api::friends::list_sent, crate::api::friends::respond_to_request, crate::api::friends::delete_friend,
        crate::api::friends::list_friends_with_persona, crate::api::friends::list_recommendations,
        crate::api::subscriptions::get_status, crate::api::subscriptions::get_usage, crate::api::subscriptions::list_plans,
        crate::api::subscriptions::upgrade, crate::api::subscriptions::cancel, crate::api::subscriptions::get_mine,
        crate::api::personas::get_status, crate::api::personas::get_my_persona, crate::api::personas::update_my_persona,
        crate::api::personas::customize_my_persona, crate::api::personas::generate_persona, crate::api::personas::regenerate_persona,
        crate::api::personas::get_friend_persona,
        crate::api::chats::create_chat, crate::api::chats::list_chats, crate::api::chats::get_chat, crate::api::chats::delete_chat,
        crate::api::chats::send_message, crate::api::chats::list_messages, crate::api::chats::stream_message, crate::api::chats::resume_stream,
        crate::api::notifications::list_notifications, crate::api::notifications::get_unread_count,
        crate::api::notifications::get_notification, crate::api::notifications::read_notification,
        crate::api::notifications::mark_all_notifications_read, crate::api::notifications::mark_notifications_read,
        crate::api::notifications::delete_notification,
        crate::api::mental::get_current_analysis, crate::api::mental::get_radar, crate::api::mental::list_history,
        crate::api::mental::check_negative_trend, crate::api::mental::list_book_recommendations, crate::api::mental::get_feedback,
        crate::api::reports::get_weekly_report, crate::api::reports::get_monthly_report,
        crate::api::quiz::list_questions, crate::api::quiz::submit_quiz, crate::api::quiz::get_persona_level, crate::api::quiz::upgrade_persona,
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
