//! `TwilioSmsChannel` against the local Twilio-speaking gateway: the exact request, and how
//! each kind of refusal is classified.

use axum::http::{Method, StatusCode, header};
use medibook_core::delivery::{DeliveryError, MessageChannel, OutboundMessage};
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_integrations::{SmsSettings, TwilioSmsChannel};
use tokio::net::TcpListener;

use crate::twilio_gateway::spawn_gateway;

const CREATED: &str = r#"{"sid": "SM0123456789abcdef0123456789abcdef", "account_sid": "AC123", "to": "+49301234567", "from": "+15005550006", "status": "queued"}"#;

pub fn settings(base_url: &str) -> SmsSettings {
    SmsSettings {
        base_url: base_url.to_owned(),
        account_sid: "AC123".to_owned(),
        auth_token: "s3cret-token".to_owned(),
        from: "+1 500 555 0006".to_owned(),
    }
}

fn channel(base_url: &str) -> TwilioSmsChannel {
    TwilioSmsChannel::new(&settings(base_url)).unwrap()
}

pub fn sign_in_sms() -> OutboundMessage {
    OutboundMessage {
        to: Identifier::Phone(PhoneNumber::parse("+49 30 1234567").unwrap()),
        subject: "ignored by SMS".to_owned(),
        body: "Your MediBook code is 482913 & expires in 10 min. Grüße!".to_owned(),
        attachment: None,
    }
}

#[tokio::test]
async fn sms_reaches_the_gateway_as_a_twilio_messages_request() {
    let (base_url, mut requests) = spawn_gateway(StatusCode::CREATED, CREATED).await;

    channel(&base_url).deliver(&sign_in_sms()).await.unwrap();

    let request = requests.recv().await.unwrap();
    assert_eq!(request.method, Method::POST);
    assert_eq!(
        request.uri.to_string(),
        "/2010-04-01/Accounts/AC123/Messages.json"
    );
    // base64("AC123:s3cret-token")
    assert_eq!(
        request.header(header::AUTHORIZATION),
        Some("Basic QUMxMjM6czNjcmV0LXRva2Vu")
    );
    assert_eq!(
        request.header(header::CONTENT_TYPE),
        Some("application/x-www-form-urlencoded")
    );
    let field = |name: &str, value: &str| (name.to_owned(), value.to_owned());
    assert_eq!(
        request.form,
        [
            field("To", "+49301234567"),
            field("From", "+15005550006"),
            field(
                "Body",
                "Your MediBook code is 482913 & expires in 10 min. Grüße!"
            ),
        ]
    );
}

#[tokio::test]
async fn an_invalid_number_is_a_permanent_failure_naming_twilios_code() {
    let (base_url, _requests) = spawn_gateway(
        StatusCode::BAD_REQUEST,
        r#"{"code": 21211, "message": "The 'To' number +49301234567 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
    )
    .await;

    let err = channel(&base_url)
        .deliver(&sign_in_sms())
        .await
        .unwrap_err();

    let DeliveryError::Permanent(detail) = err else {
        panic!("expected a permanent failure, got {err:?}");
    };
    assert!(detail.contains("21211"), "{detail}");
    assert!(detail.contains("is not a valid phone number"), "{detail}");
    assert!(
        !detail.contains("+49301234567"),
        "full number in error: {detail}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_permanent_failure() {
    let (base_url, _requests) = spawn_gateway(
        StatusCode::UNAUTHORIZED,
        r#"{"code": 20003, "message": "Authenticate", "status": 401}"#,
    )
    .await;

    let err = channel(&base_url)
        .deliver(&sign_in_sms())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, DeliveryError::Permanent(d) if d.contains("20003")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unavailable_gateway_is_a_transient_failure() {
    let (base_url, _requests) =
        spawn_gateway(StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").await;

    let err = channel(&base_url)
        .deliver(&sign_in_sms())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, DeliveryError::Transient(d) if d.contains("503")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rate_limiting_is_a_transient_failure() {
    let (base_url, _requests) = spawn_gateway(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
    )
    .await;

    let err = channel(&base_url)
        .deliver(&sign_in_sms())
        .await
        .unwrap_err();

    let DeliveryError::Transient(detail) = err else {
        panic!("expected a transient failure, got {err:?}");
    };
    assert!(detail.contains("20429"), "{detail}");
    assert!(detail.contains("retry after 30"), "{detail}");
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_transient_failure() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };

    let err = channel(&format!("http://{closed}"))
        .deliver(&sign_in_sms())
        .await
        .unwrap_err();

    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn an_email_recipient_is_refused_without_contacting_the_gateway() {
    let (base_url, mut requests) = spawn_gateway(StatusCode::CREATED, CREATED).await;
    let message = OutboundMessage {
        to: Identifier::Email(Email::parse("ada@example.org").unwrap()),
        ..sign_in_sms()
    };

    let err = channel(&base_url).deliver(&message).await.unwrap_err();

    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert!(requests.try_recv().is_err());
}
