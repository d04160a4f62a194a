//! Messages about appointments, end to end through the outbox and the real SMTP client against
//! a local SMTP server: a booking is confirmed by email with its calendar file, reminders go
//! out at their exact instants (a booking made in winter time for a visit after the change to
//! summer time included), a move or a cancellation withdraws the old reminders and says what
//! changed, and an SMTP outage while booking delays the confirmation but never loses it or
//! sends it twice.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use medibook::settings::Settings;
use medibook_core::outbox::{DeliveryRound, OutboxWorker, RetryPolicy};
use medibook_integrations::test_smtp::{Received, spawn_smtp_server, spawn_smtp_server_on};
use medibook_integrations::{Channels, SmtpSettings};
use reqwest::StatusCode;
use tokio::sync::mpsc::Receiver;

use crate::backend_tests_with;
use crate::harness::{TestApp, tuesday};

backend_tests_with!(
    reminders_two_days_and_two_hours_before;
    booking_is_confirmed_by_email_and_reminders_fire_at_their_instants_across_dst;
    clinic_settings;
    moving_and_cancelling_withdraw_reminders_and_say_what_changed,
    an_smtp_outage_while_booking_delays_the_confirmation_but_never_loses_it,
);

const PATIENT: &str = "ada@example.org";

fn reminders_two_days_and_two_hours_before(settings: &mut Settings) {
    clinic_settings(settings);
    settings.reminder_minutes = "2880,120".to_owned();
}

fn clinic_settings(settings: &mut Settings) {
    settings.public_url = Some("https://clinic.example".to_owned());
    settings.clinic_name = "Praxis am Park".to_owned();
    settings.clinic_address = Some("Parkstraße 3, 10115 Berlin".to_owned());
    settings.clinic_what_to_bring = Some("your insurance card".to_owned());
}

/// A worker delivering the app's outbox by SMTP to `smtp`, on the app's test clock.
fn worker(app: &TestApp, smtp: SocketAddr) -> OutboxWorker {
    let channels = Channels::from_settings(
        Some(&SmtpSettings {
            url: format!("smtp://{smtp}"),
            from: "Praxis am Park <no-reply@clinic.example>".into(),
        }),
        None,
    )
    .unwrap();
    OutboxWorker::new(
        Arc::new(app.database.clone()),
        Arc::new(channels),
        app.clock.clone(),
        RetryPolicy::default(),
    )
}

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

fn sent(round: DeliveryRound) -> (usize, usize, usize) {
    (round.sent, round.retried, round.failed)
}

/// `(kind, status, due)` of the appointment's messages, by due time then kind.
async fn messages_of(app: &TestApp, appointment: &str) -> Vec<(String, String, Timestamp)> {
    let rows = medibook_store::sql::query(
        "SELECT kind, status, next_attempt_at FROM outbox WHERE appointment_id = $1
         ORDER BY next_attempt_at, kind, recipient_kind",
    )
    .bind(appointment.to_owned())
    .fetch_all(app.database.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.get::<String, _>("kind"),
                row.get::<String, _>("status"),
                Timestamp::from_microsecond(row.get::<i64, _>("next_attempt_at")).unwrap(),
            )
        })
        .collect()
}

async fn next_email(inbox: &mut Receiver<Received>) -> Received {
    tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv())
        .await
        .expect("an email arrives")
        .expect("the SMTP server runs")
}

fn subject(email: &Received) -> String {
    email.header("Subject").unwrap_or_default()
}

async fn booking_is_confirmed_by_email_and_reminders_fire_at_their_instants_across_dst(
    app: TestApp,
) {
    let (smtp, mut inbox) = spawn_smtp_server("250 OK").await;
    let worker = worker(&app, smtp);
    let token = app.sign_in(PATIENT).await;
    // Booked on Monday 1 March 2027 (winter time, UTC+1) for Monday 29 March 09:00, the day
    // after Berlin moved to summer time (UTC+2): 07:00 UTC.
    let appointment = app.book(&token, "2027-03-29T09:00:00+02:00").await;

    assert_eq!(sent(worker.deliver_due().await.unwrap()), (1, 0, 0));
    let email = next_email(&mut inbox).await;
    assert_eq!(email.rcpt_to, vec![PATIENT.to_owned()]);
    assert_eq!(
        subject(&email),
        "Booked: Dr. Anna Smith, Monday 29 March 2027 at 09:00 (Europe/Berlin)"
    );
    let body = email.decoded_body();
    assert!(
        body.contains(&format!(
            "https://clinic.example/appointments/{appointment}"
        )),
        "{body}"
    );
    assert!(body.contains("Praxis am Park"), "{body}");
    assert!(body.contains("Parkstra"), "the address: {body}");
    assert!(body.contains("Please bring: your insurance card"), "{body}");
    assert!(
        body.contains("cancel free of charge until Sunday 28 March 2027 at 09:00"),
        "{body}"
    );
    assert!(body.contains("filename=\"appointment.ics\""), "{body}");
    assert!(body.contains("DTSTART:20270329T070000Z"), "{body}");
    assert!(
        body.contains(&format!("UID:appointment-{appointment}@medibook")),
        "{body}"
    );

    // 48 h before is Saturday 27 March 07:00 UTC, 08:00 in Berlin's winter time: exactly 48
    // real hours, not "the same wall-clock time two days earlier".
    let reminders: Vec<_> = messages_of(&app, &appointment)
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "reminder")
        .collect();
    assert_eq!(
        reminders,
        vec![
            (
                "reminder".to_owned(),
                "pending".to_owned(),
                at("2027-03-27T07:00:00Z")
            ),
            (
                "reminder".to_owned(),
                "pending".to_owned(),
                at("2027-03-29T05:00:00Z")
            ),
        ]
    );

    app.clock.set(at("2027-03-27T06:59:59Z"));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 0, 0));
    app.clock.set(at("2027-03-27T07:00:00Z"));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (1, 0, 0));
    let reminder = next_email(&mut inbox).await;
    assert_eq!(
        subject(&reminder),
        "Reminder: Dr. Anna Smith, Monday 29 March 2027 at 09:00 (Europe/Berlin)"
    );

    app.clock.set(at("2027-03-29T04:59:59Z"));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 0, 0));
    app.clock.set(at("2027-03-29T05:00:00Z"));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (1, 0, 0));
    assert!(subject(&next_email(&mut inbox).await).starts_with("Reminder: "));

    app.clock.set(at("2027-03-29T08:00:00Z"));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 0, 0));
    assert!(inbox.try_recv().is_err(), "nothing is sent twice");
}

async fn moving_and_cancelling_withdraw_reminders_and_say_what_changed(app: TestApp) {
    let (smtp, mut inbox) = spawn_smtp_server("250 OK").await;
    let worker = worker(&app, smtp);
    let token = app.sign_in(PATIENT).await;
    // Monday 1 March 08:00 UTC; the visit is Tuesday 2 March 10:00 in Berlin (09:00 UTC).
    let appointment = app.book(&token, &tuesday("10:00")).await;
    let before_move = messages_of(&app, &appointment).await;
    assert_eq!(
        before_move
            .iter()
            .map(|(kind, _, due)| (kind.as_str(), *due))
            .collect::<Vec<_>>(),
        vec![
            ("booked", at("2027-03-01T08:00:00Z")),
            ("reminder", at("2027-03-01T09:00:00Z")),
            ("reminder", at("2027-03-02T07:00:00Z")),
        ]
    );

    let hold = app.hold(&token, app.doctor, &tuesday("11:00")).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let moved = app.reschedule(&token, &appointment, &hold.id()).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let after_move = messages_of(&app, &appointment).await;
    let statuses: Vec<_> = after_move
        .iter()
        .map(|(kind, status, due)| (kind.as_str(), status.as_str(), *due))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("booked", "pending", at("2027-03-01T08:00:00Z")),
            ("rescheduled", "pending", at("2027-03-01T08:00:00Z")),
            ("reminder", "cancelled", at("2027-03-01T09:00:00Z")),
            ("reminder", "pending", at("2027-03-01T10:00:00Z")),
            ("reminder", "cancelled", at("2027-03-02T07:00:00Z")),
            ("reminder", "pending", at("2027-03-02T08:00:00Z")),
        ]
    );

    let cancelled = app.cancel(&token, &appointment).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let pending_reminders = app
        .count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE appointment_id = '{appointment}'
             AND kind = 'reminder' AND status = 'pending'"
        ))
        .await;
    assert_eq!(
        pending_reminders, 0,
        "a cancelled visit has no reminders left"
    );

    assert_eq!(sent(worker.deliver_due().await.unwrap()), (3, 0, 0));
    let mut subjects = Vec::new();
    let mut cancellation = None;
    for _ in 0..3 {
        let email = next_email(&mut inbox).await;
        if subject(&email).starts_with("Cancelled") {
            cancellation = Some(email.decoded_body());
        }
        subjects.push(subject(&email));
    }
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "Booked: Dr. Anna Smith, Tuesday 2 March 2027 at 10:00 (Europe/Berlin)",
            "Cancelled: Dr. Anna Smith, Tuesday 2 March 2027 at 11:00 (Europe/Berlin)",
            "Moved: Dr. Anna Smith, now Tuesday 2 March 2027 at 11:00 (Europe/Berlin)",
        ]
    );
    let cancellation = cancellation.expect("a cancellation email");
    assert!(cancellation.contains("STATUS:CANCELLED"), "{cancellation}");
    assert!(cancellation.contains("SEQUENCE:2"), "{cancellation}");

    // No reminder of either time goes out.
    app.clock.set(at("2027-03-02T09:30:00Z"));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 0, 0));
    assert!(inbox.try_recv().is_err());
}

async fn an_smtp_outage_while_booking_delays_the_confirmation_but_never_loses_it(app: TestApp) {
    // The SMTP relay is down: nothing listens on its port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let worker = worker(&app, SocketAddr::from(([127, 0, 0, 1], port)));
    let token = app.sign_in(PATIENT).await;
    let appointment = app.book(&token, &tuesday("14:00")).await;

    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 1, 0));
    let row = medibook_store::sql::query(
        "SELECT status, attempts, last_error FROM outbox
         WHERE appointment_id = $1 AND kind = 'booked'",
    )
    .bind(appointment.clone())
    .fetch_one(app.database.pool())
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("status"), "pending");
    assert_eq!(row.get::<i64, _>("attempts"), 1);
    assert!(
        row.get::<Option<String>, _>("last_error")
            .is_some_and(|reason| reason.contains("could not be reached")),
        "the reason is kept for the admins"
    );

    // The relay comes back; once the backoff has passed the confirmation goes out, once.
    let (_, mut inbox) = spawn_smtp_server_on(&format!("127.0.0.1:{port}"), "250 OK").await;
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 0, 0));
    app.clock.advance(SignedDuration::from_secs(6));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (1, 0, 0));
    assert_eq!(sent(worker.deliver_due().await.unwrap()), (0, 0, 0));
    let email = next_email(&mut inbox).await;
    assert!(subject(&email).starts_with("Booked: "));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(inbox.try_recv().is_err(), "delivered exactly once");
    let status: String = medibook_store::sql::query(
        "SELECT status FROM outbox WHERE appointment_id = $1 AND kind = 'booked'",
    )
    .bind(appointment)
    .fetch_one(app.database.pool())
    .await
    .unwrap()
    .get("status");
    assert_eq!(status, "sent");
}
