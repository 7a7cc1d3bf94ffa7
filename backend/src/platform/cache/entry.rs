//! A cached value as Redis holds it (a stamped envelope) and as a reader needs it: the JSON of
//! the value alone, which a handler sends as its body without parsing it or writing it again.

use std::{any::Any, fmt, sync::Arc};

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::platform::db::Lsn;

/// One cached value: the WAL position its read is known to include (`u64::MAX`: read from the
/// primary), and its JSON. Redis holds it as an envelope, `{"l":<stamp>,"v":<value>}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub stamp: u64,
    pub json: Bytes,
    /// The value already decoded, when its reader keeps it so (the first level only; Redis holds
    /// the JSON alone).
    pub decoded: Decoded,
}

/// A value decoded from an entry's JSON, kept beside it in the first level so a reader that
/// needs it typed (the session check's user) parses nothing on a hit. Entries compare by stamp
/// and JSON alone: this is the same value.
#[derive(Clone, Default)]
pub struct Decoded(Option<Arc<dyn Any + Send + Sync>>);

impl Decoded {
    pub fn of<T: Any + Send + Sync>(value: Arc<T>) -> Self {
        Self(Some(value))
    }

    /// The value, if one of type `T` is kept.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.clone()?.downcast().ok()
    }

    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl PartialEq for Decoded {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Decoded {}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_some() { "Decoded(..)" } else { "Decoded(None)" })
    }
}

impl Entry {
    /// `value` read at `stamp`.
    pub fn of<T: Serialize>(stamp: u64, value: &T) -> anyhow::Result<Self> {
        Ok(Self { stamp, json: serde_json::to_vec(value)?.into(), decoded: Decoded::default() })
    }

    /// The envelope Redis stores.
    pub fn envelope(&self) -> String {
        format!(r#"{{"l":{},"v":{}}}"#, self.stamp, String::from_utf8_lossy(&self.json))
    }

    /// The entry in a stored envelope, its value's JSON sliced out of it (no copy, no parse).
    /// `None` for anything not in the envelope's exact form (it is then treated as a miss).
    pub fn parse(raw: String) -> Option<Self> {
        let rest = raw.strip_prefix(r#"{"l":"#)?;
        let (digits, rest) = rest.split_once(',')?;
        let stamp = digits.parse().ok()?;
        let len = rest.strip_prefix(r#""v":"#)?.strip_suffix('}')?.len();
        let start = raw.len() - 1 - len;
        Some(Self { stamp, json: Bytes::from(raw).slice(start..start + len), decoded: Decoded::default() })
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
    fn the_value_is_sliced_out_of_its_envelope_as_written_here_or_by_serde() {
        let value = serde_json::json!({ "a": [1, "}", { "b": null }], "c": "\"l\":1," });
        let written = Entry::of(42, &value).unwrap();
        let by_serde = serde_json::json!({ "l": 42, "v": value }).to_string();
        assert_eq!(written.envelope(), by_serde);
        let entry = Entry::parse(by_serde).unwrap();
        assert_eq!(entry, written);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&entry.json).unwrap(), value);
        let none: Option<i32> = None;
        let null = Entry::parse(Entry::of(u64::MAX, &none).unwrap().envelope()).unwrap();
        assert!(CachedJson(null.json).is_null());
        assert_eq!(null.stamp, u64::MAX);
    }

    #[test]
    fn a_decoded_value_is_kept_by_type_and_does_not_change_the_entry() {
        let plain = Entry::of(1, &5u32).unwrap();
        let held = Entry { decoded: Decoded::of(Arc::new(5u32)), ..plain.clone() };
        assert_eq!(held.decoded.get::<u32>().as_deref(), Some(&5));
        assert_eq!(held.decoded.get::<i64>(), None, "another type");
        assert_eq!(plain.decoded.get::<u32>(), None);
        assert_eq!(held, plain);
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
