//! Page-number pagination (`page` from 1, `per_page`), shared by every paged list.

use super::validate::Violations;

/// `#[serde(default = "page::first")]` for `page`.
pub fn first() -> i64 {
    1
}

/// `#[serde(default = "page::ten")]` for `per_page`.
pub fn ten() -> i64 {
    10
}

/// `#[serde(default = "page::twenty")]` for a `limit` (skip/limit lists).
pub fn twenty() -> i64 {
    20
}

/// `page` at least 1 and `per_page` within 1..=`max_per_page`.
pub fn validate(v: &mut Violations, page: i64, per_page: i64, max_per_page: i64) {
    v.range("page", page, 1, None);
    v.range("per_page", per_page, 1, Some(max_per_page));
}

/// The rows a page skips (saturating, so a huge page number cannot overflow).
pub fn offset(page: i64, per_page: i64) -> i64 {
    (page - 1).saturating_mul(per_page)
}
