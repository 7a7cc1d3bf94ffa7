//! Wire formats of dates and times: datetimes are UTC with an explicit `Z` (contract section 8),
//! fractional seconds only when non-zero; dates are `YYYY-MM-DD`. "Today" is the UTC date.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The Monday of `day`'s week (weeks run Monday to Sunday).
pub fn week_start(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// `#[serde(with = "crate::platform::time::utc")]` for `DateTime<Utc>` fields.
pub mod utc {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(dt: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(|dt| dt.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// The same for `Option<DateTime<Utc>>`.
pub mod utc_opt {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(dt: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => utc::serialize(dt, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s).map(|dt| dt.with_timezone(&Utc)).map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn datetimes_are_utc_with_z_and_fractions_only_when_present() {
        #[derive(serde::Serialize)]
        struct T {
            #[serde(with = "utc")]
            at: DateTime<Utc>,
        }
        let whole = Utc.with_ymd_and_hms(2025, 1, 31, 8, 15, 2).unwrap();
        assert_eq!(serde_json::to_string(&T { at: whole }).unwrap(), r#"{"at":"2025-01-31T08:15:02Z"}"#);
        let micros = whole + chrono::Duration::microseconds(123_456);
        assert_eq!(serde_json::to_string(&T { at: micros }).unwrap(), r#"{"at":"2025-01-31T08:15:02.123456Z"}"#);
    }
}
