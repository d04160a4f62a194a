//! MediBook's domain: the clinic catalogue, weekly schedules and slot generation across time
//! zones, holds and appointments with their rules, sign-in with one-time codes, and the ports
//! (traits) through which the domain reaches storage, delivery channels and listeners.
//!
//! This crate does no I/O of its own; `medibook-store`, `medibook-web` and the binary provide
//! the adapters.

pub mod agenda_cache;
pub mod audit;
pub mod booking;
pub mod booking_audit;
pub mod booking_service;
pub mod calendar_feeds;
pub mod calendar_sync;
pub mod catalogue;
pub mod clinic;
pub mod clinic_cache;
pub mod clock;
pub mod contact;
pub mod contention;
pub mod delivery;
pub mod desk;
pub mod error;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod ical;
pub mod identity;
pub mod ids;
pub mod limits;
pub mod listing;
pub mod notifications;
pub mod outbox;
pub mod patients;
pub mod ports;
pub mod preview;
pub mod privacy;
pub mod relay;
pub mod retention;
pub mod schedule;
pub mod search;
pub mod sessions;
pub mod shared_agendas;
pub mod signin;
pub mod slots;
pub mod staff;
pub mod waitlist;
pub mod waitlist_offers;
pub mod waitlist_service;

pub use error::{BookingError, BookingResult};
