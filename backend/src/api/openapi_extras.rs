//! What the generated OpenAPI document states once for every operation rather than on each
//! handler: the 401 of every operation behind a session, the 422 of every operation that reads
//! parameters or a body, and the links between operations (an id one returns is the path
//! parameter of the next), which API clients and schemathesis follow to get past 404s. An
//! optional body (`request_body = Option<T>`: sending none means "change nothing") is "absent,
//! or a `T`", not "`null`, or a `T`": the extractor reads no body as `{}` and refuses `null`.

use utoipa::{
    Modify,
    openapi::{
        OpenApi, RefOr,
        content::ContentBuilder,
        link::LinkBuilder,
        path::Operation,
        response::{Response, ResponseBuilder},
        schema::{Ref, Schema},
    },
};

/// `(path, method, status, name, operation id, [(parameter, runtime expression)])`.
type LinkSpec =
    (&'static str, &'static str, &'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

const ID: &str = "$response.body#/id";

const LINKS: &[LinkSpec] = &[
    ("/api/v1/diaries", "post", "201", "GetDiary", "get_diary", &[("diary_id", ID)]),
    ("/api/v1/diaries", "post", "201", "UpdateDiary", "update_diary", &[("diary_id", ID)]),
    ("/api/v1/diaries", "post", "201", "DeleteDiary", "delete_diary", &[("diary_id", ID)]),
    ("/api/v1/chats", "post", "201", "GetChat", "get_chat", &[("chat_id", ID)]),
    ("/api/v1/chats", "post", "201", "ListMessages", "list_messages", &[("chat_id", ID)]),
    ("/api/v1/chats", "post", "201", "SendMessage", "send_message", &[("chat_id", ID)]),
    ("/api/v1/chats", "post", "201", "StreamMessage", "stream_message", &[("chat_id", ID)]),
    ("/api/v1/chats", "post", "201", "DeleteChat", "delete_chat", &[("chat_id", ID)]),
    (
        "/api/v1/chats/{chat_id}/messages",
        "get",
        "200",
        "ResumeStream",
        "resume_stream",
        &[("chat_id", "$request.path.chat_id"), ("message_id", "$response.body#/0/id")],
    ),
    ("/api/v1/chats/{chat_id}/messages", "post", "202", "GetJob", "get_job", &[("job_id", "$response.body#/job_id")]),
    ("/api/v1/auth/register", "post", "201", "GetUser", "get_user", &[("user_id", ID)]),
    (
        "/api/v1/friends/requests/received",
        "get",
        "200",
        "RespondToRequest",
        "respond_to_request",
        &[("friendship_id", "$response.body#/0/id")],
    ),
    (
        "/api/v1/friends",
        "get",
        "200",
        "GetFriendPersona",
        "get_friend_persona",
        &[("user_id", "$response.body#/friends/0/id")],
    ),
    (
        "/api/v1/friends",
        "get",
        "200",
        "DeleteFriend",
        "delete_friend",
        &[("friend_id", "$response.body#/friends/0/id")],
    ),
    (
        "/api/v1/notifications",
        "get",
        "200",
        "GetNotification",
        "get_notification",
        &[("notification_id", "$response.body#/notifications/0/id")],
    ),
    (
        "/api/v1/notifications",
        "get",
        "200",
        "DeleteNotification",
        "delete_notification",
        &[("notification_id", "$response.body#/notifications/0/id")],
    ),
];

pub struct Extras;

impl Modify for Extras {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                standard_responses(operation);
                optional_body_not_null(operation);
            }
        }
        for (path, method, status, name, operation_id, parameters) in LINKS {
            let Some(item) = openapi.paths.paths.get_mut(*path) else { continue };
            let operation = match *method {
                "get" => item.get.as_mut(),
                "post" => item.post.as_mut(),
                _ => None,
            };
            let Some(RefOr::T(response)) = operation.and_then(|o| o.responses.responses.get_mut(*status)) else {
                continue;
            };
            let link = parameters
                .iter()
                .fold(LinkBuilder::new().operation_id(*operation_id), |link, (p, expr)| link.parameter(*p, *expr));
            response.links.insert((*name).to_owned(), RefOr::T(link.build()));
        }
    }
}

/// 401 for an operation behind a session, 422 for one that reads parameters or a body.
fn standard_responses(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) && !responses.contains_key("401") {
        responses.insert("401".into(), error_response("Not authenticated", "ErrorBody"));
    }
    let reads_input = operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) || operation.request_body.is_some();
    if reads_input && !responses.contains_key("422") {
        responses.insert("422".into(), error_response("Validation error", "ValidationErrorBody"));
    }
}

/// `oneOf: [null, T]` (what utoipa makes of an `Option<T>` body) becomes `T`.
fn optional_body_not_null(operation: &mut Operation) {
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else { return };
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else { continue };
        let mut not_null = one_of.items.iter().filter(|item| !is_null(item));
        if let (Some(only), None) = (not_null.next(), not_null.next()) {
            content.schema = Some(only.clone());
        }
    }
}

fn is_null(schema: &RefOr<Schema>) -> bool {
    use utoipa::openapi::schema::{SchemaType, Type};
    matches!(schema, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::Type(Type::Null))
}

fn error_response(description: &str, schema: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
    ResponseBuilder::new().description(description).content("application/json", content).into()
}
