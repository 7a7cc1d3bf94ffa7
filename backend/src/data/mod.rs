//! Data: each resource's typed rows and the SQL that reads and writes them, as functions that
//! take an [`Executor`](crate::platform::db::Executor) (a connection or the caller's
//! transaction). Rows the API and the jobs share live here, with the data they describe.
pub mod budgets;
pub mod chats;
pub mod diaries;
pub mod diary_access;
pub mod embeddings;
pub mod friends;
pub mod insights;
pub mod limits;
pub mod mental;
pub mod notifications;
pub mod personas;
pub mod reports;
pub mod retrieval;
pub mod search;
pub mod sessions;
pub mod subscriptions;
pub mod users;
