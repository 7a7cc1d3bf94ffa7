//! The first level's unit tests.

use super::*;

fn v() -> Entry {
    Entry { stamp: 1, json: "v".into(), decoded: Default::default() }
}

fn live() -> Arc<Local> {
    live_with(1 << 20, Duration::from_secs(60))
}

fn live_with(max_bytes: u64, ttl: Duration) -> Arc<Local> {
    let local = Local::new(max_bytes, ttl);
    local.subscribed.store(true, Ordering::Release);
    local.heard();
    local
}

#[test]
fn an_insert_is_dropped_when_its_key_was_invalidated_since_its_snapshot() {
    let local = live();
    let before = local.snapshot();
    local.evict(["other"]);
    local.insert("k", &v(), before);
    assert_eq!(local.get("k"), Some(v()), "another key's invalidation does not stop the fill");
    local.evict(["k"]);
    assert_eq!(local.get("k"), None);
    local.insert("k", &v(), before);
    assert_eq!(local.get("k"), None, "k was invalidated since the read began");
    local.insert("k", &v(), local.snapshot());
    assert_eq!(local.get("k"), Some(v()));
}

#[test]
fn a_read_older_than_what_is_remembered_is_not_kept() {
    let local = live();
    let old = local.snapshot();
    local.evict(["other"]);
    for _ in 0..=REMEMBER {
        let epoch = local.epoch.load(Ordering::Acquire);
        local.lock().tick(epoch);
    }
    local.insert("k", &v(), old);
    assert_eq!(local.get("k"), None, "what happened since it began is forgotten");
    assert!(local.lock().by_key.is_empty(), "and so is the old invalidation");
    local.insert("k", &v(), local.snapshot());
    assert_eq!(local.get("k"), Some(v()));
}

#[test]
fn nothing_is_served_or_kept_without_the_channel() {
    let local = live();
    local.insert("k", &v(), local.snapshot());
    let snapshot = local.snapshot();
    local.lost();
    assert_eq!(local.get("k"), None);
    local.insert("k2", &v(), snapshot);
    local.subscribed.store(true, Ordering::Release);
    assert_eq!((local.get("k"), local.get("k2")), (None, None), "emptied, and the racing insert dropped");
    assert!(Local::new(1, Duration::from_secs(1)).snapshot().0.is_none(), "never subscribed: not used");
}

#[test]
fn a_channel_that_went_quiet_is_presumed_lost() {
    let local = live();
    local.insert("k", &v(), local.snapshot());
    assert!(local.get("k").is_some());
    let mut quiet = Local::new(1 << 20, Duration::from_secs(60));
    Arc::get_mut(&mut quiet).unwrap().started = Instant::now() - STALE_AFTER * 2;
    quiet.subscribed.store(true, Ordering::Release);
    assert!(!quiet.snapshot().in_use(), "subscribed, but nothing heard for longer than STALE_AFTER");
    quiet.heard();
    assert!(quiet.snapshot().in_use());
}

#[test]
fn an_entry_lives_at_most_its_ttl() {
    let local = live_with(1 << 20, Duration::from_millis(30));
    local.insert("k", &v(), local.snapshot());
    assert_eq!(local.get("k"), Some(v()));
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(local.get("k"), None);
    assert_eq!(local.entries.len(), 0, "an expired entry is dropped when it is met");
    local.insert("a", &v(), local.snapshot());
    local.insert("b", &v(), local.snapshot());
    std::thread::sleep(Duration::from_millis(40));
    local.sweep();
    assert_eq!(local.entries.len(), 0, "and by the sweep when it is not");
}

#[test]
fn entries_filled_together_expire_spread_over_the_second_half_of_the_ttl() {
    let local = live_with(1 << 20, Duration::from_secs(100));
    let now = local.now_ms();
    let untils: Vec<u64> = (0..400)
        .map(|i| {
            let key = format!("k{i}");
            local.insert(&key, &v(), local.snapshot());
            local.entries.get(&key).unwrap().until - now
        })
        .collect();
    // Inserted within a few milliseconds of `now`: each lives 50-100 s.
    assert!(untils.iter().all(|&u| (50_000..=100_010).contains(&u)), "{untils:?}");
    let (early, late) =
        (untils.iter().filter(|&&u| u < 75_000).count(), untils.iter().filter(|&&u| u >= 75_000).count());
    assert!(early > 100 && late > 100, "spread over the range: {early} in its first half, {late} in its second");
}

#[test]
fn entries_kept_together_get_one_lifetime() {
    let local = live_with(1 << 20, Duration::from_secs(100));
    for _ in 0..20 {
        local.insert_together(&[("marker", &v()), ("user", &v())], local.snapshot());
        assert_eq!(local.entries.get("marker").unwrap().until, local.entries.get("user").unwrap().until);
    }
    local.evict(["user"]);
    let before = local.snapshot();
    local.evict(["user"]);
    local.insert_together(&[("marker", &v()), ("user", &v())], before);
    assert_eq!((local.get("marker"), local.get("user")), (Some(v()), None), "each key still checks its invalidations");
}

#[test]
fn the_level_stays_within_its_bytes() {
    let max_bytes = 64 << 10;
    let local = live_with(max_bytes, Duration::from_secs(60));
    let big = Entry { stamp: 1, json: vec![b'x'; 1000].into(), decoded: Default::default() };
    for i in 0..1000 {
        local.insert(&format!("k{i}"), &big, local.snapshot());
    }
    assert!(local.entries.weight() <= max_bytes, "{} bytes", local.entries.weight());
    assert!(local.entries.len() >= 32, "and it is used: {} entries", local.entries.len());
    assert_eq!(local.get("k999"), Some(big), "the newest is kept");
}
