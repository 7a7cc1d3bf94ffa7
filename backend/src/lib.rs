//! DearMe backend: the HTTP API, its data access and (later) the background worker, as a library
//! that `main` and the integration tests both drive.

pub mod auth;
pub mod cache;
pub mod chats;
pub mod db;
pub mod diaries;
pub mod error;
pub mod friends;
pub mod health;
pub mod http;
pub mod jobs;
pub mod llm;
pub mod mail;
pub mod mental;
pub mod metrics;
pub mod notifications;
pub mod openapi;
pub mod personas;
pub mod quiz;
pub mod redis;
pub mod reports;
pub mod settings;
pub mod startup;
pub mod state;
pub mod streams;
pub mod subscriptions;
pub mod telemetry;
pub mod time;
pub mod users;

/// Resolves on SIGINT or SIGTERM: the signal to stop accepting and drain.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received; draining");
}
