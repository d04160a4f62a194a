//! Conversions between domain values and column values.
//!
//! Instants are stored as microseconds since the Unix epoch in a 64-bit integer, ids as UUID
//! text; both backends store them the same way, so one set of queries serves both.

use std::str::FromStr;

use jiff::Timestamp;

use crate::error::StoreError;
use crate::sql;

/// An instant as stored.
pub(crate) fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

/// Reads an instant column.
pub(crate) fn timestamp(row: &sql::Row, column: &str) -> Result<Timestamp, StoreError> {
    let value: i64 = row.try_get(column)?;
    Timestamp::from_microsecond(value).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Reads a nullable instant column.
pub(crate) fn optional_instant(
    row: &sql::Row,
    column: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let value: Option<i64> = row.try_get(column)?;
    value
        .map(|value| {
            Timestamp::from_microsecond(value)
                .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
        })
        .transpose()
}

/// Reads a non-negative counter column.
pub(crate) fn counter(row: &sql::Row, column: &str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Reads a column holding text parsed by `FromStr` (ids, enums with `FromStr`).
pub(crate) fn parsed<T: FromStr>(row: &sql::Row, column: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// Reads a nullable column holding text parsed by `FromStr`.
pub(crate) fn optional_parsed<T: FromStr>(
    row: &sql::Row,
    column: &str,
) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        t.parse()
            .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

/// Reads a text column mapped by `parse` (stored enum names).
pub(crate) fn named<T>(
    row: &sql::Row,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown value {text:?}")))
}

/// `$first, $first+1, …` placeholders for an `IN (…)` list of `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
