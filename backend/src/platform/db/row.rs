//! Typed rows: every row type reads its columns by name with `try_get`, through one trait, so a
//! renamed column or a changed type is an error, never a panic or a silently shifted field.

use tokio_postgres::Row;

/// A value built from one result row, column by column, by name.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error>;
}

/// Implements [`FromRow`] for a struct whose field names are its columns' names:
/// `from_row!(Diary { id, title, content })`.
#[macro_export]
macro_rules! from_row {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $crate::platform::db::FromRow for $ty {
            fn from_row(row: &::tokio_postgres::Row) -> Result<Self, ::tokio_postgres::Error> {
                Ok(Self { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}

/// A one-column result, read by its name: `select count(*) as value ...` into `Value<i64>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<T>(pub T);

impl<T> FromRow for Value<T>
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        row.try_get("value").map(Value)
    }
}
