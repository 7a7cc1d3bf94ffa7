//! Integration tests: the real server against the real stack (see `helpers`).

mod auth;
mod diaries;
mod health;
mod helpers;
mod http;
mod replication;
mod users;
