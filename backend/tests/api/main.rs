//! Integration tests: the real server against the real stack (see `helpers`).

mod ai;
mod auth;
mod cache;
mod caps;
mod chats;
mod cli;
mod diaries;
mod embeddings;
mod friends;
mod gauges;
mod health;
mod helpers;
mod hostile;
mod http;
mod memory;
mod mental;
mod notifications;
mod personas;
mod privacy;
mod reliability;
mod replicas;
mod replication;
mod search;
mod subscriptions;
mod timeouts;
mod users;
