//! The MediBook binary's library: configuration, wiring, demo data.

pub mod demo;
