//! Delivery channels against real local protocol servers: an SMTP listener and an HTTP server
//! speaking Twilio's Messages API, both on 127.0.0.1 with ephemeral ports. The clients under
//! test are the production ones; only the servers are ours.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod email;
mod routing;
mod sms;
mod smtp_server;
mod twilio_gateway;
