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
        crate::api::auth::register::register, crate::api::auth::login::login_json, crate::api::auth::login::login_form,
        crate::api::auth::verify::verify_email, crate::api::auth::verify::resend_verification,
        crate::api::auth::password::forgot_password, crate::api::auth::password::reset_password, crate::api::auth::login::logout,
        crate::api::users::handlers::get_me, crate::api::users::handlers::update_me,
        crate::api::users::handlers::search_users, crate::api::users::handlers::get_user,
        crate::api::diaries::create::create_diary, crate::api::diaries::handlers::list_diaries,
        crate::api::diaries::handlers::count_diaries, crate::api::diaries::insights::get_stats,
        crate::api::diaries::insights::get_calendar, crate::api::diaries::weekly::get_weekly_insight,
        crate::api::diaries::prompts::get_prompt_suggestions, crate::api::diaries::handlers::get_diary,
        crate::api::diaries::handlers::update_diary, crate::api::diaries::handlers::delete_diary,
        crate::api::friends::lists::list_friends, crate::api::friends::requests::send_request,
        crate::api::friends::requests::list_received, crate::api::friends::requests::list_sent,
        crate::api::friends::requests::respond_to_request, crate::api::friends::lists::delete_friend,
        crate::api::friends::lists::list_friends_with_persona, crate::api::friends::lists::list_recommendations,
        crate::api::subscriptions::handlers::get_status, crate::api::subscriptions::handlers::get_usage,
        crate::api::subscriptions::handlers::list_plans, crate::api::subscriptions::handlers::upgrade,
        crate::api::subscriptions::handlers::cancel, crate::api::subscriptions::handlers::get_mine,
        crate::api::personas::handlers::get_status, crate::api::personas::handlers::get_my_persona,
        crate::api::personas::handlers::update_my_persona, crate::api::personas::handlers::customize_my_persona,
        crate::api::personas::generate::generate_persona, crate::api::personas::generate::regenerate_persona,
        crate::api::personas::handlers::get_friend_persona,
        crate::api::chats::crud::create_chat, crate::api::chats::crud::list_chats, crate::api::chats::crud::get_chat,
        crate::api::chats::crud::delete_chat, crate::api::chats::send::send_message, crate::api::chats::crud::list_messages,
        crate::api::chats::relay::stream_message, crate::api::chats::relay::resume_stream,
        crate::api::notifications::handlers::list_notifications, crate::api::notifications::handlers::get_unread_count,
        crate::api::notifications::handlers::get_notification, crate::api::notifications::read_marks::read_notification,
        crate::api::notifications::read_marks::mark_all_notifications_read,
        crate::api::notifications::read_marks::mark_notifications_read, crate::api::notifications::handlers::delete_notification,
        crate::api::mental::analyses::get_current_analysis, crate::api::mental::analyses::get_radar,
        crate::api::mental::analyses::list_history, crate::api::mental::analyses::check_negative_trend,
        crate::api::mental::books::list_book_recommendations, crate::api::mental::analyses::get_feedback,
        crate::api::reports::handlers::get_weekly_report, crate::api::reports::handlers::get_monthly_report,
        crate::api::quiz::questions::list_questions, crate::api::quiz::questions::submit_quiz,
        crate::api::quiz::levels::get_persona_level, crate::api::quiz::levels::upgrade_persona,
        crate::api::jobs::get_job,
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
