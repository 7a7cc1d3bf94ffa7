//! The report responses: the stored report plus the period's calendar fields.

use serde::Serialize;
use utoipa::ToSchema;

use crate::data::reports::MentalReport;

#[derive(Serialize, ToSchema)]
pub struct WeeklyReport {
    #[serde(flatten)]
    pub report: MentalReport,
    pub week_number: u32,
    // Always null: kept for the contract's shape.
    #[schema(value_type = Option<Object>)]
    pub daily_scores: Option<()>,
}

#[derive(Serialize, ToSchema)]
pub struct MonthlyReport {
    #[serde(flatten)]
    pub report: MentalReport,
    pub month: u32,
    pub year: i32,
    // Always null: kept for the contract's shape.
    #[schema(value_type = Option<Object>)]
    pub weekly_averages: Option<()>,
}
