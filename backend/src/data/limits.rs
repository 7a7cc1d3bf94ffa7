//! How much text anyone may store, in characters (as Python and the frontend count them). Each
//! request type checks its fields against these in `validate`, and states the same number in its
//! OpenAPI schema (`#[schema(max_length = ...)]`: utoipa takes literals only, so the number is
//! written twice; `api_tests` checks every string of every request schema has a limit, and
//! schemathesis checks the document and the validation agree). `docs/security.md` lists them.

/// A diary's body. The original had none; 20,000 characters is about ten printed pages.
pub const MAX_DIARY_CONTENT: usize = 20_000;
/// One chat message.
pub const MAX_CHAT_MESSAGE: usize = 4_000;
/// A URL (`profile_image`).
pub const MAX_URL: usize = 2_048;
/// An e-mail address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// A password (registration's 8–100, also the most a login or a reset may send).
pub const MAX_PASSWORD: usize = 100;
/// A verification or reset token as sent back (ours are 64 hex characters).
pub const MAX_TOKEN: usize = 128;
/// One personality trait of a persona's customization.
pub const MAX_TRAIT: usize = 50;
/// Chat messages `GET /chats/{id}` returns: the latest ones (the paged
/// `GET /chats/{id}/messages` reads the rest).
pub const CHAT_READ_MESSAGES: i64 = 200;
