//! The contact-form inbox: messages, the desk's replies (queued in the outbox with the change)
//! and the handled flag.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::audit::AuditEntry;
use medibook_core::contact::{ContactMessage, ContactRepository};
use medibook_core::identity::Email;
use medibook_core::outbox::NewMessage;
use uuid::Uuid;

use crate::Database;
use crate::WriteStatement;
use crate::audit::append_in;
use crate::columns::{micros, optional_instant, parsed, timestamp};
use crate::error::StoreError;
use crate::outbox::enqueue_query;
use crate::sql;

const INSERT_MESSAGE: &str = "
    INSERT INTO contact_messages (id, name, email, message, received_at)
    VALUES ($1, $2, $3, $4, $5)";
const NEWEST_MESSAGES: &str = "
    SELECT id, name, email, message, received_at, handled_at, replied_at FROM contact_messages
    ORDER BY received_at DESC, id DESC LIMIT $1";
const ONE_MESSAGE: &str = "
    SELECT id, name, email, message, received_at, handled_at, replied_at FROM contact_messages
    WHERE id = $1";
const MARK_REPLIED: &str = "
    UPDATE contact_messages SET replied_at = $2, handled_at = COALESCE(handled_at, $2)
    WHERE id = $1";
const SET_HANDLED: &str = "UPDATE contact_messages SET handled_at = $2 WHERE id = $1";

pub(crate) fn message_from(row: &sql::Row) -> Result<ContactMessage, StoreError> {
    let email: String = row.try_get("email")?;
    Ok(ContactMessage {
        id: parsed(row, "id")?,
        name: row.try_get("name")?,
        email: Email::parse(&email).map_err(|e| StoreError::Corrupt(format!("email: {e}")))?,
        message: row.try_get("message")?,
        received_at: timestamp(row, "received_at")?,
        handled_at: optional_instant(row, "handled_at")?,
        replied_at: optional_instant(row, "replied_at")?,
    })
}

#[async_trait]
impl ContactRepository for Database {
    async fn add_contact_message(&self, message: &ContactMessage) -> BookingResult<()> {
        sql::query(INSERT_MESSAGE)
            .bind(message.id.to_string())
            .bind(message.name.clone())
            .bind(message.email.as_str().to_owned())
            .bind(message.message.clone())
            .bind(micros(message.received_at))
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn contact_messages(&self, limit: u32) -> BookingResult<Vec<ContactMessage>> {
        let rows = sql::query(NEWEST_MESSAGES)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows.iter().map(message_from).collect::<Result<_, _>>()?)
    }

    async fn contact_message(&self, id: Uuid) -> BookingResult<Option<ContactMessage>> {
        let row = sql::query(ONE_MESSAGE)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(message_from).transpose()?)
    }

    async fn reply_to_contact(
        &self,
        id: Uuid,
        reply: &NewMessage,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let mut tx = self.begin_write().await?;
        let marked = sql::query(MARK_REPLIED)
            .bind(id.to_string())
            .bind(micros(now))
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        enqueue_query(reply, now)
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_contact_handled(
        &self,
        id: Uuid,
        handled: Option<Timestamp>,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let query = sql::query(SET_HANDLED)
            .bind(id.to_string())
            .bind(handled.map(micros));
        let done = self.execute_audited(query, audit).await?;
        Ok(done.rows_affected() == 1)
    }
}
