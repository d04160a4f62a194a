//! The MediBook binary's library: settings, secrets, wiring of the concrete adapters, the
//! development code sender, the Google Calendar wiring, the demo clinic and the seeded benchmark
//! clinic. `main.rs` is only the command line.

pub mod admin;
pub mod app;
pub mod audit_cli;
pub mod calendar;
pub mod clinical;
pub mod clinical_cli;
pub mod delivery;
pub mod demo;
pub mod secrets;
pub mod seed;
pub mod settings;
