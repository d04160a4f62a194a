//! Holding, confirming, cancelling and rescheduling, as a patient does it.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::harness::{TestApp, tuesday};

backend_tests!(hold_confirm_cancel_returns_the_slot_to_the_doctor);

async fn hold_confirm_cancel_returns_the_slot_to_the_doctor(app: TestApp) {
    let token = app.sign_in("ada@example.org").await;
    let start = tuesday("09:30");
    assert_eq!(app.slot_status(app.doctor, &start).await.as_deref(), Some("available"));

    let hold = app.hold(&token, app.doctor, &start).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    assert_eq!(app.slot_status(app.doctor, &start).await.as_deref(), Some("held"));

    let appointment = app.confirm(&token, &hold.id()).await;
    assert_eq!(appointment.status, StatusCode::CREATED, "{}", appointment.body);
    assert_eq!(appointment.body["status"], "scheduled");
    assert_eq!(appointment.body["doctor_name"], "Dr. Anna Smith");
    assert_eq!(app.slot_status(app.doctor, &start).await.as_deref(), Some("booked"));

    let cancelled = app.cancel(&token, &appointment.id()).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(app.slot_status(app.doctor, &start).await.as_deref(), Some("available"));
}
