//! `SmtpChannel` against the local SMTP server: what arrives, and how refusals are classified.

use std::net::SocketAddr;

use medibook_core::delivery::{Attachment, DeliveryError, MessageChannel, OutboundMessage};
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_integrations::{SmtpChannel, SmtpSettings};
use tokio::net::TcpListener;

use crate::smtp_server::spawn_smtp_server;

pub fn smtp_settings(addr: SocketAddr) -> SmtpSettings {
    SmtpSettings {
        url: format!("smtp://{addr}"),
        from: "MediBook Clinic <noreply@clinic.example>".to_owned(),
    }
}

fn channel(addr: SocketAddr) -> SmtpChannel {
    SmtpChannel::new(&smtp_settings(addr)).unwrap()
}

pub fn sign_in_email() -> OutboundMessage {
    OutboundMessage {
        to: Identifier::Email(Email::parse("Ada@Example.org").unwrap()),
        subject: "Your MediBook sign-in code".to_owned(),
        body: "Your sign-in code is 482913.\nIt expires in 10 minutes.\n.\nMediBook".to_owned(),
        attachment: None,
    }
}

#[tokio::test]
async fn email_reaches_the_server_with_envelope_headers_and_body() {
    let (addr, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;

    channel(addr).deliver(&sign_in_email()).await.unwrap();

    let received = inbox.recv().await.unwrap();
    assert_eq!(received.mail_from, "noreply@clinic.example");
    assert_eq!(received.rcpt_to, ["ada@example.org"]);
    assert_eq!(received.header("To").unwrap(), "ada@example.org");
    assert_eq!(
        received.header("From").unwrap(),
        r#""MediBook Clinic" <noreply@clinic.example>"#
    );
    assert_eq!(
        received.header("Subject").unwrap(),
        "Your MediBook sign-in code"
    );
    assert!(
        received
            .header("Content-Type")
            .unwrap()
            .starts_with("text/plain"),
        "{received:?}"
    );
    assert!(received.header("Date").is_some());
    assert!(received.header("Message-ID").is_some());
    assert_eq!(
        received.body().trim_end(),
        "Your sign-in code is 482913.\nIt expires in 10 minutes.\n.\nMediBook"
    );
}

#[tokio::test]
async fn each_email_is_a_separate_transaction() {
    let (addr, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;
    let channel = channel(addr);

    for n in 0..3 {
        let mut message = sign_in_email();
        message.subject = format!("Reminder {n}");
        channel.deliver(&message).await.unwrap();
    }

    for n in 0..3 {
        let received = inbox.recv().await.unwrap();
        assert_eq!(received.header("Subject").unwrap(), format!("Reminder {n}"));
    }
}

#[tokio::test]
async fn a_5xx_refusal_of_the_recipient_is_permanent() {
    let (addr, _inbox) = spawn_smtp_server("550 5.1.1 mailbox unavailable").await;

    let err = channel(addr).deliver(&sign_in_email()).await.unwrap_err();

    let DeliveryError::Permanent(detail) = err else {
        panic!("expected a permanent failure, got {err:?}");
    };
    assert!(detail.contains("550"), "{detail}");
}

#[tokio::test]
async fn a_4xx_deferral_of_the_recipient_is_transient() {
    let (addr, _inbox) = spawn_smtp_server("451 4.3.0 try again later").await;

    let err = channel(addr).deliver(&sign_in_email()).await.unwrap_err();

    let DeliveryError::Transient(detail) = err else {
        panic!("expected a transient failure, got {err:?}");
    };
    assert!(detail.contains("451"), "{detail}");
}

#[tokio::test]
async fn a_relay_that_refuses_connections_is_transient() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };

    let err = channel(closed).deliver(&sign_in_email()).await.unwrap_err();

    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn a_phone_recipient_is_refused_without_contacting_the_relay() {
    let (addr, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;
    let message = OutboundMessage {
        to: Identifier::Phone(PhoneNumber::parse("+49301234567").unwrap()),
        ..sign_in_email()
    };

    let err = channel(addr).deliver(&message).await.unwrap_err();

    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert!(inbox.try_recv().is_err());
}

#[tokio::test]
async fn a_calendar_file_travels_as_an_attachment_beside_the_text() {
    let (addr, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;
    let calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    let message = OutboundMessage {
        body: "Your appointment is booked.".to_owned(),
        attachment: Some(Attachment {
            filename: "appointment.ics".to_owned(),
            content_type: "text/calendar; charset=utf-8".to_owned(),
            content: calendar.to_owned(),
        }),
        ..sign_in_email()
    };

    channel(addr).deliver(&message).await.unwrap();

    let received = inbox.recv().await.unwrap();
    let content_type = received.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/mixed"),
        "{content_type}"
    );
    let body = received.body();
    assert!(body.contains("Your appointment is booked."), "{body}");
    assert!(
        body.contains("Content-Disposition: attachment; filename=\"appointment.ics\""),
        "{body}"
    );
    assert!(
        body.contains("Content-Type: text/calendar; charset=utf-8"),
        "{body}"
    );
    assert!(body.contains("BEGIN:VCALENDAR"), "{body}");
}

#[tokio::test]
async fn non_ascii_subject_and_body_are_encoded_for_any_relay() {
    let (addr, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;
    let message = OutboundMessage {
        subject: "Ihr Anmeldecode für MediBook".to_owned(),
        body: "Grüße! Ihr Code lautet 482913.".to_owned(),
        ..sign_in_email()
    };

    channel(addr).deliver(&message).await.unwrap();

    let received = inbox.recv().await.unwrap();
    assert!(received.data.is_ascii(), "{received:?}");
    let subject = received.header("Subject").unwrap();
    assert!(
        subject.to_ascii_lowercase().contains("=?utf-8?"),
        "{subject}"
    );
    let encoding = received.header("Content-Transfer-Encoding").unwrap();
    assert!(
        ["quoted-printable", "base64"].contains(&encoding.as_str()),
        "{encoding}"
    );
}
