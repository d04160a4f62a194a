//! The contact-form inbox.

use async_trait::async_trait;
use medibook_core::BookingResult;
use medibook_core::contact::{ContactMessage, ContactRepository};
use medibook_core::identity::Email;

use crate::Database;
use crate::WriteStatement;
use crate::columns::{micros, parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

const INSERT_MESSAGE: &str = "
    INSERT INTO contact_messages (id, name, email, message, received_at)
    VALUES ($1, $2, $3, $4, $5)";
const NEWEST_MESSAGES: &str = "
    SELECT id, name, email, message, received_at FROM contact_messages
    ORDER BY received_at DESC, id DESC LIMIT $1";

fn message_from(row: &sql::Row) -> Result<ContactMessage, StoreError> {
    let email: String = row.try_get("email")?;
    Ok(ContactMessage {
        id: parsed(row, "id")?,
        name: row.try_get("name")?,
        email: Email::parse(&email).map_err(|e| StoreError::Corrupt(format!("email: {e}")))?,
        message: row.try_get("message")?,
        received_at: timestamp(row, "received_at")?,
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
}
