//! What is held about one person, for their export, and the erasure of all of it. SQLite
//! connections run with `secure_delete` on (see `apply_sqlite_pragmas`), so deleted rows are
//! overwritten with zeros, and the erasure ends with a checkpoint that empties the write-ahead
//! log: the person's data is then in neither file. PostgreSQL deletes the rows (autovacuum
//! reclaims the space).

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::BookingResult;
use medibook_core::audit::AuditEntry;
use medibook_core::identity::User;
use medibook_core::ids::{HoldId, UserId};
use medibook_core::privacy::{
    AccountRecords, CalendarLink, GoogleLink, PrivacyRepository, SentMessage, SignInRecord,
};
use sqlx::AssertSqlSafe;

use crate::audit::append_in;
use crate::columns::{micros, optional_instant, parsed, timestamp};
use crate::contact::message_from;
use crate::error::StoreError;
use crate::waitlist::queries::ENTRY_COLUMNS;
use crate::waitlist::rows::entry_from;
use crate::{Backend, Database, sql};

/// The person's messages: to their address or number, or about their appointments.
const MESSAGES: &str = "
    SELECT kind, recipient_kind, recipient, subject, body, sensitive, status, created_at,
           finished_at
    FROM outbox
    WHERE recipient = $1 OR recipient = $2
       OR appointment_id IN (SELECT id FROM appointments WHERE patient_id = $3)
    ORDER BY created_at, id";
const SIGN_INS: &str = "
    SELECT id, created_at, last_seen_at, expires_at, revoked_at FROM sessions
    WHERE user_id = $1 ORDER BY created_at DESC, id";
const CALENDAR_LINKS: &str = "
    SELECT kind, token_hash, created_at, updated_at FROM calendar_feeds
    WHERE user_id = $1 ORDER BY kind";
const GOOGLE: &str = "
    SELECT calendar_id, status, connected_at FROM google_connections WHERE person_id = $1";
const ACTIVE_HOLDS: &str = "
    SELECT id FROM holds WHERE patient_id = $1 AND state = 'active' ORDER BY created_at, id";
const CONTACT_MESSAGES: &str = "
    SELECT id, name, email, message, received_at, handled_at, replied_at FROM contact_messages
    WHERE email = $1 ORDER BY received_at, id";
const END_SIGN_INS: &str = "DELETE FROM sessions WHERE user_id = $1";
/// Locks the account (PostgreSQL; SQLite's writer is alone anyway), so no hold or booking for
/// the person commits between the checks below and the deletion.
const LOCK_USER: &str = "SELECT id FROM users WHERE id = $1 FOR UPDATE";
/// What must be given up before the account can go: live holds and upcoming appointments.
const STILL_BOOKED: &str = "
    SELECT (SELECT COUNT(*) FROM holds
            WHERE patient_id = $1 AND state = 'active' AND expires_at > $2)
         + (SELECT COUNT(*) FROM appointments
            WHERE patient_id = $1 AND status = 'scheduled' AND start_at > $2) AS booked";
/// Visit notes the account wrote about others (as a doctor): they stay with the records.
const AUTHORED_NOTES: &str =
    "SELECT COUNT(*) AS notes FROM visit_notes WHERE author_id = $1 AND patient_id <> $1";

/// What an erasure statement's placeholders stand for, in order.
#[derive(Clone, Copy)]
enum Param {
    /// The user's id.
    Id,
    /// Their e-mail address (or a value that matches nothing).
    Email,
    /// Their phone number (or a value that matches nothing).
    Phone,
    /// The keys of their sign-in codes.
    CodeKeys,
    /// The prefixes of their sign-in rate counters.
    CounterPrefixes,
}

/// The erasure, in an order the foreign keys accept.
const ERASE: &[(&str, &[Param])] = &[
    (
        "DELETE FROM google_events WHERE person_id = $1
            OR appointment_id IN (SELECT id FROM appointments WHERE patient_id = $1)",
        &[Param::Id],
    ),
    (
        "DELETE FROM google_oauth_states WHERE person_id = $1",
        &[Param::Id],
    ),
    (
        "DELETE FROM google_connections WHERE person_id = $1",
        &[Param::Id],
    ),
    (
        "DELETE FROM calendar_feeds WHERE user_id = $1",
        &[Param::Id],
    ),
    (
        "DELETE FROM visit_notes WHERE patient_id = $1",
        &[Param::Id],
    ),
    (
        "DELETE FROM waitlist_offers WHERE patient_id = $1",
        &[Param::Id],
    ),
    (
        "DELETE FROM waitlist_entries WHERE patient_id = $1",
        &[Param::Id],
    ),
    (
        "DELETE FROM slot_claims
            WHERE hold_id IN (SELECT id FROM holds WHERE patient_id = $1)
               OR appointment_id IN (SELECT id FROM appointments WHERE patient_id = $1)",
        &[Param::Id],
    ),
    (
        "DELETE FROM outbox
            WHERE appointment_id IN (SELECT id FROM appointments WHERE patient_id = $1)
               OR recipient = $2 OR recipient = $3",
        &[Param::Id, Param::Email, Param::Phone],
    ),
    (
        "DELETE FROM appointments WHERE patient_id = $1",
        &[Param::Id],
    ),
    ("DELETE FROM holds WHERE patient_id = $1", &[Param::Id]),
    ("DELETE FROM sessions WHERE user_id = $1", &[Param::Id]),
    (
        "DELETE FROM one_time_codes WHERE identifier_key = $1 OR identifier_key = $2",
        &[Param::CodeKeys],
    ),
    (
        "DELETE FROM rate_counters
            WHERE substr(key, 1, length($1)) = $1 OR substr(key, 1, length($2)) = $2",
        &[Param::CounterPrefixes],
    ),
    (
        "DELETE FROM contact_messages WHERE email = $1",
        &[Param::Email],
    ),
];
const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

#[async_trait]
impl PrivacyRepository for Database {
    async fn account_records(&self, user: &User) -> BookingResult<AccountRecords> {
        let id = user.id.to_string();
        // A missing address or number binds NULL, which equals nothing.
        let email = user.email.as_ref().map(|e| e.as_str().to_owned());
        let phone = user.phone.as_ref().map(|p| p.as_str().to_owned());
        let email_only = email.clone();
        let waitlist_sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE patient_id = $1
             ORDER BY queued_at, id"
        );
        let (waitlist, messages, sign_ins, links, google, contact) = tokio::try_join!(
            sql::query(AssertSqlSafe(waitlist_sql))
                .bind(id.clone())
                .fetch_all(&self.pool),
            sql::query(MESSAGES)
                .bind(email)
                .bind(phone)
                .bind(id.clone())
                .fetch_all(&self.pool),
            sql::query(SIGN_INS).bind(id.clone()).fetch_all(&self.pool),
            sql::query(CALENDAR_LINKS)
                .bind(id.clone())
                .fetch_all(&self.pool),
            sql::query(GOOGLE)
                .bind(id.clone())
                .fetch_optional(&self.pool),
            sql::query(CONTACT_MESSAGES)
                .bind(email_only)
                .fetch_all(&self.pool),
        )
        .map_err(StoreError::from)?;
        let message = |row: &sql::Row| -> Result<SentMessage, StoreError> {
            let sensitive: bool = row.try_get::<i64, _>("sensitive").map(|s| s != 0)?;
            Ok(SentMessage {
                kind: row.try_get("kind")?,
                channel: row.try_get("recipient_kind")?,
                recipient: row.try_get("recipient")?,
                subject: row.try_get("subject")?,
                body: if sensitive {
                    None
                } else {
                    Some(row.try_get("body")?)
                },
                status: row.try_get("status")?,
                created_at: timestamp(row, "created_at")?,
                finished_at: optional_instant(row, "finished_at")?,
            })
        };
        let sign_in = |row: &sql::Row| -> Result<SignInRecord, StoreError> {
            Ok(SignInRecord {
                session_id: parsed(row, "id")?,
                signed_in_at: timestamp(row, "created_at")?,
                last_seen_at: timestamp(row, "last_seen_at")?,
                expires_at: timestamp(row, "expires_at")?,
                signed_out_at: optional_instant(row, "revoked_at")?,
            })
        };
        let link = |row: &sql::Row| -> Result<CalendarLink, StoreError> {
            Ok(CalendarLink {
                kind: row.try_get("kind")?,
                active: row.try_get::<Option<String>, _>("token_hash")?.is_some(),
                created_at: timestamp(row, "created_at")?,
                updated_at: timestamp(row, "updated_at")?,
            })
        };
        let google = google
            .map(|row| -> Result<GoogleLink, StoreError> {
                Ok(GoogleLink {
                    calendar_id: row.try_get("calendar_id")?,
                    status: row.try_get("status")?,
                    connected_at: timestamp(&row, "connected_at")?,
                })
            })
            .transpose()?;
        Ok(AccountRecords {
            waitlist: waitlist.iter().map(entry_from).collect::<Result<_, _>>()?,
            messages: messages.iter().map(message).collect::<Result<_, _>>()?,
            sign_ins: sign_ins.iter().map(sign_in).collect::<Result<_, _>>()?,
            calendar_links: links.iter().map(link).collect::<Result<_, _>>()?,
            google,
            contact_messages: contact.iter().map(message_from).collect::<Result<_, _>>()?,
        })
    }

    async fn active_holds(&self, user: UserId) -> BookingResult<Vec<HoldId>> {
        let rows = sql::query(ACTIVE_HOLDS)
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(|row| parsed(row, "id"))
            .collect::<Result<_, _>>()?)
    }

    async fn wrote_notes(&self, user: UserId) -> BookingResult<bool> {
        let notes: i64 = sql::query(AUTHORED_NOTES)
            .bind(user.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?
            .try_get("notes")
            .map_err(StoreError::from)?;
        Ok(notes > 0)
    }

    async fn end_sign_ins(&self, user: UserId) -> BookingResult<()> {
        let mut tx = self.begin_write().await?;
        sql::query(END_SIGN_INS)
            .bind(user.to_string())
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(())
    }

    async fn erase_account(
        &self,
        user: &User,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool> {
        let id = user.id.to_string();
        // A missing address or number binds NULL, which equals nothing.
        let email = user.email.as_ref().map(|e| e.as_str().to_owned());
        let phone = user.phone.as_ref().map(|p| p.as_str().to_owned());
        let email_key = email.as_ref().map(|e| format!("email:{e}"));
        let phone_key = phone.as_ref().map(|p| format!("phone:{p}"));
        // Rate counters of sign-in codes: `otp-id:<identifier key>:<client>`.
        let email_counters = email_key.as_ref().map(|k| format!("otp-id:{k}:"));
        let phone_counters = phone_key.as_ref().map(|k| format!("otp-id:{k}:"));
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            sql::query(LOCK_USER)
                .bind(id.clone())
                .fetch_optional(&mut tx)
                .await
                .map_err(StoreError::from)?;
        }
        let booked: i64 = sql::query(STILL_BOOKED)
            .bind(id.clone())
            .bind(micros(now))
            .fetch_one(&mut tx)
            .await
            .map_err(StoreError::from)?
            .try_get("booked")
            .map_err(StoreError::from)?;
        if booked > 0 {
            return Err(BookingError::InvalidState(
                "something was booked for this account meanwhile; try again".into(),
            ));
        }
        let notes: i64 = sql::query(AUTHORED_NOTES)
            .bind(id.clone())
            .fetch_one(&mut tx)
            .await
            .map_err(StoreError::from)?
            .try_get("notes")
            .map_err(StoreError::from)?;
        if notes > 0 {
            return Err(medibook_core::privacy::wrote_notes());
        }
        for (statement, params) in ERASE {
            let mut query = sql::query(AssertSqlSafe(*statement));
            for param in *params {
                let values = match param {
                    Param::Id => vec![Some(id.clone())],
                    Param::Email => vec![email.clone()],
                    Param::Phone => vec![phone.clone()],
                    Param::CodeKeys => vec![email_key.clone(), phone_key.clone()],
                    Param::CounterPrefixes => {
                        vec![email_counters.clone(), phone_counters.clone()]
                    }
                };
                for value in values {
                    query = query.bind(value);
                }
            }
            query.execute(&mut tx).await.map_err(StoreError::from)?;
        }
        let done = sql::query(DELETE_USER)
            .bind(id)
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        let erased = done.rows_affected() == 1;
        if erased {
            append_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        if self.backend() == Backend::Sqlite {
            self.empty_the_log().await;
        }
        Ok(erased)
    }
}

/// Checkpoints tried before giving the write-ahead log up to SQLite's own checkpoints.
const CHECKPOINT_ATTEMPTS: u32 = 5;

impl Database {
    /// Copies the write-ahead log into the database file and empties it, so older versions of
    /// the erased rows' pages leave the log. The erasure has committed by then: a checkpoint
    /// that readers keep from finishing is retried a few times and otherwise left to SQLite's
    /// automatic checkpoints, with a warning, never an error.
    async fn empty_the_log(&self) {
        for attempt in 1..=CHECKPOINT_ATTEMPTS {
            match sql::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_optional(&self.pool)
                .await
            {
                Ok(Some(row)) if row.try_get::<i64, _>(0).is_ok_and(|busy| busy == 0) => return,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "checkpoint after an erasure failed");
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
        }
        tracing::warn!(
            "the write-ahead log was busy after an erasure; SQLite's next checkpoints empty it"
        );
    }
}
