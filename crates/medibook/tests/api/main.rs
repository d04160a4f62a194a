//! The behavioural suite: the real application over real HTTP, on SQLite and on PostgreSQL.
//!
//! Every scenario is an `async fn(TestApp)`; `backend_tests!` turns it into one test per
//! backend. PostgreSQL tests take the server from `MEDIBOOK_TEST_POSTGRES_URL`; without it they
//! are skipped, except under `CI=true`, where a missing URL fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod booking;
mod calendar;
mod checkers;
mod concurrency;
mod contact_inbox;
mod fake_google;
mod feed;
mod fhir;
mod fhir_client;
mod front_desk;
mod google_calendar;
mod input;
mod json_bodies;
mod notices;
mod notifications;
mod pages;
mod pages_account;
mod pages_admin;
mod pages_booking;
mod pages_clinic;
mod pages_desk;
mod pages_doctor;
mod privacy;
mod schemathesis;
mod sessions;
mod signin;
mod signin_abuse;
mod staff;
mod waitlist;
