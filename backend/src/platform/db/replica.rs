//! Replica health and replication positions. A background task polls the primary and every
//! replica (through the same PgBouncer pools the requests use) and keeps each replica's replay
//! position and lag here, so routing a read costs a few atomic loads and no extra query.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use super::{Db, FromRow, Role};
use crate::platform::settings::Settings;

/// A WAL position (`16/B374D848` in Postgres' text form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    pub fn parse(text: &str) -> Option<Self> {
        let (hi, lo) = text.split_once('/')?;
        Some(Self((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?))
    }
}

/// Postgres' text form, which `::pg_lsn` reads.
impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// One read replica: its name (the metrics' `replica` label), its pool and what the monitor
/// last saw of it.
pub struct Replica {
    pub name: &'static str,
    pub(super) pool: deadpool_postgres::Pool,
    pub health: ReplicaHealth,
}

#[derive(Default)]
pub struct ReplicaHealth {
    /// Reachable and within the lag bounds.
    usable: AtomicBool,
    reachable: AtomicBool,
    replay_lsn: AtomicU64,
    lag_bytes: AtomicU64,
    lag_ms: AtomicU64,
}

impl ReplicaHealth {
    /// `Ok` when a reader whose last write is `min_lsn` may use the replica; else why not.
    pub fn route(&self, min_lsn: Option<Lsn>) -> Result<(), &'static str> {
        if !self.usable.load(Ordering::Acquire) {
            return Err("replica_unhealthy");
        }
        match min_lsn {
            Some(lsn) if lsn.0 > self.replay_lsn.load(Ordering::Acquire) => Err("read_your_writes"),
            _ => Ok(()),
        }
    }

    pub fn mark_down(&self) {
        self.usable.store(false, Ordering::Release);
    }

    pub fn is_usable(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// The last replay position the monitor saw (a lower bound of the replica's snapshot).
    pub fn replay_lsn(&self) -> Lsn {
        Lsn(self.replay_lsn.load(Ordering::Acquire))
    }

    pub fn lag_bytes(&self) -> u64 {
        self.lag_bytes.load(Ordering::Acquire)
    }

    pub fn lag(&self) -> Duration {
        Duration::from_millis(self.lag_ms.load(Ordering::Acquire))
    }
}

/// Polls the replicas until the process ends. Errors only mark a replica down: this task never
/// stops the server.
pub async fn monitor(db: Db, settings: Settings) {
    let mut tick = tokio::time::interval(settings.replica_check_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        check(&db, &settings).await;
    }
}

/// One check of every replica, each against one reading of the primary; public so tests and
/// `/health/ready` can force a fresh reading.
pub async fn check(db: &Db, settings: &Settings) {
    let limit = settings.db_connect_timeout;
    let replicas = futures_util::future::join_all(db.replicas().iter().map(|r| position(&r.pool, limit)));
    let (primary, replicas) = tokio::join!(position(db.pool(Role::Primary), limit), replicas);
    for (replica, reading) in db.replicas().iter().zip(replicas) {
        record(replica, primary.as_ref(), reading, settings);
    }
}

fn record(replica: &Replica, primary: Option<&Position>, reading: Option<Position>, settings: &Settings) {
    let (health, label) = (&replica.health, [("replica", replica.name)]);
    let Some(reading) = reading else {
        health.reachable.store(false, Ordering::Release);
        health.usable.store(false, Ordering::Release);
        metrics::gauge!("db_replica_up", &label).set(0.0);
        metrics::gauge!("db_replica_in_use", &label).set(0.0);
        return;
    };
    let lag_bytes = primary.map_or(0, |p| p.lsn.0.saturating_sub(reading.lsn.0));
    let lag = if lag_bytes == 0 { Duration::ZERO } else { reading.since_last_replay };
    let usable = lag_bytes <= settings.replica_max_lag_bytes && lag <= settings.replica_max_lag;
    health.replay_lsn.store(reading.lsn.0, Ordering::Release);
    health.lag_bytes.store(lag_bytes, Ordering::Release);
    health.lag_ms.store(u64::try_from(lag.as_millis()).unwrap_or(u64::MAX), Ordering::Release);
    health.reachable.store(true, Ordering::Release);
    health.usable.store(usable, Ordering::Release);
    metrics::gauge!("db_replica_up", &label).set(1.0);
    metrics::gauge!("db_replica_in_use", &label).set(if usable { 1.0 } else { 0.0 });
    metrics::gauge!("db_replica_lag_bytes", &label).set(lag_bytes as f64);
    metrics::gauge!("db_replica_lag_seconds", &label).set(lag.as_secs_f64());
}

struct Position {
    lsn: Lsn,
    since_last_replay: Duration,
}

/// The server's WAL position: replay position on a standby, insert position on a primary (so a
/// read URL that points at the primary reads as a replica with zero lag).
async fn position(pool: &deadpool_postgres::Pool, limit: Duration) -> Option<Position> {
    const SQL: &str = "select (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() \
                       else pg_current_wal_insert_lsn() end)::text as lsn, \
                       coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0)::float8 as lag_secs";
    struct Reading {
        lsn: Option<String>,
        lag_secs: f64,
    }
    crate::from_row!(Reading { lsn, lag_secs });
    // Straight from the pool: a failed reading must not fail over to the other server.
    let work = async {
        let client = pool.get().await.ok()?;
        let rows = client.query_typed(SQL, &[]).await.ok()?;
        let reading = Reading::from_row(rows.first()?).ok()?;
        let lsn = Lsn::parse(reading.lsn.as_deref()?)?;
        Some(Position { lsn, since_last_replay: Duration::from_secs_f64(reading.lag_secs.max(0.0)) })
    };
    tokio::time::timeout(limit, work).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_parses_postgres_text_form_and_orders_numerically() {
        assert_eq!(Lsn::parse("0/16B3748"), Some(Lsn(0x16B_3748)));
        assert_eq!(Lsn::parse("16/B374D848"), Some(Lsn((0x16 << 32) | 0xB374_D848)));
        assert!(Lsn::parse("0/A").unwrap() < Lsn::parse("1/0").unwrap());
        assert_eq!(Lsn::parse("nonsense"), None);
        assert_eq!(Lsn::parse("16/B374D848").unwrap().to_string(), "16/B374D848");
    }

    #[test]
    fn a_reader_whose_write_is_not_replayed_goes_to_the_primary() {
        let health = ReplicaHealth::default();
        assert_eq!(health.route(None), Err("replica_unhealthy"));
        health.usable.store(true, Ordering::Release);
        health.replay_lsn.store(100, Ordering::Release);
        assert_eq!(health.route(None), Ok(()));
        assert_eq!(health.route(Some(Lsn(100))), Ok(()));
        assert_eq!(health.route(Some(Lsn(101))), Err("read_your_writes"));
    }
}
