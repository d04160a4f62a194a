//! The outbox table.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use medibook_core::BookingResult;
use medibook_core::delivery::{Attachment, OutboundMessage};
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_core::outbox::{
    MessageKind, MessageStatus, NewMessage, OutboxEntry, OutboxQuery, OutboxRepository,
    OutboxSummary, QueuedMessage,
};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::Database;
use crate::WriteStatement;
use crate::columns::{counter, micros, named, optional_parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

const ENQUEUE_INTO: &str = "
    INSERT INTO outbox (id, idempotency_key, recipient_kind, recipient, subject, body, sensitive,
                        status, attempts, next_attempt_at, expires_at, last_error, created_at,
                        finished_at, kind, appointment_id, attachment_name, attachment_type,
                        attachment)";
/// Values bound per queued message.
const COLUMNS_PER_MESSAGE: usize = 15;
/// Due messages, one-time codes first: someone is waiting for those on the sign-in page, so a
/// burst of reminders never holds them up.
const DUE: &str = "
    SELECT id, recipient_kind, recipient, subject, body, attempts, expires_at, next_attempt_at,
           attachment_name, attachment_type, attachment
    FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
    ORDER BY CASE WHEN kind = 'sign_in_code' THEN 0 ELSE 1 END, next_attempt_at LIMIT $2";
/// Withdraws the reminders of an appointment not sent yet (it moved or was cancelled).
pub(crate) const WITHDRAW_REMINDERS: &str = "
    UPDATE outbox SET status = 'cancelled', finished_at = $1,
                      last_error = 'withdrawn: the appointment moved or was cancelled'
    WHERE appointment_id = $2 AND kind = 'reminder' AND status = 'pending'";
/// Takes a message only if no other worker took it since it was read.
const CLAIM: &str = "
    UPDATE outbox SET next_attempt_at = $1
    WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3";
const MARK_SENT: &str = "
    UPDATE outbox SET status = 'sent', attempts = attempts + 1, finished_at = $1, last_error = NULL,
                      body = CASE WHEN sensitive = 1 THEN '' ELSE body END
    WHERE id = $2";
const MARK_RETRY: &str = "
    UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2
    WHERE id = $3 AND status = 'pending'";
const MARK_FAILED: &str = "
    UPDATE outbox SET status = 'failed', attempts = attempts + 1, finished_at = $1, last_error = $2,
                      body = CASE WHEN sensitive = 1 THEN '' ELSE body END
    WHERE id = $3";

/// Deletes a batch of finished messages queued before a cutoff (the `outbox_by_status` index
/// serves each status's range).
const PURGE_FINISHED: &str = "
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE status IN ('sent', 'failed', 'cancelled') AND created_at < $1
        LIMIT $2)";

/// What the admin listing reads: never the body (one-time codes live there until sent).
const LISTED_COLUMNS: &str = "id, kind, recipient_kind, recipient, subject, status, attempts, \
                              next_attempt_at, last_error, created_at, finished_at, appointment_id";
/// Counts per status; the earliest due time matters only for `pending`.
const SUMMARY: &str = "
    SELECT status, COUNT(*) AS messages, MIN(next_attempt_at) AS earliest_due
    FROM outbox GROUP BY status";

fn recipient_from(row: &sql::Row) -> Result<Identifier, StoreError> {
    let kind: String = row.try_get("recipient_kind")?;
    let recipient: String = row.try_get("recipient")?;
    let corrupt = |e: medibook_core::BookingError| StoreError::Corrupt(format!("recipient: {e}"));
    Ok(match kind.as_str() {
        "email" => Identifier::Email(Email::parse(&recipient).map_err(corrupt)?),
        "phone" => Identifier::Phone(PhoneNumber::parse(&recipient).map_err(corrupt)?),
        other => return Err(StoreError::Corrupt(format!("recipient_kind {other:?}"))),
    })
}

fn entry_from(row: &sql::Row) -> Result<OutboxEntry, StoreError> {
    let finished_at: Option<i64> = row.try_get("finished_at")?;
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        kind: named(row, "kind", MessageKind::parse)?,
        recipient: recipient_from(row)?,
        subject: row.try_get("subject")?,
        status: named(row, "status", MessageStatus::parse)?,
        attempts: counter(row, "attempts")?,
        next_attempt_at: timestamp(row, "next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: timestamp(row, "created_at")?,
        finished_at: finished_at
            .map(Timestamp::from_microsecond)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("finished_at: {e}")))?,
        appointment_id: optional_parsed(row, "appointment_id")?,
    })
}

fn queued_from(row: &sql::Row) -> Result<QueuedMessage, StoreError> {
    let to = recipient_from(row)?;
    let attempts: i64 = row.try_get("attempts")?;
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    Ok(QueuedMessage {
        id: row.try_get("id")?,
        message: OutboundMessage {
            to,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            attachment: attachment_from(row)?,
        },
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        expires_at: expires_at
            .map(Timestamp::from_microsecond)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("expires_at: {e}")))?,
    })
}

fn attachment_from(row: &sql::Row) -> Result<Option<Attachment>, StoreError> {
    let filename: Option<String> = row.try_get("attachment_name")?;
    let content_type: Option<String> = row.try_get("attachment_type")?;
    let content: Option<String> = row.try_get("attachment")?;
    Ok(match (filename, content_type, content) {
        (Some(filename), Some(content_type), Some(content)) => Some(Attachment {
            filename,
            content_type,
            content,
        }),
        _ => None,
    })
}

/// The insert of one message, due at its `due_at` or `now`; run it on the pool or inside the
/// transaction of the change that causes the message.
pub(crate) fn enqueue_query(message: &NewMessage, now: Timestamp) -> sql::Query {
    bind_message(sql::query(AssertSqlSafe(enqueue_sql(1))), message, now)
}

/// The insert of `rows` messages; a repeated idempotency key is skipped.
fn enqueue_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let p = |k: usize| format!("${}", i * COLUMNS_PER_MESSAGE + k);
            format!(
                "({}, {}, {}, {}, {}, {}, {}, 'pending', 0, {}, {}, NULL, {}, NULL, {}, {}, {}, {}, {})",
                p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11), p(12),
                p(13), p(14), p(15)
            )
        })
        .collect();
    format!(
        "{ENQUEUE_INTO} VALUES {} ON CONFLICT (idempotency_key) DO NOTHING",
        values.join(", ")
    )
}

/// Queues `messages` inside the caller's transaction in one statement (a repeated idempotency
/// key is skipped, as by [`enqueue_query`]).
pub(crate) async fn enqueue_all_in(
    tx: &mut crate::WriteTx,
    messages: &[NewMessage],
    now: Timestamp,
) -> Result<(), StoreError> {
    // 15 × 60 = 900 parameters, below SQLite's and PostgreSQL's limits.
    for chunk in messages.chunks(60) {
        let mut insert = sql::query(AssertSqlSafe(enqueue_sql(chunk.len())));
        for message in chunk {
            insert = bind_message(insert, message, now);
        }
        insert.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Binds one message's values, in the order of [`enqueue_sql`]'s placeholders.
fn bind_message(query: sql::Query, message: &NewMessage, now: Timestamp) -> sql::Query {
    let (recipient_kind, recipient) = match &message.message.to {
        Identifier::Email(email) => ("email", email.as_str().to_owned()),
        Identifier::Phone(phone) => ("phone", phone.as_str().to_owned()),
    };
    let attachment = message.message.attachment.as_ref();
    query
        .bind(Uuid::now_v7().to_string())
        .bind(message.idempotency_key.clone())
        .bind(recipient_kind)
        .bind(recipient)
        .bind(message.message.subject.clone())
        .bind(message.message.body.clone())
        .bind(i64::from(message.sensitive))
        .bind(micros(message.due_at.unwrap_or(now)))
        .bind(message.expires_at.map(micros))
        .bind(micros(now))
        .bind(message.kind.as_str())
        .bind(message.appointment_id.map(|id| id.to_string()))
        .bind(attachment.map(|a| a.filename.clone()))
        .bind(attachment.map(|a| a.content_type.clone()))
        .bind(attachment.map(|a| a.content.clone()))
}

#[async_trait]
impl OutboxRepository for Database {
    async fn enqueue(&self, message: &NewMessage, now: Timestamp) -> BookingResult<bool> {
        let result = enqueue_query(message, now).write_on(self).await?;
        Ok(result.rows_affected() == 1)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> BookingResult<Vec<QueuedMessage>> {
        let rows = sql::query(DUE)
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let lease_end = micros(now.saturating_add(lease).unwrap_or(now));
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id").map_err(StoreError::from)?;
            let seen: i64 = row.try_get("next_attempt_at").map_err(StoreError::from)?;
            let taken = sql::query(CLAIM)
                .bind(lease_end)
                .bind(id.clone())
                .bind(seen)
                .write_on(self)
                .await?;
            if taken.rows_affected() == 1 {
                claimed.push(queued_from(row)?);
            }
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, id: &str, now: Timestamp) -> BookingResult<()> {
        sql::query(MARK_SENT)
            .bind(micros(now))
            .bind(id.to_owned())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn mark_retry(&self, id: &str, retry_at: Timestamp, error: &str) -> BookingResult<()> {
        sql::query(MARK_RETRY)
            .bind(micros(retry_at))
            .bind(error.to_owned())
            .bind(id.to_owned())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn mark_failed(&self, id: &str, now: Timestamp, error: &str) -> BookingResult<()> {
        sql::query(MARK_FAILED)
            .bind(micros(now))
            .bind(error.to_owned())
            .bind(id.to_owned())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn list_messages(&self, query: &OutboxQuery) -> BookingResult<Vec<OutboxEntry>> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        if let Some(status) = query.status {
            values.push(status.as_str());
            conditions.push(format!("status = ${}", values.len()));
        }
        if let Some(kind) = query.kind {
            values.push(kind.as_str());
            conditions.push(format!("kind = ${}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {LISTED_COLUMNS} FROM outbox {filter}
             ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        );
        let mut statement = sql::query(AssertSqlSafe(sql));
        for value in values {
            statement = statement.bind(value);
        }
        let rows = statement
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(entry_from).collect::<Result<_, _>>()?)
    }

    async fn summary(&self) -> BookingResult<OutboxSummary> {
        let rows = sql::query(SUMMARY)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let mut summary = OutboxSummary::default();
        for row in &rows {
            let status = named(row, "status", MessageStatus::parse)?;
            let messages: i64 = row.try_get("messages").map_err(StoreError::from)?;
            let messages = u64::try_from(messages).unwrap_or_default();
            match status {
                MessageStatus::Pending => {
                    summary.pending = messages;
                    summary.oldest_pending_due = row
                        .try_get::<Option<i64>, _>("earliest_due")
                        .map_err(StoreError::from)?
                        .map(Timestamp::from_microsecond)
                        .transpose()
                        .map_err(|e| StoreError::Corrupt(format!("next_attempt_at: {e}")))?;
                }
                MessageStatus::Sent => summary.sent = messages,
                MessageStatus::Failed => summary.failed = messages,
                MessageStatus::Cancelled => summary.cancelled = messages,
            }
        }
        Ok(summary)
    }

    async fn purge_finished(&self, created_before: Timestamp, limit: u32) -> BookingResult<u64> {
        let result = sql::query(PURGE_FINISHED)
            .bind(micros(created_before))
            .bind(i64::from(limit))
            .write_on(self)
            .await?;
        Ok(result.rows_affected())
    }
}
