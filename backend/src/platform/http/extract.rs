//! Request extractors whose rejections are the contract's 422 list (FastAPI/pydantic shape):
//! `Body<T>` (JSON), `QueryParams<T>` and `Form<T>`; path parameters are in `path`.
//!
//! Bodies are parsed into a `serde_json::Value` first, so a failure can name the offending input
//! and its location, then deserialised with `serde_path_to_error` for the path, then validated.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use super::path::{IdPath, IdsPath, TextPath};
use super::validate::{Validate, Violations};
use crate::platform::error::{ApiError, FieldError};

/// A JSON request body, deserialised and validated. An absent (zero-byte) body reads as `{}`, so
/// bodies whose fields are all optional may be omitted (FastAPI's optional bodies); whitespace
/// alone is not JSON and is refused like any other malformed body.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        let mut value = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                ApiError::Validation(vec![
                    FieldError::new(
                        "json_invalid",
                        vec!["body".into(), e.column().into()],
                        "JSON decode error",
                        json!({}),
                    )
                    .with_ctx(json!({ "error": e.to_string() })),
                ])
            })?
        };
        // serde would happily read a struct from a JSON array; pydantic (and we) want an object.
        if !value.is_object() {
            return Err(ApiError::Validation(vec![FieldError::new(
                "model_attributes_type",
                vec!["body".into()],
                "Input should be a valid dictionary or object to extract fields from",
                value,
            )]));
        }
        integral_floats_as_integers(&mut value);
        let parsed: T = deserialize("body", &value, serde_path_to_error::deserialize(&value))?;
        check("body", &parsed)?;
        Ok(Self(parsed))
    }
}

/// Whole-number floats (`140.0`) as integers, as pydantic's lax mode and JSON Schema read them:
/// an integer field accepts them, a fractional one (`140.5`) stays a float and is refused.
/// In place: a body without such floats is only walked.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// An `application/x-www-form-urlencoded` body (OAuth2's password form).
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        let parsed = from_urlencoded("body", &bytes)?;
        check("body", &parsed)?;
        Ok(Self(parsed))
    }
}

/// Query parameters, deserialised and validated.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let parsed = from_urlencoded("query", query.as_bytes())?;
        check("query", &parsed)?;
        Ok(Self(parsed))
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::bad_request("Could not read request body")
        }
    })
}

fn from_urlencoded<T: DeserializeOwned>(source: &'static str, raw: &[u8]) -> Result<T, ApiError> {
    let pairs = form_pairs(raw);
    let value = Value::Object(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw));
    deserialize(source, &value, serde_path_to_error::deserialize(de))
}

fn form_pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn check<T: Validate>(source: &'static str, value: &T) -> Result<(), ApiError> {
    let mut v = Violations::new(source);
    value.validate(&mut v);
    v.into_result()
}

/// Turns a serde failure into one pydantic-shaped entry: location from the path, kind and message
/// from the serde message, input looked up in the parsed value.
fn deserialize<T, E: std::fmt::Display>(
    source: &'static str,
    value: &Value,
    result: Result<T, serde_path_to_error::Error<E>>,
) -> Result<T, ApiError> {
    super::text::reject_invalid(source, value)?;
    result.map_err(|err| {
        let mut loc: Vec<Value> = vec![source.into()];
        let mut input = value;
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    loc.push((*index).into());
                    input = input.get(*index).unwrap_or(&Value::Null);
                }
                serde_path_to_error::Segment::Map { key } => {
                    loc.push(key.as_str().into());
                    input = input.get(key).unwrap_or(&Value::Null);
                }
                serde_path_to_error::Segment::Enum { variant } => loc.push(variant.as_str().into()),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = err.inner().to_string();
        ApiError::Validation(vec![describe(&message, loc, input.clone())])
    })
}

fn describe(message: &str, mut loc: Vec<Value>, input: Value) -> FieldError {
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
        loc.push(field.into());
        return FieldError::new("missing", loc, "Field required", input);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let expected: Vec<&str> = rest.split("expected ").nth(1).unwrap_or("").split('`').skip(1).step_by(2).collect();
        let quoted: Vec<String> = expected.iter().map(|e| format!("'{e}'")).collect();
        let msg = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("Input should be {} or {last}", rest.join(", "))
            }
            Some((last, _)) => format!("Input should be {last}"),
            None => "Input should be a valid enumeration member".into(),
        };
        return FieldError::new("enum", loc, msg, input).with_ctx(json!({ "expected": quoted.join(", ") }));
    }
    let expected = message.rsplit("expected ").next().unwrap_or("");
    let (kind, msg) = if message.contains("invalid digit") || message.contains("cannot parse integer") {
        ("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
    } else if message.contains("invalid float literal") {
        ("float_parsing", "Input should be a valid number, unable to parse string as a number")
    } else if message.contains("provided string was not `true` or `false`") {
        ("bool_parsing", "Input should be a valid boolean, unable to interpret input")
    } else if !message.starts_with("invalid type") && !message.starts_with("invalid value") {
        // chrono's date parser: "input contains invalid characters", "input is out of range", ...
        ("date_from_datetime_parsing", "Input should be a valid date in the format YYYY-MM-DD")
    } else if expected.contains("string") && !expected.contains("date") {
        ("string_type", "Input should be a valid string")
    } else if expected.contains("date") {
        ("date_type", "Input should be a valid date")
    } else if ["i64", "i32", "i16", "u64", "u32", "u16", "u8", "integer"].iter().any(|t| expected.contains(t)) {
        ("int_type", "Input should be a valid integer")
    } else if expected.contains("f64") || expected.contains("f32") {
        ("float_type", "Input should be a valid number")
    } else if expected.contains("bool") {
        ("bool_type", "Input should be a valid boolean")
    } else if expected.contains("sequence") {
        ("list_type", "Input should be a valid list")
    } else if expected.contains("struct") || expected.contains("map") {
        ("model_attributes_type", "Input should be a valid dictionary or object to extract fields from")
    } else {
        ("value_error", "Input is not valid")
    };
    FieldError::new(kind, loc, msg, input)
}

/// `Option<Option<T>>` for PATCH bodies: absent = `None`, explicit `null` = `Some(None)`.
pub fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Sample {
        title: String,
        count: i64,
    }

    fn error_of(body: &Value) -> FieldError {
        let result: Result<Sample, _> = deserialize("body", body, serde_path_to_error::deserialize(body));
        match result {
            Err(ApiError::Validation(mut errors)) => errors.remove(0),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn missing_field_is_reported_with_its_location() {
        let e = error_of(&json!({ "count": 1 }));
        assert_eq!((e.kind.as_ref(), e.msg.as_ref()), ("missing", "Field required"));
        assert_eq!(e.loc, vec![json!("body"), json!("title")]);
    }

    #[test]
    fn wrong_type_names_the_field_and_echoes_the_input() {
        let e = error_of(&json!({ "title": 5, "count": 1 }));
        assert_eq!(e.kind, "string_type");
        assert_eq!(e.loc, vec![json!("body"), json!("title")]);
        assert_eq!(e.input, json!(5));
        let e = error_of(&json!({ "title": "t", "count": "x" }));
        assert_eq!(e.kind, "int_type");
    }

    #[test]
    fn unknown_variant_lists_the_allowed_values() {
        let e = describe("unknown variant `x`, expected one of `formal`, `casual`, `cute`", vec![], json!("x"));
        assert_eq!(e.msg, "Input should be 'formal', 'casual' or 'cute'");
    }
}
