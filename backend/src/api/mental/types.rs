//! The mental views' request and response shapes, and the rules that derive a trend.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    data::mental::{MentalAnalysis, MentalFeedback, Scores},
    platform::http::validate::{Validate, Violations},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentAnalysis {
    #[serde(flatten)]
    pub analysis: MentalAnalysis,
    pub feedback: MentalFeedback,
}

/// The radar's shape: the axes without the `_score` suffix.
pub type RadarData = crate::data::mental::Axes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    Improving,
    Stable,
    Declining,
}

/// The radar's rule: the summed change over the six axes above 15 is improving, below -15
/// declining, anything in between (15 and -15 included) stable.
pub fn radar_trend(current: &Scores, previous: &Scores) -> Trend {
    let change: i64 = current.values().iter().sum::<i64>() - previous.values().iter().sum::<i64>();
    if change > 15 {
        Trend::Improving
    } else if change < -15 {
        Trend::Declining
    } else {
        Trend::Stable
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Radar {
    pub current: RadarData,
    pub previous: Option<RadarData>,
    pub trend: Trend,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Days back from today (UTC): analyses dated today-days or later.
    #[serde(default = "thirty")]
    #[param(minimum = 1, maximum = 365)]
    pub days: i64,
    #[serde(default)]
    #[param(minimum = 0)]
    pub skip: i64,
    #[serde(default = "thirty")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: i64,
}

fn thirty() -> i64 {
    30
}

impl Validate for HistoryQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("days", self.days, 1, Some(365));
        v.range("skip", self.skip, 0, None);
        v.range("limit", self.limit, 1, Some(100));
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// The analysis date.
    pub date: NaiveDate,
    pub overall_status: String,
    #[serde(flatten)]
    pub scores: Scores,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub items: Vec<HistoryItem>,
    pub total: i64,
}

/// Fewer analyses than this in the window is never a negative trend.
const NEGATIVE_TREND_MIN_ANALYSES: i64 = 3;

/// The contract's rule: at least three analyses, of which half or more are concerning or critical.
pub fn is_negative_trend(analyses: i64, negative: i64) -> bool {
    analyses >= NEGATIVE_TREND_MIN_ANALYSES && negative * 2 >= analyses
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Days back from today (UTC).
    #[serde(default = "seven")]
    #[param(minimum = 1, maximum = 30)]
    pub days: i64,
}

fn seven() -> i64 {
    7
}

impl Validate for TrendQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("days", self.days, 1, Some(30));
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NegativeTrend {
    pub is_negative_trend: bool,
    pub days_checked: i64,
}

#[derive(Deserialize, ToSchema)]
pub struct FeedbackRequest {
    /// The analysis; absent or null: the latest.
    pub analysis_id: Option<i64>,
}

impl Validate for FeedbackRequest {
    fn validate(&self, _: &mut Violations) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(values: [i64; 6]) -> Scores {
        Scores::from_values(values)
    }

    #[test]
    fn radar_trend_is_stable_up_to_fifteen_points_either_way() {
        let base = scores([50; 6]);
        assert_eq!(radar_trend(&scores([55, 55, 55, 50, 50, 50]), &base), Trend::Stable);
        assert_eq!(radar_trend(&scores([56, 55, 55, 50, 50, 50]), &base), Trend::Improving);
        assert_eq!(radar_trend(&scores([45, 45, 45, 50, 50, 50]), &base), Trend::Stable);
        assert_eq!(radar_trend(&scores([44, 45, 45, 50, 50, 50]), &base), Trend::Declining);
    }

    #[test]
    fn negative_trend_needs_three_analyses_and_half_negative() {
        assert!(!is_negative_trend(2, 2));
        assert!(is_negative_trend(3, 2));
        assert!(!is_negative_trend(3, 1));
        assert!(is_negative_trend(4, 2));
        assert!(!is_negative_trend(5, 2));
    }
}
