//! A cached value as Redis holds it (a stamped envelope) and as a reader needs it: the JSON of
//! the value alone, which a handler sends as its body without parsing it or writing it again.

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::platform::db::Lsn;

/// The stored form: `{"l":<stamp>,"v":<value>}`, written by serde_json in this field order.
#[derive(Serialize)]
pub(super) struct Envelope<'a, T> {
    /// The WAL position the value is known to include (`u64::MAX`: read from the primary).
    pub l: u64,
    pub v: &'a T,
}

/// One cached value: the WAL position its read is known to include, and its JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub stamp: u64,
    pub json: Bytes,
}

impl Entry {
    /// The entry in a stored envelope, its value's JSON sliced out of it (no copy, no parse).
    /// `None` for anything not in the envelope's exact form (it is then treated as a miss).
    pub fn parse(raw: String) -> Option<Self> {
        let rest = raw.strip_prefix(r#"{"l":"#)?;
        let (digits, rest) = rest.split_once(',')?;
        let stamp = digits.parse().ok()?;
        let len = rest.strip_prefix(r#""v":"#)?.strip_suffix('}')?.len();
        let start = raw.len() - 1 - len;
        Some(Self { stamp, json: Bytes::from(raw).slice(start..start + len) })
    }

    /// Whether a reader whose last write is `min_lsn` may use it: not older than that write.
    pub fn fresh_for(&self, min_lsn: Option<Lsn>) -> bool {
        min_lsn.is_none_or(|lsn| self.stamp >= lsn.0)
    }
}

/// A cached value's JSON, answered as it is (`Content-Type: application/json`).
#[derive(Clone, Debug)]
pub struct CachedJson(pub Bytes);

impl CachedJson {
    /// The JSON of a value computed without the cache.
    pub fn of<T: Serialize>(value: &T) -> anyhow::Result<Self> {
        Ok(Self(serde_json::to_vec(value)?.into()))
    }

    /// Whether the value is JSON `null` (an absent row, cached as such).
    pub fn is_null(&self) -> bool {
        self.0.as_ref() == b"null"
    }
}

impl IntoResponse for CachedJson {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_sliced_out_of_what_serde_writes() {
        let value = serde_json::json!({ "a": [1, "}", { "b": null }], "c": "\"l\":1," });
        let raw = serde_json::to_string(&Envelope { l: 42, v: &value }).unwrap();
        let entry = Entry::parse(raw).unwrap();
        assert_eq!(entry.stamp, 42);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&entry.json).unwrap(), value);
        let none: Option<i32> = None;
        let null = Entry::parse(serde_json::to_string(&Envelope { l: u64::MAX, v: &none }).unwrap()).unwrap();
        assert!(CachedJson(null.json).is_null());
        assert_eq!(null.stamp, u64::MAX);
    }

    #[test]
    fn anything_else_is_not_an_entry_and_an_older_stamp_is_not_fresh() {
        for raw in ["", "{}", r#"{"v":1,"l":2}"#, r#"{"l":x,"v":1}"#, r#"{"l":1,"v":1"#] {
            assert_eq!(Entry::parse(raw.to_owned()), None, "{raw}");
        }
        let entry = Entry::parse(r#"{"l":10,"v":[]}"#.to_owned()).unwrap();
        assert!(entry.fresh_for(None) && entry.fresh_for(Some(Lsn(10))));
        assert!(!entry.fresh_for(Some(Lsn(11))));
    }
}
