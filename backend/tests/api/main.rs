//! Integration tests: the real server against the real stack (see `helpers`).

mod auth;
mod cache;
mod diaries;
mod friends;
mod health;
mod helpers;
mod http;
mod replication;
mod subscriptions;
mod users;
