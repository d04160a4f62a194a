//! Users and one-time sign-in codes.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::BookingResult;
use medibook_core::identity::{Email, Identifier, PhoneNumber, Role, User};
use medibook_core::ids::UserId;
use medibook_core::ports::{CodeCheck, IdentityRepository};
use sqlx::AssertSqlSafe;
use subtle::ConstantTimeEq;

use crate::Database;
use crate::WriteStatement;
use crate::columns::{micros, named, optional_parsed, parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

const USER_COLUMNS: &str = "id, email, phone, name, role, doctor_id, created_at";

const UPSERT_CODE: &str = "
    INSERT INTO one_time_codes (identifier_key, code_hash, expires_at, attempts, used_at, created_at)
    VALUES ($1, $2, $3, 0, NULL, $4)
    ON CONFLICT (identifier_key) DO UPDATE
    SET code_hash = excluded.code_hash, expires_at = excluded.expires_at,
        attempts = 0, used_at = NULL, created_at = excluded.created_at";
/// Claims one attempt on the identifier's live code before it is compared: the row is
/// updated (and on PostgreSQL locked) first, so concurrent guesses queue and no more than
/// `max_attempts` of them ever see the code, however many arrive at once.
const CLAIM_ATTEMPT: &str = "
    UPDATE one_time_codes SET attempts = attempts + 1
    WHERE identifier_key = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3
    RETURNING code_hash";
const USE_CODE: &str = "
    UPDATE one_time_codes SET used_at = $1
    WHERE identifier_key = $2 AND used_at IS NULL AND code_hash = $3";
const INSERT_PATIENT: &str = "
    INSERT INTO users (id, email, phone, name, role, doctor_id, created_at)
    VALUES ($1, $2, $3, NULL, 'patient', NULL, $4)
    ON CONFLICT DO NOTHING";

fn user_from(row: &sql::Row) -> Result<User, StoreError> {
    let email: Option<String> = row.try_get("email")?;
    let phone: Option<String> = row.try_get("phone")?;
    Ok(User {
        id: parsed(row, "id")?,
        email: email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("email: {e}")))?,
        phone: phone
            .map(|p| PhoneNumber::parse(&p))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("phone: {e}")))?,
        name: row.try_get("name")?,
        role: named(row, "role", Role::parse)?,
        doctor_id: optional_parsed(row, "doctor_id")?,
        created_at: timestamp(row, "created_at")?,
    })
}

impl Database {
    async fn user_by_identifier(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<User>, StoreError> {
        let (column, value) = match identifier {
            Identifier::Email(email) => ("email", email.as_str()),
            Identifier::Phone(phone) => ("phone", phone.as_str()),
        };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(value.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }
}

#[async_trait]
impl IdentityRepository for Database {
    async fn save_code(
        &self,
        identifier_key: &str,
        code_hash: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> BookingResult<()> {
        sql::query(UPSERT_CODE)
            .bind(identifier_key.to_owned())
            .bind(code_hash.to_owned())
            .bind(micros(expires_at))
            .bind(micros(now))
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn check_code(
        &self,
        identifier_key: &str,
        code_hash: &str,
        max_attempts: u16,
        now: Timestamp,
    ) -> BookingResult<CodeCheck> {
        let mut tx = self.begin_write().await?;
        let stored: Option<String> = sql::query(CLAIM_ATTEMPT)
            .bind(identifier_key.to_owned())
            .bind(micros(now))
            .bind(i64::from(max_attempts))
            .fetch_optional(&mut tx)
            .await
            .and_then(|row| row.map(|r| r.try_get("code_hash")).transpose())
            .map_err(StoreError::from)?;
        let Some(stored) = stored else {
            // No live code, or its attempts are used up: nothing to count.
            return Ok(CodeCheck::Rejected);
        };
        let matches: bool = stored.as_bytes().ct_eq(code_hash.as_bytes()).into();
        let used = if matches {
            sql::query(USE_CODE)
                .bind(micros(now))
                .bind(identifier_key.to_owned())
                .bind(stored)
                .execute(&mut tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected()
                == 1
        } else {
            false
        };
        // The attempt is kept whether the code matched or not.
        tx.commit().await?;
        Ok(if used {
            CodeCheck::Accepted
        } else {
            CodeCheck::Rejected
        })
    }

    async fn user_for(&self, identifier: &Identifier, now: Timestamp) -> BookingResult<User> {
        if let Some(user) = self.user_by_identifier(identifier).await? {
            return Ok(user);
        }
        let (email, phone) = match identifier {
            Identifier::Email(email) => (Some(email.as_str().to_owned()), None),
            Identifier::Phone(phone) => (None, Some(phone.as_str().to_owned())),
        };
        // Two first sign-ins racing: one insert wins, the other does nothing, both read it back.
        sql::query(INSERT_PATIENT)
            .bind(UserId::generate().to_string())
            .bind(email)
            .bind(phone)
            .bind(micros(now))
            .write_on(self)
            .await?;
        self.user_by_identifier(identifier)
            .await?
            .ok_or_else(|| StoreError::Corrupt("user vanished after insert".into()).into())
    }

    async fn rename(&self, id: UserId, name: &str) -> BookingResult<()> {
        sql::query("UPDATE users SET name = $1 WHERE id = $2")
            .bind(name.to_owned())
            .bind(id.to_string())
            .write_on(self)
            .await?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> BookingResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(user_from).transpose()?)
    }
}
