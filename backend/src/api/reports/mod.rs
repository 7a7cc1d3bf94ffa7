//! Weekly and monthly mental reports (contract 4.8). A report is per period; it is built by the
//! schedule at the period's end and on demand here, in the worker. A stored report is served
//! while it covers every analysis of the period; once a newer analysis exists, the next read
//! rebuilds it (the job key names the newest analysis time, so concurrent reads share one job).

pub mod handlers;
pub mod types;

use axum::{Router, routing::get};

use self::handlers::{get_monthly_report, get_weekly_report};
use crate::api::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mental/reports/weekly", get(get_weekly_report))
        .route("/mental/reports/monthly", get(get_monthly_report))
}
