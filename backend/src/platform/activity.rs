//! Daily active users: the distinct users with an authenticated request in a day (UTC), counted
//! in one Redis HyperLogLog per day that every instance adds to and the worker's gauge reads.
//! Each instance remembers who it already counted today, so a user costs one Redis write per
//! instance per day, sent off the request's path.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{NaiveDate, Utc};

use super::redis::Redis;

/// How long a day's count is kept (yesterday's stays readable after midnight).
const KEEP: Duration = Duration::from_secs(3 * 24 * 3600);
/// Users remembered per instance and day; past it every request of a new user writes again
/// (still counted once: the HyperLogLog deduplicates).
const REMEMBERED: usize = 200_000;

#[derive(Clone, Default)]
pub struct ActiveToday(Arc<Mutex<Seen>>);

#[derive(Default)]
struct Seen {
    day: Option<NaiveDate>,
    users: HashSet<i64>,
}

impl ActiveToday {
    /// Counts `user_id` as active today: the first time this instance sees them in the day,
    /// a background task adds them to the day's count.
    pub fn record(&self, redis: &Redis, user_id: i64) {
        let today = Utc::now().date_naive();
        if !self.first_today(today, user_id) {
            return;
        }
        let redis = redis.clone();
        tokio::spawn(async move {
            redis.pfadd_ex(&key(&redis, today), &user_id.to_string(), KEEP).await;
        });
    }

    fn first_today(&self, today: NaiveDate, user_id: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.day != Some(today) {
            seen.day = Some(today);
            seen.users.clear();
        }
        if seen.users.len() >= REMEMBERED {
            return !seen.users.contains(&user_id);
        }
        seen.users.insert(user_id)
    }
}

/// The number of distinct users with an authenticated request today (UTC); `None` when Redis
/// cannot say.
pub async fn count_today(redis: &Redis) -> Option<u64> {
    redis.pfcount(&key(redis, Utc::now().date_naive())).await
}

fn key(redis: &Redis, day: NaiveDate) -> String {
    redis.key(format_args!("active:{day}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_new_once_a_day() {
        let active = ActiveToday::default();
        let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert!(active.first_today(monday, 7));
        assert!(!active.first_today(monday, 7));
        assert!(active.first_today(monday, 8));
        let tuesday = monday.succ_opt().unwrap();
        assert!(active.first_today(tuesday, 7), "a new day counts everyone again");
    }
}
