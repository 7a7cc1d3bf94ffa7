//! Daily active users: the distinct users with an authenticated request in a day (UTC), counted
//! in one Redis HyperLogLog per day that every instance adds to and the worker's gauge reads.
//! Each runtime thread remembers who it already counted today, so a user costs at most one
//! Redis write per thread and day, sent off the request's path.

use std::{
    cell::RefCell,
    collections::HashSet,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use chrono::{NaiveDate, Utc};

use super::redis::Redis;

/// How long a day's count is kept (yesterday's stays readable after midnight).
const KEEP: Duration = Duration::from_secs(3 * 24 * 3600);
/// Users remembered per thread and day; past it every request of a new user writes again
/// (still counted once: the HyperLogLog deduplicates).
const REMEMBERED: usize = 200_000;

thread_local! {
    /// Who this thread already counted today, and which day (days since the epoch, UTC). One set
    /// per runtime thread: no lock on the request path, and at most one Redis write per user,
    /// thread and day.
    static SEEN: RefCell<(u64, Seen)> = RefCell::new((0, Seen::default()));
}

/// Counts `user_id` as active today: the first time this thread sees them in the day, a
/// background task adds them to the day's count.
pub fn record(redis: &Redis, user_id: i64) {
    let day = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    if !SEEN.with_borrow_mut(|seen| first_today(seen, day, user_id)) {
        return;
    }
    let redis = redis.clone();
    tokio::spawn(async move {
        let today = Utc::now().date_naive();
        redis.pfadd_ex(&key(&redis, today), &user_id.to_string(), KEEP).await;
    });
}

/// The users one thread counted today (user ids are ours: a fast hasher, seeded per process).
type Seen = HashSet<i64, foldhash::fast::RandomState>;

fn first_today(seen: &mut (u64, Seen), day: u64, user_id: i64) -> bool {
    if seen.0 != day {
        *seen = (day, Seen::default());
    }
    if seen.1.len() >= REMEMBERED {
        return !seen.1.contains(&user_id);
    }
    seen.1.insert(user_id)
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
        let mut seen = (0, Seen::default());
        let monday = 20_787;
        assert!(first_today(&mut seen, monday, 7));
        assert!(!first_today(&mut seen, monday, 7));
        assert!(first_today(&mut seen, monday, 8));
        assert!(first_today(&mut seen, monday + 1, 7), "a new day counts everyone again");
    }
}
