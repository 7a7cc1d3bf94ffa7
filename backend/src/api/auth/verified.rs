//! The tokens this thread has already verified, so that a client's next request with the same
//! token skips the signature, the base64 and the JSON (the session check's largest own cost on a
//! cached read).
//!
//! - **Keyed by the whole token, byte for byte, and by the key that verified it**: an entry is a
//!   token this process verified itself; nothing else can match it, so nothing can be forged into
//!   it.
//! - **The expiry is checked on every use**, kept or not. Whether the session still stands is not
//!   this cache's business: the session check looks at it after, on a hit as on a miss.
//! - **Per runtime thread**: no lock and no shared counter on the request's path. A token is
//!   verified once per thread that serves it.
//! - **Bounded**: at most [`CAPACITY`] tokens per runtime thread, each of at most [`LONGEST`]
//!   bytes (ours: about 230 bytes kept, plus the table's 2 MB: about 6 MB per thread at most); a
//!   thread that reaches it forgets them all and starts over.

use std::{cell::RefCell, collections::HashMap};

use super::jwt::{self, JwtKey};

/// Tokens kept per thread.
pub const CAPACITY: usize = 16_384;
/// Longer tokens are verified on every request and never kept (ours are about 200 bytes).
pub const LONGEST: usize = 512;

/// What the session check needs from a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub user_id: i64,
    pub session_id: String,
    pub exp: i64,
}

type Kept = HashMap<Box<str>, (u64, Verified), foldhash::fast::RandomState>;

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::new(Kept::default());
}

/// `token`'s session and user when it is well formed, signed with `key` and unexpired at `now`
/// (a user id that is not a number is refused, as it always was).
pub fn decode(token: &str, key: &JwtKey, now: i64) -> Option<Verified> {
    let kept = KEPT.with_borrow(|kept| kept.get(token).filter(|(by, _)| *by == key.id()).map(|(_, v)| v.clone()));
    if let Some(verified) = kept {
        return (verified.exp > now).then_some(verified);
    }
    let claims = jwt::decode(token, key, now)?;
    let verified = Verified { user_id: claims.sub.parse().ok()?, session_id: claims.sid, exp: claims.exp };
    if token.len() <= LONGEST {
        KEPT.with_borrow_mut(|kept| {
            if kept.len() >= CAPACITY {
                kept.clear();
            }
            kept.insert(token.into(), (key.id(), verified.clone()));
        });
    }
    Some(verified)
}

/// How many tokens this thread keeps (tests).
#[cfg(test)]
fn kept() -> usize {
    KEPT.with_borrow(HashMap::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::jwt::Claims;

    fn token(sub: &str, exp: i64, key: &JwtKey) -> String {
        jwt::encode(&Claims { sub: sub.into(), sid: "s1".into(), iat: 0, exp }, key)
    }

    #[test]
    fn a_kept_token_still_expires_and_is_only_kept_for_its_key() {
        let key = JwtKey::new(b"secret");
        let t = token("42", 100, &key);
        let expected = Verified { user_id: 42, session_id: "s1".into(), exp: 100 };
        assert_eq!(decode(&t, &key, 50), Some(expected.clone()));
        assert_eq!(decode(&t, &key, 60), Some(expected), "kept: the same answer");
        assert_eq!(decode(&t, &key, 100), None, "expired, though kept");
        // Another key (the same secret, or not) never uses what this one verified.
        assert_eq!(decode(&t, &JwtKey::new(b"other"), 50), None);
        assert!(decode(&t, &JwtKey::new(b"secret"), 50).is_some(), "verified again by the new key");
    }

    #[test]
    fn what_is_refused_is_not_kept() {
        let key = JwtKey::new(b"secret");
        let before = kept();
        let t = token("42", 100, &key);
        let (head, _) = t.rsplit_once('.').unwrap();
        assert_eq!(decode(&format!("{head}.AAAA"), &key, 50), None, "a bad signature");
        assert_eq!(decode(&token("not a number", 100, &key), &key, 50), None, "a user id that is not one");
        assert_eq!(decode(&t, &key, 150), None, "expired when first seen");
        assert_eq!(kept(), before);
        let long = token(&"1".repeat(LONGEST), 100, &key);
        assert!(decode(&long, &key, 50).is_none(), "too large a number for a user id");
        let long_ok = token(&format!("{}42", "0".repeat(LONGEST)), 100, &key);
        assert_eq!(decode(&long_ok, &key, 50).map(|v| v.user_id), Some(42), "verified, not kept");
        assert_eq!(kept(), before);
    }

    #[test]
    fn a_full_thread_starts_over() {
        let key = JwtKey::new(b"secret");
        for i in 0..=CAPACITY {
            assert!(decode(&token(&i.to_string(), 100, &key), &key, 50).is_some());
        }
        assert_eq!(kept(), 1, "emptied when full, then the last one kept");
    }
}
