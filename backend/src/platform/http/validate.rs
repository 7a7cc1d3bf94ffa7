//! Field validation after deserialisation, producing pydantic-shaped 422 entries, so a request
//! type states its constraints in one `validate` method.

use serde_json::{Value, json};

use crate::platform::error::{ApiError, FieldError};

/// Constraints a request body or query checks after it deserialised.
pub trait Validate {
    fn validate(&self, v: &mut Violations);
}

/// Collects every violation (not just the first), like pydantic.
pub struct Violations {
    source: &'static str,
    /// Where nested checks are (`at`): list indexes and field names under the source.
    prefix: Vec<Value>,
    errors: Vec<FieldError>,
}

impl Violations {
    pub fn new(source: &'static str) -> Self {
        Self { source, prefix: Vec::new(), errors: Vec::new() }
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }

    fn loc(&self, field: &str) -> Vec<Value> {
        let mut loc = vec![self.source.into()];
        loc.extend(self.prefix.iter().cloned());
        loc.push(field.into());
        loc
    }

    /// Runs `check` on an item nested at `path` (e.g. `["answers", 0]`), so its errors are
    /// located as pydantic locates them: `["body", "answers", 0, "question_id"]`.
    pub fn at(&mut self, path: &[Value], check: impl FnOnce(&mut Self)) {
        let depth = self.prefix.len();
        self.prefix.extend(path.iter().cloned());
        check(self);
        self.prefix.truncate(depth);
    }

    pub fn push(&mut self, field: &str, kind: &'static str, msg: String, input: Value, ctx: Option<Value>) {
        let mut e = FieldError::new(kind, self.loc(field), msg, input);
        e.ctx = ctx;
        self.errors.push(e);
    }

    /// Length in characters (not bytes), as Python counts it.
    pub fn str_len(&mut self, field: &str, value: &str, min: usize, max: Option<usize>) {
        let n = value.chars().count();
        if n < min {
            let unit = if min == 1 { "character" } else { "characters" };
            self.push(
                field,
                "string_too_short",
                format!("String should have at least {min} {unit}"),
                value.into(),
                Some(json!({ "min_length": min })),
            );
        } else if let Some(max) = max.filter(|&max| n > max) {
            let unit = if max == 1 { "character" } else { "characters" };
            self.push(
                field,
                "string_too_long",
                format!("String should have at most {max} {unit}"),
                value.into(),
                Some(json!({ "max_length": max })),
            );
        }
    }

    pub fn opt_str_len(&mut self, field: &str, value: Option<&str>, min: usize, max: Option<usize>) {
        if let Some(value) = value {
            self.str_len(field, value, min, max);
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: Option<i64>) {
        if value < min {
            self.push(
                field,
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                value.into(),
                Some(json!({ "ge": min })),
            );
        } else if let Some(max) = max.filter(|&max| value > max) {
            self.push(
                field,
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                value.into(),
                Some(json!({ "le": max })),
            );
        }
    }

    /// A pragmatic e-mail check (one `@`, non-empty local part, a dotted domain, no spaces),
    /// with pydantic's `value_error` shape.
    pub fn email(&mut self, field: &str, value: &str) {
        // RFC 5321's limit on a whole address.
        if value.chars().count() > 254 {
            self.str_len(field, value, 0, Some(254));
        } else if let Err(reason) = check_email(value) {
            self.push(
                field,
                "value_error",
                format!("value is not a valid email address: {reason}"),
                value.into(),
                Some(json!({ "reason": reason })),
            );
        }
    }
}

fn check_email(value: &str) -> Result<(), &'static str> {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err("An email address must have an @-sign.");
    };
    if local.is_empty() {
        return Err("There must be something before the @-sign.");
    }
    if value.len() > 254 || local.len() > 64 {
        return Err("The email address is too long.");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) || local.contains('@') {
        return Err("The email address contains invalid characters.");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Err("The part after the @-sign is not valid. It should have a period.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check_accepts_ordinary_addresses_and_rejects_broken_ones() {
        assert!(check_email("kim@example.com").is_ok());
        assert!(check_email("a.b+tag@mail.example.co.kr").is_ok());
        for bad in ["", "plain", "@example.com", "a@b", "a@.com", "a b@example.com", "a@exa mple.com"] {
            assert!(check_email(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn str_len_counts_characters_not_bytes() {
        let mut v = Violations::new("body");
        v.str_len("title", "일기", 1, Some(2));
        assert!(v.into_result().is_ok());
        let mut v = Violations::new("body");
        v.str_len("title", "", 1, Some(2));
        let Err(ApiError::Validation(errors)) = v.into_result() else { panic!("expected 422") };
        assert_eq!(errors[0].kind, "string_too_short");
        assert_eq!(errors[0].msg, "String should have at least 1 character");
        assert_eq!(errors[0].loc, vec![json!("body"), json!("title")]);
    }
}
