//! The audit trail's hash chain, and its retention.
//!
//! Entries are written by many transactions at once (on PostgreSQL, concurrently), so they are
//! not chained one by one as they are inserted — that would make every audited command wait
//! for the one before. Instead a sealer runs now and then ([`Database::seal_audit`]) and seals
//! the entries that have settled: every entry whose time lies after the previous seal's end
//! and at or before `now - settle` (a command's entry is timed shortly before its transaction
//! commits, so after the settling time nothing can still arrive in that window). A seal
//! records the window, the number of entries in it, a SHA-256 digest over them in order
//! (`at`, then `id`), and a hash over the previous seal's hash and its own fields.
//!
//! [`Database::verify_audit`] recomputes the chain: an entry changed, removed, or added into a
//! window already sealed changes that window's count or digest; a seal changed or removed
//! breaks the hashes after it. Retention ([`Database::prune_audit`]) deletes whole sealed
//! windows from the oldest on and marks their seals pruned; the seals stay, so the chain still
//! verifies, and pruned windows must be a prefix of it.

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::Database;
use crate::columns::micros;
use crate::error::StoreError;
use crate::sql::{self, Row};

/// The `prev_hash` of the first seal.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most entries one seal covers (entries sharing the last one's time come along).
const MAX_ENTRIES_PER_SEAL: i64 = 5000;
/// The `from_at` of the first seal: before any entry.
const BEGINNING: i64 = i64::MIN;

const LAST_SEAL: &str = "SELECT seq, to_at, hash FROM audit_seals ORDER BY seq DESC LIMIT 1";
const NTH_ENTRY_TIME: &str = "SELECT at FROM audit_log WHERE at > $1 AND at <= $2 \
     ORDER BY at, id LIMIT 1 OFFSET $3";
const ENTRIES_IN_WINDOW: &str = "SELECT id, at, actor_user_id, actor_role, action, subject_type, \
     subject_id, patient_id, doctor_id, client_ip, detail FROM audit_log \
     WHERE at > $1 AND at <= $2 ORDER BY at, id";
const INSERT_SEAL: &str = "INSERT INTO audit_seals (seq, from_at, to_at, entries, digest, \
     prev_hash, hash, sealed_at, pruned_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)";
const ALL_SEALS: &str = "SELECT seq, from_at, to_at, entries, digest, prev_hash, hash, \
     pruned_at FROM audit_seals ORDER BY seq";
const COUNT_IN_WINDOW: &str = "SELECT COUNT(*) FROM audit_log WHERE at > $1 AND at <= $2";
const UNSEALED: &str = "SELECT COUNT(*) FROM audit_log WHERE at > $1";
const PRUNABLE: &str = "SELECT seq, to_at FROM audit_seals \
     WHERE pruned_at IS NULL AND to_at < $1 ORDER BY seq";
/// The permit that lets this transaction (and only it: it is removed before the commit) delete
/// entries of `audit_log`.
const GRANT_PRUNING: &str = "INSERT INTO audit_pruning (permit) VALUES (1)";
const END_PRUNING: &str = "DELETE FROM audit_pruning";
const DELETE_THROUGH: &str = "DELETE FROM audit_log WHERE at <= $1";
const MARK_PRUNED: &str =
    "UPDATE audit_seals SET pruned_at = $1 WHERE seq <= $2 AND pruned_at IS NULL";

/// A seal just made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// Its place in the chain, from 1.
    pub seq: i64,
    /// Entries it covers.
    pub entries: i64,
    /// Its hash, hex.
    pub hash: String,
}

/// What verifying the chain found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditVerification {
    /// Seals in the chain.
    pub seals: i64,
    /// Of them, pruned by retention (their entries deleted on purpose).
    pub pruned_seals: i64,
    /// Entries checked against their seals.
    pub entries: i64,
    /// Entries newer than the last seal (not sealed yet, so not checked).
    pub unsealed: i64,
    /// The latest seal's hash: keep it outside the database to detect a rewritten chain.
    pub head_hash: Option<String>,
    /// The end of the last window pruned by retention, if any.
    pub pruned_through: Option<Timestamp>,
    /// Everything that does not add up, in words; empty when the trail is intact.
    pub problems: Vec<String>,
}

impl AuditVerification {
    /// Whether the trail is intact.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A stored seal, as verification reads it.
struct StoredSeal {
    seq: i64,
    from_at: i64,
    to_at: i64,
    entries: i64,
    digest: String,
    prev_hash: String,
    hash: String,
    pruned: bool,
}

impl Database {
    /// Seals the entries that settled (timed at or before `now - settle`) since the last seal,
    /// at most [`MAX_ENTRIES_PER_SEAL`] of them (and those sharing the last one's time);
    /// `None` when there is nothing to seal, or another instance sealed the same window first.
    pub async fn seal_audit(
        &self,
        now: Timestamp,
        settle: SignedDuration,
    ) -> Result<Option<Seal>, StoreError> {
        let cutoff = micros(now.saturating_sub(settle).unwrap_or(now));
        let mut tx = self.begin_write().await?;
        let (seq, from_at, prev_hash) = match sql::query(LAST_SEAL).fetch_optional(&mut tx).await? {
            Some(row) => (
                row.try_get::<i64, _>("seq")? + 1,
                row.try_get::<i64, _>("to_at")?,
                row.try_get::<String, _>("hash")?,
            ),
            None => (1, BEGINNING, GENESIS.to_owned()),
        };
        if from_at >= cutoff {
            return Ok(None);
        }
        let to_at = match sql::query(NTH_ENTRY_TIME)
            .bind(from_at)
            .bind(cutoff)
            .bind(MAX_ENTRIES_PER_SEAL - 1)
            .fetch_optional(&mut tx)
            .await?
        {
            Some(row) => row.try_get::<i64, _>(0)?,
            None => cutoff,
        };
        let rows = sql::query(ENTRIES_IN_WINDOW)
            .bind(from_at)
            .bind(to_at)
            .fetch_all(&mut tx)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let entries = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let digest = digest_of(&rows)?;
        let hash = seal_hash(&prev_hash, seq, from_at, to_at, entries, &digest);
        let inserted = sql::query(INSERT_SEAL)
            .bind(seq)
            .bind(from_at)
            .bind(to_at)
            .bind(entries)
            .bind(digest)
            .bind(prev_hash)
            .bind(hash.clone())
            .bind(micros(now))
            .execute(&mut tx)
            .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(Some(Seal { seq, entries, hash }))
            }
            // Another instance sealed this window first.
            Err(error) if crate::error::is_conflict(&error) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Recomputes the chain and every unpruned window's count and digest.
    pub async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let seals = sql::query(ALL_SEALS)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(stored_seal)
            .collect::<Result<Vec<_>, _>>()?;
        let mut report = AuditVerification {
            seals: i64::try_from(seals.len()).unwrap_or(i64::MAX),
            ..AuditVerification::default()
        };
        let mut prev_hash = GENESIS.to_owned();
        let mut prev_to = BEGINNING;
        let mut unpruned_seen = false;
        for (index, seal) in seals.iter().enumerate() {
            let expected_seq = i64::try_from(index).unwrap_or(i64::MAX) + 1;
            if seal.seq != expected_seq {
                report.problems.push(format!(
                    "seal {expected_seq} is missing (found seal {} in its place)",
                    seal.seq
                ));
            }
            if seal.prev_hash != prev_hash || seal.from_at != prev_to {
                report.problems.push(format!(
                    "seal {} does not follow the seal before it (a seal was changed or removed)",
                    seal.seq
                ));
            }
            let hash = seal_hash(
                &seal.prev_hash,
                seal.seq,
                seal.from_at,
                seal.to_at,
                seal.entries,
                &seal.digest,
            );
            if hash != seal.hash {
                report.problems.push(format!(
                    "seal {} was altered (its hash does not match)",
                    seal.seq
                ));
            }
            if seal.pruned {
                report.pruned_seals += 1;
                report.pruned_through = Timestamp::from_microsecond(seal.to_at).ok();
                // Retention deletes a window's entries as it marks it: a pruned window that
                // still holds entries was marked to hide them from this check.
                let left = sql::query(COUNT_IN_WINDOW)
                    .bind(seal.from_at)
                    .bind(seal.to_at)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get::<i64, _>(0)?;
                if left > 0 {
                    report.problems.push(format!(
                        "seal {} is marked pruned but {left} of its entries are still there (it \
                         was marked to hide them)",
                        seal.seq
                    ));
                }
                if unpruned_seen {
                    report.problems.push(format!(
                        "seal {} is marked pruned after an unpruned seal (entries were deleted \
                         out of order)",
                        seal.seq
                    ));
                }
            } else {
                unpruned_seen = true;
                let rows = sql::query(ENTRIES_IN_WINDOW)
                    .bind(seal.from_at)
                    .bind(seal.to_at)
                    .fetch_all(&self.pool)
                    .await?;
                let entries = i64::try_from(rows.len()).unwrap_or(i64::MAX);
                report.entries += entries;
                if entries != seal.entries {
                    report.problems.push(format!(
                        "seal {} covers {} entries but {entries} are there (entries were removed \
                         or added after sealing)",
                        seal.seq, seal.entries
                    ));
                } else if digest_of(&rows)? != seal.digest {
                    report
                        .problems
                        .push(format!("an entry sealed by seal {} was changed", seal.seq));
                }
            }
            prev_hash.clone_from(&seal.hash);
            prev_to = seal.to_at;
        }
        report.head_hash = seals.last().map(|seal| seal.hash.clone());
        report.unsealed = sql::query(UNSEALED)
            .bind(prev_to)
            .fetch_one(&self.pool)
            .await?
            .try_get::<i64, _>(0)?;
        Ok(report)
    }

    /// Deletes the entries of every sealed window that ended before `before`, from the oldest
    /// on, and marks those seals pruned at `now`; returns how many entries were deleted.
    /// Unsealed entries are never deleted.
    pub async fn prune_audit(&self, before: Timestamp, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let prunable = sql::query(PRUNABLE)
            .bind(micros(before))
            .fetch_all(&mut tx)
            .await?;
        let Some(last) = prunable.last() else {
            return Ok(0);
        };
        // Windows end later seal by seal, so the prunable seals are the oldest unpruned ones:
        // what is pruned stays a prefix of the chain.
        let (seq, to_at): (i64, i64) = (last.try_get("seq")?, last.try_get("to_at")?);
        sql::query(GRANT_PRUNING).execute(&mut tx).await?;
        let deleted = sql::query(DELETE_THROUGH)
            .bind(to_at)
            .execute(&mut tx)
            .await?
            .rows_affected();
        sql::query(END_PRUNING).execute(&mut tx).await?;
        sql::query(MARK_PRUNED)
            .bind(micros(now))
            .bind(seq)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

fn stored_seal(row: &Row) -> Result<StoredSeal, StoreError> {
    Ok(StoredSeal {
        seq: row.try_get("seq")?,
        from_at: row.try_get("from_at")?,
        to_at: row.try_get("to_at")?,
        entries: row.try_get("entries")?,
        digest: row.try_get("digest")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        pruned: row.try_get::<Option<i64>, _>("pruned_at")?.is_some(),
    })
}

/// SHA-256 over the entries, each field length-prefixed (`-` for NULL), in the given order.
fn digest_of(rows: &[Row]) -> Result<String, StoreError> {
    let mut hasher = Sha256::new();
    for row in rows {
        let at: i64 = row.try_get("at")?;
        hasher.update(format!("{at};").as_bytes());
        for column in [
            "id",
            "actor_user_id",
            "actor_role",
            "action",
            "subject_type",
            "subject_id",
            "patient_id",
            "doctor_id",
            "client_ip",
            "detail",
        ] {
            match row.try_get::<Option<String>, _>(column)? {
                Some(value) => {
                    hasher.update(format!("{}:", value.len()).as_bytes());
                    hasher.update(value.as_bytes());
                }
                None => hasher.update(b"-"),
            }
            hasher.update(b";");
        }
        hasher.update(b"\n");
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A seal's hash: over the previous seal's hash and this seal's fields.
fn seal_hash(
    prev_hash: &str,
    seq: i64,
    from_at: i64,
    to_at: i64,
    entries: i64,
    digest: &str,
) -> String {
    let mut hasher = Sha256::new();
    hasher
        .update(format!("{prev_hash}\n{seq}\n{from_at}\n{to_at}\n{entries}\n{digest}").as_bytes());
    hex::encode(hasher.finalize())
}
