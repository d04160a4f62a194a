//! The audit trail: insert and select only (the database refuses anything else).

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::audit::{Actor, AuditEntry, AuditEvent, AuditLog, AuditQuery};
use medibook_core::identity::Role;
use sqlx::AssertSqlSafe;

use medibook_core::ports::Recorded;

use crate::columns::{micros, optional_parsed, parsed, placeholders, timestamp};
use crate::error::StoreError;
use crate::sql;
use crate::{Database, WriteTx};

const AUDIT_COLUMNS: &str = "id, at, actor_user_id, actor_role, action, subject_type, subject_id, \
     patient_id, doctor_id, client_ip, detail";

const INSERT_ENTRIES: &str = "INSERT INTO audit_log (id, at, actor_user_id, actor_role, action, \
     subject_type, subject_id, patient_id, doctor_id, client_ip, detail) VALUES";
const COLUMNS_PER_ROW: usize = 11;
/// Rows per statement, well below SQLite's and PostgreSQL's limits on bound parameters.
const ROWS_PER_INSERT: usize = 100;

fn entry_from(row: &sql::Row) -> Result<AuditEntry, StoreError> {
    let role: Option<String> = row.try_get("actor_role")?;
    Ok(AuditEntry {
        id: parsed(row, "id")?,
        at: timestamp(row, "at")?,
        actor_user_id: optional_parsed(row, "actor_user_id")?,
        actor_role: role
            .map(|r| Role::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("actor_role: {r}"))))
            .transpose()?,
        action: row.try_get("action")?,
        subject_type: row.try_get("subject_type")?,
        subject_id: row.try_get("subject_id")?,
        patient_id: optional_parsed(row, "patient_id")?,
        doctor_id: optional_parsed(row, "doctor_id")?,
        client_ip: row.try_get("client_ip")?,
        detail: row.try_get("detail")?,
    })
}

/// A bound filter value.
enum Filter {
    Text(String),
    Int(i64),
}

/// Writes `entries` inside the caller's transaction: a command's audit rows commit (or roll
/// back) with the change they describe.
pub(crate) async fn append_in(tx: &mut WriteTx, entries: &[AuditEntry]) -> Result<(), StoreError> {
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "({})",
                    placeholders(i * COLUMNS_PER_ROW + 1, COLUMNS_PER_ROW)
                )
            })
            .collect();
        let sql = format!("{INSERT_ENTRIES} {}", rows.join(", "));
        let mut insert = sql::query(AssertSqlSafe(sql));
        for entry in chunk {
            insert = insert
                .bind(entry.id.to_string())
                .bind(micros(entry.at))
                .bind(entry.actor_user_id.map(|id| id.to_string()))
                .bind(entry.actor_role.map(|role| role.as_str().to_owned()))
                .bind(entry.action.clone())
                .bind(entry.subject_type.clone())
                .bind(entry.subject_id.clone())
                .bind(entry.patient_id.map(|id| id.to_string()))
                .bind(entry.doctor_id.map(|id| id.to_string()))
                .bind(entry.client_ip.clone())
                .bind(entry.detail.clone());
        }
        insert.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Stamps `event` with `actor` and `now`, writes it inside `tx`, and notes it in `recorded`.
pub(crate) async fn record_in(
    tx: &mut WriteTx,
    recorded: &mut Recorded,
    actor: &Actor,
    now: Timestamp,
    event: AuditEvent,
) -> Result<(), StoreError> {
    let entry = AuditEntry::stamped(actor, now, event);
    append_in(tx, std::slice::from_ref(&entry)).await?;
    recorded.audit.push(entry);
    Ok(())
}

impl Database {
    /// Runs one statement that writes and, if it changed anything, writes `audit` with it, in
    /// one transaction.
    pub(crate) async fn execute_audited(
        &self,
        query: sql::Query,
        audit: &[AuditEntry],
    ) -> Result<sql::Done, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = query.execute(&mut tx).await?;
        if done.rows_affected() > 0 {
            append_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(done)
    }
}

#[async_trait]
impl AuditLog for Database {
    async fn append(&self, entries: &[AuditEntry]) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        append_in(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn entries(&self, query: &AuditQuery) -> BookingResult<Vec<AuditEntry>> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let mut add = |condition: &str, value: Filter| {
            values.push(value);
            conditions.push(format!("{condition} ${}", values.len()));
        };
        if let Some(patient) = query.patient_id {
            add("patient_id =", Filter::Text(patient.to_string()));
        }
        if let Some(doctor) = query.doctor_id {
            add("doctor_id =", Filter::Text(doctor.to_string()));
        }
        if let Some(from) = query.from {
            add("at >=", Filter::Int(micros(from)));
        }
        if let Some(to) = query.to {
            add("at <", Filter::Int(micros(to)));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log {filter} ORDER BY at DESC, id DESC LIMIT {}",
            query.limit
        );
        let mut select = sql::query(AssertSqlSafe(sql));
        for value in values {
            select = match value {
                Filter::Text(text) => select.bind(text),
                Filter::Int(int) => select.bind(int),
            };
        }
        let rows = select
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(entry_from).collect::<Result<_, _>>()?)
    }
}
