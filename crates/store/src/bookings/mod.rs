//! Holds, appointments and the occupancy ledger (`slot_claims`).
//!
//! Every change is one transaction from [`Database::begin_write`]. Inside it, lapsed holds of
//! the doctor are expired and their claims deleted *before* the new claim is checked and
//! written, so an expired hold stops occupying at `expires_at` whether or not the sweeper ran.
//! The decision rules (who may cancel what, when) come from `medibook-core`; this module only
//! makes them atomic.

mod one_call;
mod reads;
mod repository;
