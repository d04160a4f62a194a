//! Holds, appointments and the occupancy ledger (`slot_claims`).
//!
//! Every change is one transaction from [`Database::begin_write`]. Inside it, lapsed holds of
//! the doctor are expired and their claims deleted *before* the new claim is checked and
//! written, so an expired hold stops occupying at `expires_at` whether or not the sweeper ran.
//! The decision rules (who may cancel what, when) come from `medibook-core`; this module only
//! makes them atomic.

mod ledger;
mod one_call;
mod queries;
mod reads;
mod repository;
mod rows;

pub(crate) use ledger::{count, exec, free_lapsed_claims, record_slot_event, release_active_hold};
pub(crate) use queries::{COUNT_CLAIMS_IN_DAY, HOLD_COLUMNS, INSERT_HOLD, INSERT_HOLD_CLAIM};
pub(crate) use rows::{appointment_from, hold_from};

pub(crate) type Tx = crate::WriteTx;
