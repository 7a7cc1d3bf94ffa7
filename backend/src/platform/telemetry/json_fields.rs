//! A span's fields as one JSON object, written once when the span opens and appended to in place
//! when a field is recorded later.
//!
//! `tracing-subscriber`'s `JsonFields` parses the object back into a map and writes it again on
//! every later record. The JSON event formatter reads the object the same way either way
//! (`with_current_span`, the span list). A field recorded twice appears twice in the object,
//! which grows with each record for the span's life; a JSON reader keeps the last.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FormatFields, FormattedFields, format::Writer},
};

/// The span field formatter of the JSON logs (`fmt::Layer::fmt_fields`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AppendJsonFields;

impl<'writer> FormatFields<'writer> for AppendJsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        writer.write_char('{')?;
        let mut visitor = Members { out: &mut writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Reopen the object this formatter wrote (`{...}`), add the members, close it again.
        if current.fields.pop() != Some('}') {
            current.fields.clear();
            return self.format_fields(current.as_writer(), fields);
        }
        let first = current.fields == "{";
        let before = current.fields.len();
        let mut visitor = Members { out: &mut current.fields, first, result: Ok(()) };
        fields.record(&mut visitor);
        let result = visitor.result;
        if result.is_err() {
            // A value that failed to format: drop its half-written member, keep the object whole.
            current.fields.truncate(before);
        }
        current.fields.push('}');
        result
    }
}

/// Writes each field as a member of an open JSON object.
struct Members<'a, W: Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: Write> Members<'_, W> {
    /// `"name":` then the value `write` writes; the first error is kept and the rest skipped.
    fn member(&mut self, field: &Field, write: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        let separator = if std::mem::take(&mut self.first) { "" } else { "," };
        self.result = self
            .out
            .write_str(separator)
            .and_then(|()| write_json_str(self.out, name))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| write(self.out));
    }
}

impl<W: Write> Visit for Members<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| write_json_str(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(Escaped(out), "{value:?}")?;
            out.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: like serde_json, those are null. `Debug` keeps `1.0` a
        // float and writes large and small values with an exponent (`1e21`), valid JSON both.
        if value.is_finite() {
            self.member(field, |out| write!(out, "{value:?}"));
        } else {
            self.member(field, |out| out.write_str("null"));
        }
    }
}

fn write_json_str(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(value)?;
    out.write_char('"')
}

/// Writes what it is given escaped for the inside of a JSON string.
struct Escaped<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, c) in s.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                c if c < ' ' => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{:04x}", u32::from(c))?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + c.len_utf8();
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tracing_subscriber::{fmt, prelude::*};

    use super::*;
    use crate::platform::telemetry::Lines;

    #[test]
    fn fields_recorded_after_the_span_opened_reach_the_logs_as_valid_json() {
        let lines = Lines::default();
        let writer = lines.clone();
        let layer = fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .fmt_fields(AppendJsonFields)
            .with_writer(move || writer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!(
                "request",
                method = %"GET",
                route = tracing::field::Empty,
                note = "say \"hi\"\n\\ \u{1}",
                user_id = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("route", "/api/v1/users/me");
            span.record("user_id", 42_i64);
            tracing::info!("outer");
            // A span opened with no values: its object is `{}` until the first one is recorded.
            let inner = tracing::info_span!("inner", late = tracing::field::Empty, nan = tracing::field::Empty);
            let _inner = inner.enter();
            inner.record("late", 7_u64);
            inner.record("nan", f64::NAN);
            inner.record("late", 1.0);
            tracing::info!("inner");
        });
        let text = lines.text();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let request = json!({
            "name": "request", "method": "GET", "route": "/api/v1/users/me",
            "note": "say \"hi\"\n\\ \u{1}", "user_id": 42,
        });
        assert_eq!(lines[0]["span"], request);
        assert_eq!(lines[0]["message"], "outer");
        // Recorded twice, a field is in the object twice and read as its last value.
        let inner = json!({ "name": "inner", "late": 1.0, "nan": null });
        assert_eq!(lines[1]["span"], inner);
        assert_eq!(lines[1]["spans"], json!([request, inner]));
    }
}
