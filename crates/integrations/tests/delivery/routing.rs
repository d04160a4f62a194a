//! `Channels` sends each recipient to the channel for its kind, and says so when there is none.

use axum::http::StatusCode;
use medibook_core::delivery::{DeliveryError, MessageChannel};
use medibook_integrations::Channels;

use crate::email::{sign_in_email, smtp_settings};
use crate::sms::{settings as sms_settings, sign_in_sms};
use crate::smtp_server::spawn_smtp_server;
use crate::twilio_gateway::spawn_gateway;

const CREATED: &str = r#"{"sid": "SM1", "status": "queued"}"#;

#[tokio::test]
async fn each_recipient_kind_goes_to_its_own_channel() {
    let (smtp, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;
    let (gateway, mut requests) = spawn_gateway(StatusCode::CREATED, CREATED).await;
    let channels =
        Channels::from_settings(Some(&smtp_settings(smtp)), Some(&sms_settings(&gateway))).unwrap();

    channels.deliver(&sign_in_email()).await.unwrap();
    channels.deliver(&sign_in_sms()).await.unwrap();

    assert_eq!(inbox.recv().await.unwrap().rcpt_to, ["ada@example.org"]);
    assert!(inbox.try_recv().is_err());
    let request = requests.recv().await.unwrap();
    assert!(
        request
            .form
            .contains(&("To".to_owned(), "+49301234567".to_owned()))
    );
    assert!(requests.try_recv().is_err());
}

#[tokio::test]
async fn an_email_recipient_with_only_sms_configured_is_a_permanent_failure() {
    let (gateway, mut requests) = spawn_gateway(StatusCode::CREATED, CREATED).await;
    let channels = Channels::from_settings(None, Some(&sms_settings(&gateway))).unwrap();

    let err = channels.deliver(&sign_in_email()).await.unwrap_err();

    assert_eq!(
        err,
        DeliveryError::Permanent("no email channel configured".to_owned())
    );
    assert!(requests.try_recv().is_err());
}

#[tokio::test]
async fn a_phone_recipient_with_only_email_configured_is_a_permanent_failure() {
    let (smtp, mut inbox) = spawn_smtp_server("250 2.1.5 OK").await;
    let channels = Channels::from_settings(Some(&smtp_settings(smtp)), None).unwrap();

    let err = channels.deliver(&sign_in_sms()).await.unwrap_err();

    assert_eq!(
        err,
        DeliveryError::Permanent("no SMS channel configured".to_owned())
    );
    assert!(inbox.try_recv().is_err());
}

#[test]
fn channels_are_empty_only_without_email_and_sms() {
    assert!(Channels::default().is_empty());
    assert!(Channels::from_settings(None, None).unwrap().is_empty());
    let sms_only = Channels::from_settings(None, Some(&sms_settings("https://api.twilio.com")));
    assert!(!sms_only.unwrap().is_empty());
}

#[test]
fn a_bad_setting_stops_construction() {
    let mut bad = sms_settings("https://api.twilio.com");
    bad.auth_token.clear();
    assert!(Channels::from_settings(None, Some(&bad)).is_err());
}
