//! Messages about appointments, queued in the transaction that changes the appointment: the
//! message exists exactly when the change was committed (see `medibook_core::notifications`).

use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::booking::Appointment;
use medibook_core::clinic::Zone;
use medibook_core::identity::{Email, PhoneNumber};
use medibook_core::notifications::{
    AppointmentFacts, Change, NotificationSettings, appointment_messages,
};

use crate::columns::micros;
use crate::error::StoreError;
use crate::ledger::Tx;
use crate::outbox::{WITHDRAW_REMINDERS, enqueue_all_in};
use crate::sql;

const FACTS: &str = "
    SELECT d.name AS doctor_name, d.time_zone, s.name AS specialty, u.email, u.phone
    FROM appointments a
    JOIN doctors d ON d.id = a.doctor_id
    LEFT JOIN specialties s ON s.id = d.specialty_id
    JOIN users u ON u.id = a.patient_id
    WHERE a.id = $1";

/// Queues what the patient is told about `change` of `appointment` (as it is after the change):
/// withdraws the reminders of its old time, then queues the new messages and reminders.
pub(crate) async fn queue_appointment_messages(
    tx: &mut Tx,
    settings: Option<&NotificationSettings>,
    change: Change,
    appointment: &Appointment,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(settings) = settings else {
        return Ok(());
    };
    if change != Change::Booked {
        sql::query(WITHDRAW_REMINDERS)
            .bind(micros(now))
            .bind(appointment.id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let Some(row) = sql::query(FACTS)
        .bind(appointment.id.to_string())
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(());
    };
    let corrupt = |e: BookingError| StoreError::Corrupt(format!("appointment facts: {e}"));
    let zone: String = row.try_get("time_zone")?;
    let email: Option<String> = row.try_get("email")?;
    let phone: Option<String> = row.try_get("phone")?;
    let facts = AppointmentFacts {
        appointment: appointment.clone(),
        doctor_name: row.try_get("doctor_name")?,
        specialty: row.try_get("specialty")?,
        zone: Zone::parse(&zone).map_err(corrupt)?,
        email: email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(corrupt)?,
        phone: phone
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(corrupt)?,
    };
    let messages = appointment_messages(change, &facts, settings, now);
    enqueue_all_in(tx, &messages, now).await
}
