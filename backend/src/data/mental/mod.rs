//! Mental analyses: the six axes (contract 3.4) defined once, with their scores; the feedback the
//! diary job writes; and the reads the mental views make over `mental_analyses`.

mod analyses;
mod feedback;

pub use analyses::*;
pub use feedback::{MentalFeedback, fallback_feedback, feedback_or_fallback};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The six axes, in contract order: 0-100, higher is better, 50 is neutral.
pub const AXES: [&str; 6] =
    ["emotional_stability", "vitality", "self_esteem", "positivity", "social_connection", "resilience"];

/// The columns of `mental_analyses` holding the axes, in `AXES` order (smallint in the table).
pub const SCORE_COLUMN_NAMES: [&str; 6] = [
    "emotional_stability_score",
    "vitality_score",
    "self_esteem_score",
    "positivity_score",
    "social_connection_score",
    "resilience_score",
];

/// `SCORE_COLUMN_NAMES` as a select list.
pub const SCORE_COLUMNS: &str = "emotional_stability_score, vitality_score, self_esteem_score, positivity_score, \
                                 social_connection_score, resilience_score";

/// The overall statuses an analysis can have, from best to worst.
pub const OVERALL_STATUSES: [&str; 4] = ["good", "neutral", "concerning", "critical"];

/// The six axes by their plain names: how the radar serves them and how the LLM's analysis
/// states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = RadarData)]
pub struct Axes {
    pub emotional_stability: i64,
    pub vitality: i64,
    pub self_esteem: i64,
    pub positivity: i64,
    pub social_connection: i64,
    pub resilience: i64,
}

impl Axes {
    /// The values in `AXES` order.
    pub fn values(&self) -> [i64; 6] {
        [
            self.emotional_stability,
            self.vitality,
            self.self_esteem,
            self.positivity,
            self.social_connection,
            self.resilience,
        ]
    }
}

impl crate::platform::db::FromRow for Axes {
    /// Reads the six axes from columns named after them (`as vitality`, ...).
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        let mut values = [0; 6];
        for (value, column) in values.iter_mut().zip(AXES) {
            *value = row.try_get(column)?;
        }
        let [emotional_stability, vitality, self_esteem, positivity, social_connection, resilience] = values;
        Ok(Self { emotional_stability, vitality, self_esteem, positivity, social_connection, resilience })
    }
}

impl From<Scores> for Axes {
    fn from(s: Scores) -> Self {
        Self {
            emotional_stability: s.emotional_stability_score,
            vitality: s.vitality_score,
            self_esteem: s.self_esteem_score,
            positivity: s.positivity_score,
            social_connection: s.social_connection_score,
            resilience: s.resilience_score,
        }
    }
}

/// The six scores as `<axis>_score` fields (flattened into the shapes that carry them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Scores {
    pub emotional_stability_score: i64,
    pub vitality_score: i64,
    pub self_esteem_score: i64,
    pub positivity_score: i64,
    pub social_connection_score: i64,
    pub resilience_score: i64,
}

impl crate::platform::db::FromRow for Scores {
    /// Reads the six `<axis>_score` columns (smallint) by name.
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        let mut values = [0; 6];
        for (value, column) in values.iter_mut().zip(SCORE_COLUMN_NAMES) {
            *value = i64::from(row.try_get::<_, i16>(column)?);
        }
        Ok(Self::from_values(values))
    }
}

impl Scores {
    /// Scores in `AXES` order.
    pub fn from_values(values: [i64; 6]) -> Self {
        let [
            emotional_stability_score,
            vitality_score,
            self_esteem_score,
            positivity_score,
            social_connection_score,
            resilience_score,
        ] = values;
        Self {
            emotional_stability_score,
            vitality_score,
            self_esteem_score,
            positivity_score,
            social_connection_score,
            resilience_score,
        }
    }

    /// Scores in `AXES` order.
    pub fn values(&self) -> [i64; 6] {
        [
            self.emotional_stability_score,
            self.vitality_score,
            self.self_esteem_score,
            self.positivity_score,
            self.social_connection_score,
            self.resilience_score,
        ]
    }

    /// What the radar shows before any analysis exists.
    pub fn neutral() -> Self {
        Self::from_values([50; 6])
    }

    /// The lowest axis and its score; the first in `AXES` order on a tie.
    pub fn lowest(&self) -> (&'static str, i64) {
        AXES.into_iter().zip(self.values()).min_by_key(|&(_, score)| score).expect("six axes")
    }
}

#[cfg(test)]
mod tests {
    use super::Scores;

    #[test]
    fn lowest_axis_is_the_first_minimum_in_axis_order() {
        assert_eq!(Scores::from_values([60, 30, 70, 30, 80, 90]).lowest(), ("vitality", 30));
        assert_eq!(Scores::from_values([50; 6]).lowest(), ("emotional_stability", 50));
    }
}
