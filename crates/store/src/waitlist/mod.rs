//! The waitlist tables and the offering of free slots to waiters.
//!
//! [`offer_free_slots`] runs inside the transaction of every change that frees a slot (under
//! the doctor's lock), so a freed slot goes to the first waiter before anyone else can hold it.
//! Each offer is made inside a savepoint: should an offer fail, the change that freed the slot
//! still commits and the slot simply stays free.

mod offering;
pub(crate) mod queries;
mod repository;
pub(crate) mod rows;

pub(crate) use offering::{Offering, offer_free_slots};
