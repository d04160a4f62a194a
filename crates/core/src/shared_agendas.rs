//! Doctors' agendas shared by every instance through a key-value store (Redis), so that one
//! instance's listing warms the others'.
//!
//! An entry is a doctor's claims over one listing window as they stood after the doctor's slot
//! event `seq` (read in one statement with that number, see [`Agenda`]), and the key names
//! that number. Every change of a claim records a slot event in its own transaction, so an
//! entry stored under the doctor's *current* `seq` is exact: a listing asks the database for
//! that number (one indexed lookup), takes the entry stored under it, and filters lapsed holds
//! by its own clock, exactly as the database query would. An entry of an older `seq` is never
//! read again (it lapses in the store), so listings through the cache stay linearizable across
//! instances — unlike a cache that trusts events to arrive in time.
//!
//! The cache is an accelerator: a store that fails or answers slowly is a miss, never an error
//! of the listing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use jiff::Timestamp;

use crate::booking::{Agenda, AgendaClaim, SlotStatus};
use crate::events::{SlotEventLog, SlotMark};
use crate::ids::DoctorId;

/// The shared cache as a listing uses it: the store, the event log that says which entry is
/// current, and how many listings each way.
pub struct SharedAgendas {
    store: Arc<dyn SharedAgendaStore>,
    log: Arc<dyn SlotEventLog>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl SharedAgendas {
    /// Agendas kept in `store`, current as `log` says.
    pub fn new(store: Arc<dyn SharedAgendaStore>, log: Arc<dyn SlotEventLog>) -> Self {
        Self {
            store,
            log,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The doctor's latest slot event, from the database.
    pub(crate) async fn current(&self, doctor_id: DoctorId) -> crate::BookingResult<SlotMark> {
        self.log.latest_slot_mark(doctor_id).await
    }

    /// The doctor's agenda over `window` after event `mark`, if an instance stored it.
    pub(crate) async fn agenda(
        &self,
        doctor_id: DoctorId,
        window: (Timestamp, Timestamp),
        mark: SlotMark,
    ) -> Option<Agenda> {
        let found = self
            .store
            .get(&agenda_key(doctor_id, window, mark))
            .await
            .and_then(|bytes| decode_agenda(&bytes))
            .filter(|agenda| agenda.seq == mark.seq && agenda.latest_at == mark.recorded_at);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores `agenda`, read over `window`, under its own `seq`.
    pub(crate) async fn keep(
        &self,
        doctor_id: DoctorId,
        window: (Timestamp, Timestamp),
        agenda: &Agenda,
    ) {
        let mark = SlotMark {
            seq: agenda.seq,
            recorded_at: agenda.latest_at,
        };
        self.store
            .put(&agenda_key(doctor_id, window, mark), encode_agenda(agenda))
            .await;
    }

    /// Listings answered from the shared cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Listings that read the database and stored what they read.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// The key-value store holding shared agendas.
#[async_trait]
pub trait SharedAgendaStore: Send + Sync + 'static {
    /// The bytes stored under `key`, if any; a failure is a miss.
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key` for the store's lifetime of an entry; a failure is ignored.
    async fn put(&self, key: &str, value: Vec<u8>);
}

/// The key of a doctor's agenda over `window` after slot event `mark` (its number and the
/// microsecond it was recorded, 0 before the first event).
pub fn agenda_key(
    doctor_id: DoctorId,
    (from, to): (Timestamp, Timestamp),
    mark: SlotMark,
) -> String {
    format!(
        "agenda:{doctor_id}:{}:{}:{}:{}",
        from.as_microsecond(),
        to.as_microsecond(),
        mark.seq,
        mark.recorded_at.map_or(0, Timestamp::as_microsecond)
    )
}

/// Version byte of [`encode_agenda`]'s format.
const FORMAT: u8 = 2;
/// Bytes of one claim: start, end, expiry (0: none), all microseconds, and a status byte.
const CLAIM_BYTES: usize = 8 + 8 + 8 + 1;

/// An agenda as stored: a version byte, the `seq` and the time of the latest event (0: none),
/// then each claim in fixed width.
pub fn encode_agenda(agenda: &Agenda) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + 16 + agenda.claims.len() * CLAIM_BYTES);
    bytes.push(FORMAT);
    bytes.extend_from_slice(&agenda.seq.to_le_bytes());
    let latest_at = agenda.latest_at.map_or(0, Timestamp::as_microsecond);
    bytes.extend_from_slice(&latest_at.to_le_bytes());
    for claim in &agenda.claims {
        bytes.extend_from_slice(&claim.start.as_microsecond().to_le_bytes());
        bytes.extend_from_slice(&claim.end.as_microsecond().to_le_bytes());
        let expires = claim.expires_at.map_or(0, Timestamp::as_microsecond);
        bytes.extend_from_slice(&expires.to_le_bytes());
        bytes.push(match claim.status {
            SlotStatus::Booked => b'b',
            _ => b'h',
        });
    }
    bytes
}

/// The agenda in `bytes`, or `None` when they are not one (another format, a torn value).
pub fn decode_agenda(bytes: &[u8]) -> Option<Agenda> {
    let (&format, rest) = bytes.split_first()?;
    if format != FORMAT {
        return None;
    }
    let (seq, rest) = rest.split_first_chunk::<8>()?;
    let (latest_at, claims) = rest.split_first_chunk::<8>()?;
    if claims.len() % CLAIM_BYTES != 0 {
        return None;
    }
    let latest_at = match i64::from_le_bytes(*latest_at) {
        0 => None,
        micros => Some(Timestamp::from_microsecond(micros).ok()?),
    };
    let claims = claims
        .chunks_exact(CLAIM_BYTES)
        .map(decode_claim)
        .collect::<Option<Vec<_>>>()?;
    Some(Agenda {
        claims,
        seq: i64::from_le_bytes(*seq),
        latest_at,
    })
}

fn decode_claim(bytes: &[u8]) -> Option<AgendaClaim> {
    let micros = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_le_bytes)
    };
    let instant = |at: usize| micros(at).and_then(|m| Timestamp::from_microsecond(m).ok());
    let expires_at = match micros(16)? {
        0 => None,
        _ => Some(instant(16)?),
    };
    Some(AgendaClaim {
        start: instant(0)?,
        end: instant(8)?,
        expires_at,
        status: match bytes.get(24)? {
            b'b' => SlotStatus::Booked,
            b'h' => SlotStatus::Held,
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn an_agenda_comes_back_as_it_was_stored() {
        let agenda = Agenda {
            claims: vec![
                AgendaClaim {
                    start: at(1_800_000_000),
                    end: at(1_800_001_800),
                    status: SlotStatus::Booked,
                    expires_at: None,
                },
                AgendaClaim {
                    start: at(1_800_003_600),
                    end: at(1_800_005_400),
                    status: SlotStatus::Held,
                    expires_at: Some(at(1_799_990_300)),
                },
            ],
            seq: 42,
            latest_at: Some(at(1_799_990_000)),
        };
        assert_eq!(decode_agenda(&encode_agenda(&agenda)), Some(agenda));
        let empty = Agenda::default();
        assert_eq!(decode_agenda(&encode_agenda(&empty)), Some(empty));
    }

    #[test]
    fn bytes_that_are_not_an_agenda_are_a_miss() {
        let agenda = Agenda {
            claims: vec![AgendaClaim {
                start: at(1_800_000_000),
                end: at(1_800_001_800),
                status: SlotStatus::Booked,
                expires_at: None,
            }],
            seq: 7,
            latest_at: None,
        };
        let bytes = encode_agenda(&agenda);
        assert_eq!(decode_agenda(&bytes[..bytes.len() - 1]), None, "torn");
        assert_eq!(decode_agenda(&[]), None, "empty");
        let mut other_format = bytes.clone();
        other_format[0] = 9;
        assert_eq!(decode_agenda(&other_format), None, "another format");
        let mut bad_status = bytes.clone();
        let last = bad_status.len() - 1;
        bad_status[last] = b'x';
        assert_eq!(decode_agenda(&bad_status), None, "unknown status");
        let mut bad_expiry = bytes;
        let expiry = 1 + 16 + 16;
        bad_expiry[expiry..expiry + 8].copy_from_slice(&i64::MAX.to_le_bytes());
        assert_eq!(
            decode_agenda(&bad_expiry),
            None,
            "an expiry out of range is no expiry"
        );
    }

    #[test]
    fn keys_name_the_doctor_the_window_and_the_event() {
        let doctor: DoctorId = "0190a0b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b".parse().unwrap();
        let mark = |seq, recorded_at| SlotMark { seq, recorded_at };
        let key = agenda_key(doctor, (at(10), at(20)), mark(3, Some(at(5))));
        assert_eq!(key, format!("agenda:{doctor}:10000000:20000000:3:5000000"));
        assert_ne!(
            key,
            agenda_key(doctor, (at(10), at(20)), mark(4, Some(at(5))))
        );
        assert_ne!(
            key,
            agenda_key(doctor, (at(10), at(20)), mark(3, Some(at(6)))),
            "the same number given again after a restore is another event"
        );
        assert_eq!(
            agenda_key(doctor, (at(10), at(20)), SlotMark::default()),
            format!("agenda:{doctor}:10000000:20000000:0:0")
        );
    }
}
