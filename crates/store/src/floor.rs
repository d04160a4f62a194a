//! The database's own limit: how many single-row `INSERT` transactions per second it commits
//! through connections like this store's (same pragmas; on SQLite an immediate transaction per
//! row, writers taking turns in order, but no group commit: the floor is the database's own
//! rate, which the writer's batching may exceed). Benchmarks divide booking throughput by it
//! (`medibook floor`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sqlx::AssertSqlSafe;
use tokio::task::JoinSet;

use crate::error::StoreError;
use crate::sql;
use crate::{Backend, Database};

impl Database {
    /// Commits per second of `writers` tasks each committing one-row inserts for `time`, in a
    /// scratch table that is dropped afterwards.
    pub async fn commit_floor(&self, writers: usize, time: Duration) -> Result<f64, StoreError> {
        let table = format!("floor_{}", uuid::Uuid::now_v7().simple());
        sql::query(AssertSqlSafe(format!(
            "CREATE TABLE {table} (id TEXT PRIMARY KEY, doctor_id TEXT NOT NULL, \
             start_at BIGINT NOT NULL, created_at BIGINT NOT NULL)"
        )))
        .execute(&mut self.open_writing_connection().await?)
        .await?;
        let measured = self.floor_loop(&table, writers.max(1), time).await;
        let dropped = sql::query(AssertSqlSafe(format!("DROP TABLE {table}")))
            .execute(&mut self.open_writing_connection().await?)
            .await;
        let rate = measured?;
        dropped?;
        Ok(rate)
    }

    async fn floor_loop(
        &self,
        table: &str,
        writers: usize,
        time: Duration,
    ) -> Result<f64, StoreError> {
        let insert = Arc::new(format!(
            "INSERT INTO {table} (id, doctor_id, start_at, created_at) VALUES ($1, $2, $3, $4)"
        ));
        let started = Instant::now();
        let deadline = started + time;
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let mut tasks = JoinSet::new();
        for _ in 0..writers {
            let mut conn = self.open_writing_connection().await?;
            let insert = Arc::clone(&insert);
            let gate = Arc::clone(&gate);
            let sqlite = self.backend() == Backend::Sqlite;
            tasks.spawn(async move {
                let doctor_id = uuid::Uuid::now_v7().to_string();
                let mut commits: u64 = 0;
                while Instant::now() < deadline {
                    // SQLite's writers take turns here, as this store's did before it had one
                    // writer, instead of sleeping in SQLite's busy handler.
                    let _turn = if sqlite {
                        Some(gate.lock().await)
                    } else {
                        None
                    };
                    conn.execute_script(begin).await?;
                    let now = Timestamp::now().as_microsecond();
                    sql::query(AssertSqlSafe(insert.as_str().to_owned()))
                        .bind(uuid::Uuid::now_v7().to_string())
                        .bind(doctor_id.clone())
                        .bind(now)
                        .bind(now)
                        .execute(&mut conn)
                        .await?;
                    conn.execute_script("COMMIT").await?;
                    commits += 1;
                }
                let _ = conn.close().await;
                Ok::<_, StoreError>(commits)
            });
        }
        let mut commits: u64 = 0;
        while let Some(joined) = tasks.join_next().await {
            commits +=
                joined.map_err(|e| StoreError::Config(format!("a floor task failed: {e}")))??;
        }
        Ok(commits as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON))
    }
}
