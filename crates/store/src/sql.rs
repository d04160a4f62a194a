//! How the store runs a statement on either engine through its native driver.
//!
//! Both backends store instants as integer microseconds and ids as UUID text, so one SQL text
//! serves both for nearly every statement. A [`Query`] holds that text and its bound values;
//! it is encoded by the native driver of the engine it runs on (`sqlx-sqlite` or
//! `sqlx-postgres`), where the connection's statement cache prepares it once and reuses it, and
//! its rows come back as the driver's own rows ([`Row`]), decoded natively — no row is
//! converted into an engine-neutral value on the way. Where the engines differ (SQLite's one
//! writer, PostgreSQL's row locks and hold function), the store has code per engine.

use std::time::Duration;

pub use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnection, PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{ColumnIndex, Decode, SqlSafeStr, SqlStr, Type};

use crate::WriteTx;

/// A value bound to a statement's placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A 64-bit integer (instants, counts, flags stored as numbers).
    Int(i64),
    /// Text (ids, names, JSON).
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A floating-point number.
    Real(f64),
    /// Bytes.
    Blob(Vec<u8>),
    /// `NULL` in an integer column.
    NullInt,
    /// `NULL` in a text column.
    NullText,
    /// `NULL` in a boolean column.
    NullBool,
    /// `NULL` in a bytes column.
    NullBlob,
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<i32> for Value {
    fn from(value: i32) -> Self {
        Value::Int(value.into())
    }
}

impl From<u32> for Value {
    fn from(value: u32) -> Self {
        Value::Int(value.into())
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Real(value)
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value::Text(value.clone())
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Blob(value)
    }
}

impl From<Option<Vec<u8>>> for Value {
    fn from(value: Option<Vec<u8>>) -> Self {
        value.map_or(Value::NullBlob, Value::Blob)
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Self {
        value.map_or(Value::NullInt, Value::Int)
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        value.map_or(Value::NullText, Value::Text)
    }
}

impl From<Option<&str>> for Value {
    fn from(value: Option<&str>) -> Self {
        value.map_or(Value::NullText, |text| Value::Text(text.to_owned()))
    }
}

impl From<Option<bool>> for Value {
    fn from(value: Option<bool>) -> Self {
        value.map_or(Value::NullBool, Value::Bool)
    }
}

/// A statement and its bound values, not yet run.
#[derive(Clone, Debug)]
#[must_use = "a query does nothing until it is run"]
pub struct Query {
    sql: SqlStr,
    values: Vec<Value>,
}

/// A statement to run on either engine: `$1`, `$2`, … are its placeholders.
pub fn query(sql: impl SqlSafeStr) -> Query {
    Query {
        sql: sql.into_sql_str(),
        values: Vec::new(),
    }
}

/// A row read by a [`Query`], as its engine's driver returned it.
#[derive(Debug)]
pub enum Row {
    /// From SQLite.
    Sqlite(SqliteRow),
    /// From PostgreSQL.
    Postgres(PgRow),
}

impl Row {
    /// The value of a column (by name or position), decoded by the engine's driver.
    pub fn try_get<'r, T, I>(&'r self, index: I) -> Result<T, sqlx::Error>
    where
        T: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres>,
        I: ColumnIndex<SqliteRow> + ColumnIndex<PgRow>,
    {
        match self {
            Row::Sqlite(row) => sqlx::Row::try_get(row, index),
            Row::Postgres(row) => sqlx::Row::try_get(row, index),
        }
    }

    /// The value of a column, for tests and tools that know the row's shape.
    ///
    /// # Panics
    /// When the column is missing or its value cannot be decoded as `T`.
    pub fn get<'r, T, I>(&'r self, index: I) -> T
    where
        T: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres>,
        I: ColumnIndex<SqliteRow> + ColumnIndex<PgRow>,
    {
        match self.try_get(index) {
            Ok(value) => value,
            Err(error) => panic!("reading a column: {error}"),
        }
    }
}

/// What a statement changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    /// The rows the statement inserted, updated or deleted.
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A pool of connections to one engine.
#[derive(Clone, Debug)]
pub enum Pool {
    /// SQLite: the readers' pool (the writer has a connection of its own).
    Sqlite(SqlitePool),
    /// PostgreSQL: every connection.
    Postgres(PgPool),
}

impl Pool {
    /// Closes every connection of the pool.
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection of its own to one engine (migrations, bulk loads, tests that plant rows).
#[derive(Debug)]
pub enum Connection {
    /// A SQLite connection that may write.
    Sqlite(SqliteConnection),
    /// A PostgreSQL connection.
    Postgres(PgConnection),
}

impl Connection {
    /// Closes the connection cleanly.
    pub async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Connection::Sqlite(conn) => sqlx::Connection::close(conn).await,
            Connection::Postgres(conn) => sqlx::Connection::close(conn).await,
        }
    }

    /// Runs `sql` (one or more statements, nothing bound) as it is.
    pub async fn execute_script(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        use sqlx::Executor;
        match self {
            Connection::Sqlite(conn) => conn.execute(sql).await.map(drop),
            Connection::Postgres(conn) => conn.execute(sql).await.map(drop),
        }
    }
}

/// Where a [`Query`] runs: a pool, a connection of its own, or a write transaction.
#[derive(Debug)]
pub enum Target<'e> {
    /// Any connection of a SQLite pool.
    SqlitePool(&'e SqlitePool),
    /// Any connection of a PostgreSQL pool.
    PostgresPool(&'e PgPool),
    /// This SQLite connection.
    Sqlite(&'e mut SqliteConnection),
    /// This PostgreSQL connection.
    Postgres(&'e mut PgConnection),
    /// The connection of a PostgreSQL write transaction (its statements are held to
    /// [`QUERY_PATIENCE`], like the pool's).
    PostgresTx(&'e mut PgConnection),
}

/// How long a PostgreSQL statement on the pool or in a write transaction may take before the
/// database counts as unreachable (a request then answers 503 `database_unavailable` instead of
/// waiting for TCP to give up). Connections of their own (migrations, bulk loads) wait, and so
/// do BEGIN and COMMIT (see [`crate::Database::begin_write`]).
pub const QUERY_PATIENCE: Duration = Duration::from_millis(2500);

/// Runs `work` on a connection of `pool` held to [`QUERY_PATIENCE`]; a connection whose
/// statement was cut short is closed rather than given back to the pool, where its answer
/// might still be on the way (or never come, on a dropped route).
async fn on_pool<T>(
    pool: &PgPool,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    match tokio::time::timeout(QUERY_PATIENCE, work(&mut conn)).await {
        Ok(result) => result,
        Err(_) => {
            conn.close_on_drop();
            Err(unanswered())
        }
    }
}

/// `work`, or an I/O time-out error once [`QUERY_PATIENCE`] has passed.
async fn within<T>(work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    tokio::time::timeout(QUERY_PATIENCE, work)
        .await
        .unwrap_or_else(|_| Err(unanswered()))
}

/// The error of a statement the database did not answer in time.
fn unanswered() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the database did not answer within {} ms",
            QUERY_PATIENCE.as_millis()
        ),
    ))
}

/// Something a [`Query`] can run on.
pub trait Executes<'e> {
    /// The engine and connection to run on.
    fn target(self) -> Target<'e>;
}

impl<'e> Executes<'e> for &'e Pool {
    fn target(self) -> Target<'e> {
        match self {
            Pool::Sqlite(pool) => Target::SqlitePool(pool),
            Pool::Postgres(pool) => Target::PostgresPool(pool),
        }
    }
}

impl<'e> Executes<'e> for &'e mut Connection {
    fn target(self) -> Target<'e> {
        match self {
            Connection::Sqlite(conn) => Target::Sqlite(conn),
            Connection::Postgres(conn) => Target::Postgres(conn),
        }
    }
}

impl<'e> Executes<'e> for &'e mut SqliteConnection {
    fn target(self) -> Target<'e> {
        Target::Sqlite(self)
    }
}

impl<'e> Executes<'e> for &'e mut PgConnection {
    fn target(self) -> Target<'e> {
        Target::Postgres(self)
    }
}

impl<'e> Executes<'e> for &'e mut WriteTx {
    fn target(self) -> Target<'e> {
        self.on()
    }
}

type SqliteQuery = sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments>;
type PostgresQuery = sqlx::query::Query<'static, Postgres, <Postgres as sqlx::Database>::Arguments>;

impl Query {
    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.values.push(value.into());
        self
    }

    /// Runs the statement, returning what it changed.
    pub async fn execute<'e>(self, on: impl Executes<'e>) -> Result<Done, sqlx::Error> {
        let rows_affected = match on.target() {
            Target::SqlitePool(pool) => self.sqlite().execute(pool).await?.rows_affected(),
            Target::PostgresPool(pool) => {
                let query = self.postgres();
                on_pool(pool, async |conn| query.execute(conn).await)
                    .await?
                    .rows_affected()
            }
            Target::Sqlite(conn) => self.sqlite().execute(conn).await?.rows_affected(),
            Target::Postgres(conn) => self.postgres().execute(conn).await?.rows_affected(),
            Target::PostgresTx(conn) => {
                within(self.postgres().execute(conn)).await?.rows_affected()
            }
        };
        Ok(Done { rows_affected })
    }

    /// Runs the statement, returning its first row if any.
    pub async fn fetch_optional<'e>(
        self,
        on: impl Executes<'e>,
    ) -> Result<Option<Row>, sqlx::Error> {
        Ok(match on.target() {
            Target::SqlitePool(pool) => self.sqlite().fetch_optional(pool).await?.map(Row::Sqlite),
            Target::PostgresPool(pool) => {
                let query = self.postgres();
                on_pool(pool, async |conn| query.fetch_optional(conn).await)
                    .await?
                    .map(Row::Postgres)
            }
            Target::Sqlite(conn) => self.sqlite().fetch_optional(conn).await?.map(Row::Sqlite),
            Target::Postgres(conn) => self
                .postgres()
                .fetch_optional(conn)
                .await?
                .map(Row::Postgres),
            Target::PostgresTx(conn) => within(self.postgres().fetch_optional(conn))
                .await?
                .map(Row::Postgres),
        })
    }

    /// Runs the statement, returning its first row, or [`sqlx::Error::RowNotFound`].
    pub async fn fetch_one<'e>(self, on: impl Executes<'e>) -> Result<Row, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs the statement, returning all its rows.
    pub async fn fetch_all<'e>(self, on: impl Executes<'e>) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match on.target() {
            Target::SqlitePool(pool) => rows(self.sqlite().fetch_all(pool).await?, Row::Sqlite),
            Target::PostgresPool(pool) => {
                let query = self.postgres();
                let native = on_pool(pool, async |conn| query.fetch_all(conn).await).await?;
                rows(native, Row::Postgres)
            }
            Target::Sqlite(conn) => rows(self.sqlite().fetch_all(conn).await?, Row::Sqlite),
            Target::Postgres(conn) => rows(self.postgres().fetch_all(conn).await?, Row::Postgres),
            Target::PostgresTx(conn) => rows(
                within(self.postgres().fetch_all(conn)).await?,
                Row::Postgres,
            ),
        })
    }

    /// The statement for SQLite's driver.
    fn sqlite(self) -> SqliteQuery {
        bind_values!(sqlx::query(self.sql), self.values)
    }

    /// The statement for PostgreSQL's driver.
    fn postgres(self) -> PostgresQuery {
        bind_values!(sqlx::query(self.sql), self.values)
    }
}

/// Binds `values` to a native statement of either driver, each as its own Rust type (the two
/// drivers' statements are different types, so this is written once as a macro).
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                Value::Int(value) => query.bind(value),
                Value::Text(value) => query.bind(value),
                Value::Bool(value) => query.bind(value),
                Value::Real(value) => query.bind(value),
                Value::Blob(value) => query.bind(value),
                Value::NullInt => query.bind(None::<i64>),
                Value::NullText => query.bind(None::<String>),
                Value::NullBool => query.bind(None::<bool>),
                Value::NullBlob => query.bind(None::<Vec<u8>>),
            };
        }
        query
    }};
}
use bind_values;

fn rows<R>(native: Vec<R>, wrap: fn(R) -> Row) -> Vec<Row> {
    native.into_iter().map(wrap).collect()
}
