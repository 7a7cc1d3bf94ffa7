//! Text the database cannot store: PostgreSQL refuses the NUL character in `text`, so a request
//! carrying one anywhere (a body field, a query or form value, a path segment) is answered 422
//! here, naming where it was, instead of failing as a 500 at the insert.

use serde_json::{Value, json};

use crate::platform::error::{ApiError, FieldError};

/// The 422 entry for a string that holds a NUL character.
pub fn nul_error(loc: Vec<Value>, input: &str) -> FieldError {
    FieldError::new("string_pattern_mismatch", loc, "String should not contain NUL characters", input.into())
        .with_ctx(json!({ "pattern": "^[^\\x00]*$" }))
}

/// Every string of a parsed request value (keys included), checked for NUL characters; all of
/// them are reported, like pydantic reports every violation.
pub fn reject_invalid(source: &'static str, value: &Value) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    walk(value, &mut vec![source.into()], &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

fn walk(value: &Value, loc: &mut Vec<Value>, errors: &mut Vec<FieldError>) {
    match value {
        Value::String(s) if s.contains('\0') => errors.push(nul_error(loc.clone(), s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                loc.push(i.into());
                walk(item, loc, errors);
                loc.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                loc.push(key.as_str().into());
                if key.contains('\0') {
                    errors.push(nul_error(loc.clone(), key));
                }
                walk(item, loc, errors);
                loc.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nul_is_reported_with_its_location() {
        let value = json!({ "title": "a\u{0}b", "tags": ["ok", "\u{0}"], "n": 1, "fine": "text" });
        let Err(ApiError::Validation(errors)) = reject_invalid("body", &value) else { panic!("accepted") };
        let locs: Vec<Value> = errors.iter().map(|e| json!(e.loc)).collect();
        assert_eq!(locs, vec![json!(["body", "tags", 1]), json!(["body", "title"])]);
        assert!(reject_invalid("body", &json!({ "title": "일기", "n": [1, 2] })).is_ok());
    }
}
