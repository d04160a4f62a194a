//! What patients are told about their appointments, and when: a confirmation when they book, a
//! message when it moves or is cancelled, and reminders before it (by default 24 h and 2 h).
//!
//! Pure: [`appointment_messages`] turns one change of one appointment into outbox messages. The
//! store calls it inside the transaction that makes the change, so a message exists exactly
//! when its change was committed. Every message has an idempotency key naming its appointment,
//! change and channel, so it is queued once however often the step is repeated.
//!
//! Reminders are outbox messages due at `start − offset` (an exact duration, so a reminder
//! "24 h before" is 24 real hours before even across a DST change). They are withdrawn when
//! the appointment moves (new ones are queued for the new time) or is cancelled, and a reminder
//! that could not be delivered before the visit started is given up, not sent late.

use jiff::{SignedDuration, Timestamp};

use crate::booking::{Appointment, AppointmentStatus};
use crate::clinic::Zone;
use crate::delivery::{Attachment, OutboundMessage};
use crate::ical::{self, CalendarEvent};
use crate::identity::{Email, Identifier, PhoneNumber};
use crate::outbox::{MessageKind, NewMessage};
use crate::slots::Slot;

/// How messages are written and when reminders go out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationSettings {
    /// Where people reach the site, without a trailing slash (links in messages).
    pub public_url: String,
    /// The clinic's name.
    pub clinic_name: String,
    /// The clinic's address, said in confirmations and reminders when set.
    pub clinic_address: Option<String>,
    /// What to bring to a visit, said in confirmations when set.
    pub what_to_bring: Option<String>,
    /// Reminders, as durations before the start.
    pub reminders: Vec<SignedDuration>,
    /// A cancellation closer to the start than this is late (said in the confirmation).
    pub late_cancellation: SignedDuration,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".to_owned(),
            clinic_name: "MediBook clinic".to_owned(),
            clinic_address: None,
            what_to_bring: None,
            reminders: vec![
                SignedDuration::from_hours(24),
                SignedDuration::from_hours(2),
            ],
            late_cancellation: SignedDuration::from_hours(24),
        }
    }
}

/// What happened to the appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// It was booked.
    Booked,
    /// It moved from this time.
    Rescheduled {
        /// The time it had before.
        from: Slot,
    },
    /// It was cancelled by the patient.
    Cancelled,
}

/// What a message about an appointment needs to say, read in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppointmentFacts {
    /// The appointment as it is after the change.
    pub appointment: Appointment,
    /// The doctor's name.
    pub doctor_name: String,
    /// The doctor's specialty.
    pub specialty: Option<String>,
    /// The doctor's time zone (times are written in it).
    pub zone: Zone,
    /// The patient's email, if any.
    pub email: Option<Email>,
    /// The patient's phone, if any.
    pub phone: Option<PhoneNumber>,
}

/// The messages for one change of one appointment at `now`: to every channel the patient has,
/// the change itself and, for a booking or a move, the reminders still in the future.
pub fn appointment_messages(
    change: Change,
    facts: &AppointmentFacts,
    settings: &NotificationSettings,
    now: Timestamp,
) -> Vec<NewMessage> {
    let appointment = &facts.appointment;
    let mut messages = Vec::new();
    let (kind, key) = match change {
        Change::Booked => (MessageKind::Booked, "booked".to_owned()),
        Change::Rescheduled { .. } => (
            MessageKind::Rescheduled,
            format!("rescheduled:{}", appointment.sequence),
        ),
        Change::Cancelled => (MessageKind::Cancelled, "cancelled".to_owned()),
    };
    for to in recipients(facts) {
        let channel = channel_name(&to);
        messages.push(NewMessage {
            idempotency_key: format!("appointment:{}:{key}:{channel}", appointment.id),
            message: change_message(change, facts, settings, &to),
            expires_at: None,
            sensitive: false,
            kind,
            appointment_id: Some(appointment.id),
            due_at: None,
        });
    }
    if appointment.status == AppointmentStatus::Scheduled && change != Change::Cancelled {
        messages.extend(reminders(facts, settings, now));
    }
    messages
}

/// The reminders of a scheduled appointment that are still due after `now`.
pub fn reminders(
    facts: &AppointmentFacts,
    settings: &NotificationSettings,
    now: Timestamp,
) -> Vec<NewMessage> {
    let appointment = &facts.appointment;
    let mut messages = Vec::new();
    for &before in &settings.reminders {
        let Ok(due) = appointment.start.saturating_sub(before) else {
            continue;
        };
        if due <= now {
            continue;
        }
        for to in recipients(facts) {
            messages.push(NewMessage {
                idempotency_key: format!(
                    "appointment:{}:reminder:{}:{}m:{}",
                    appointment.id,
                    appointment.sequence,
                    before.as_mins(),
                    channel_name(&to)
                ),
                message: reminder_message(facts, settings, &to),
                // Never late: a reminder not delivered before the visit starts is given up.
                expires_at: Some(appointment.start),
                sensitive: false,
                kind: MessageKind::Reminder,
                appointment_id: Some(appointment.id),
                due_at: Some(due),
            });
        }
    }
    messages
}

fn recipients(facts: &AppointmentFacts) -> Vec<Identifier> {
    let mut to = Vec::new();
    if let Some(email) = &facts.email {
        to.push(Identifier::Email(email.clone()));
    }
    if let Some(phone) = &facts.phone {
        to.push(Identifier::Phone(phone.clone()));
    }
    to
}

fn channel_name(to: &Identifier) -> &'static str {
    match to {
        Identifier::Email(_) => "email",
        Identifier::Phone(_) => "sms",
    }
}

/// "Monday 30 March 2026 at 09:00 (Europe/Berlin)".
pub fn local_time(at: Timestamp, zone: &Zone) -> String {
    let local = zone.tz().to_datetime(at);
    format!(
        "{} at {} ({})",
        local.date().strftime("%A %-d %B %Y"),
        local.time().strftime("%H:%M"),
        zone.name()
    )
}

fn manage_url(facts: &AppointmentFacts, settings: &NotificationSettings) -> String {
    format!(
        "{}/appointments/{}",
        settings.public_url, facts.appointment.id
    )
}

fn ics_attachment(facts: &AppointmentFacts, settings: &NotificationSettings) -> Attachment {
    let event = CalendarEvent::for_patient(
        facts.appointment.clone(),
        &facts.doctor_name,
        facts.specialty.as_deref(),
        &settings.clinic_name,
        &settings.public_url,
    );
    Attachment {
        filename: "appointment.ics".to_owned(),
        content_type: ical::CONTENT_TYPE.to_owned(),
        content: ical::calendar(&settings.clinic_name, &[event]),
    }
}

/// What every message about an appointment names: its time in the doctor's zone, the doctor,
/// the clinic and the link to manage it.
struct Wording<'a> {
    when: String,
    doctor: &'a str,
    clinic: &'a str,
    url: String,
}

impl<'a> Wording<'a> {
    fn of(facts: &'a AppointmentFacts, settings: &'a NotificationSettings) -> Self {
        Self {
            when: local_time(facts.appointment.start, &facts.zone),
            doctor: &facts.doctor_name,
            clinic: &settings.clinic_name,
            url: manage_url(facts, settings),
        }
    }

    /// The message for `to`: the email text with the calendar file, or the SMS text.
    fn message(
        subject: String,
        email_body: String,
        sms: String,
        to: &Identifier,
        facts: &AppointmentFacts,
        settings: &NotificationSettings,
    ) -> OutboundMessage {
        match to {
            Identifier::Email(_) => OutboundMessage {
                to: to.clone(),
                subject,
                body: email_body,
                attachment: Some(ics_attachment(facts, settings)),
            },
            Identifier::Phone(_) => OutboundMessage {
                to: to.clone(),
                subject,
                body: sms,
                attachment: None,
            },
        }
    }
}

fn change_message(
    change: Change,
    facts: &AppointmentFacts,
    settings: &NotificationSettings,
    to: &Identifier,
) -> OutboundMessage {
    let appointment = &facts.appointment;
    let Wording {
        when,
        doctor,
        clinic,
        url,
    } = Wording::of(facts, settings);
    let free_until = local_time(
        appointment.free_cancellation_until(settings.late_cancellation),
        &facts.zone,
    );
    let (subject, email_body, sms) = match change {
        Change::Booked => (
            format!("Booked: {doctor}, {when}"),
            format!(
                "Your appointment is booked.\n\n\
                 {doctor}, {clinic}\n{address}{when}\nReason: {reason}\n\n{bring}\
                 See, move or cancel it: {url}\n\
                 You can cancel free of charge until {free_until}; a later cancellation counts \
                 as late.\n\nThe attached calendar file adds it to your calendar.",
                reason = appointment.reason.as_str(),
                address = settings
                    .clinic_address
                    .as_deref()
                    .map(|a| format!("{a}\n"))
                    .unwrap_or_default(),
                bring = settings
                    .what_to_bring
                    .as_deref()
                    .map(|b| format!("Please bring: {b}\n\n"))
                    .unwrap_or_default(),
            ),
            format!("{clinic}: booked with {doctor}, {when}. Manage: {url}"),
        ),
        Change::Rescheduled { from } => {
            let before = local_time(from.start, &facts.zone);
            (
                format!("Moved: {doctor}, now {when}"),
                format!(
                    "Your appointment has moved.\n\n\
                     {doctor}, {clinic}\nNow: {when}\nBefore: {before}\n\n\
                     See, move or cancel it: {url}\n\n\
                     The attached calendar file updates the entry in your calendar."
                ),
                format!("{clinic}: your visit with {doctor} moved to {when}. Manage: {url}"),
            )
        }
        Change::Cancelled => {
            let late = if appointment.late_cancellation {
                "\nIt was cancelled inside the late-cancellation window.\n"
            } else {
                ""
            };
            (
                format!("Cancelled: {doctor}, {when}"),
                format!(
                    "Your appointment is cancelled.\n\n\
                     {doctor}, {clinic}\n{when}\n{late}\n\
                     Book another time: {public}/doctors/{doctor_id}\n\n\
                     The attached calendar file removes it from your calendar.",
                    public = settings.public_url,
                    doctor_id = appointment.doctor_id,
                ),
                format!("{clinic}: your visit with {doctor} on {when} is cancelled."),
            )
        }
    };
    Wording::message(subject, email_body, sms, to, facts, settings)
}

fn reminder_message(
    facts: &AppointmentFacts,
    settings: &NotificationSettings,
    to: &Identifier,
) -> OutboundMessage {
    let Wording {
        when,
        doctor,
        clinic,
        url,
    } = Wording::of(facts, settings);
    Wording::message(
        format!("Reminder: {doctor}, {when}"),
        format!(
            "A reminder of your appointment.\n\n{doctor}, {clinic}\n{when}\n\
             Reason: {reason}\n\nSee, move or cancel it: {url}",
            reason = facts.appointment.reason.as_str(),
        ),
        format!("{clinic} reminder: {doctor}, {when}. Manage: {url}"),
        to,
        facts,
        settings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::Reason;
    use crate::ids::{AppointmentId, DoctorId, UserId};

    fn facts(start: &str) -> AppointmentFacts {
        let start: Timestamp = start.parse().unwrap();
        AppointmentFacts {
            appointment: Appointment {
                id: AppointmentId::generate(),
                doctor_id: DoctorId::generate(),
                patient_id: UserId::generate(),
                start,
                end: start + SignedDuration::from_mins(30),
                status: AppointmentStatus::Scheduled,
                reason: Reason::parse("Check-up").unwrap(),
                notes: None,
                created_at: start,
                updated_at: start,
                sequence: 0,
                late_cancellation: false,
            },
            doctor_name: "Dr. Anna Weber".into(),
            specialty: Some("Cardiology".into()),
            zone: Zone::parse("Europe/Berlin").unwrap(),
            email: Some(Email::parse("pat@example.com").unwrap()),
            phone: Some(PhoneNumber::parse("+4915112345678").unwrap()),
        }
    }

    #[test]
    fn a_booking_tells_every_channel_and_queues_reminders_across_dst() {
        // Sunday 29 March 2026 10:00 in Berlin is after the clocks went forward at 02:00 (CEST,
        // UTC+2); 24 h earlier is Saturday 09:00 CET (UTC+1), 08:00Z.
        let facts = facts("2026-03-29T08:00:00Z");
        let now: Timestamp = "2026-03-20T12:00:00Z".parse().unwrap();
        let messages = appointment_messages(
            Change::Booked,
            &facts,
            &NotificationSettings::default(),
            now,
        );
        let kinds: Vec<_> = messages.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                MessageKind::Booked,
                MessageKind::Booked,
                MessageKind::Reminder,
                MessageKind::Reminder,
                MessageKind::Reminder,
                MessageKind::Reminder
            ]
        );
        let due: Vec<String> = messages
            .iter()
            .filter_map(|m| m.due_at.map(|d| d.to_string()))
            .collect();
        assert_eq!(
            due,
            [
                "2026-03-28T08:00:00Z",
                "2026-03-28T08:00:00Z",
                "2026-03-29T06:00:00Z",
                "2026-03-29T06:00:00Z"
            ]
        );
        let email = &messages[0].message;
        assert!(
            email
                .body
                .contains("Sunday 29 March 2026 at 10:00 (Europe/Berlin)")
        );
        assert!(
            email
                .attachment
                .as_ref()
                .is_some_and(|a| a.content.contains("DTSTART:20260329T080000Z"))
        );
        assert!(messages[1].message.attachment.is_none());
        assert!(
            messages
                .iter()
                .all(|m| m.appointment_id == Some(facts.appointment.id))
        );
        let keys: std::collections::HashSet<_> =
            messages.iter().map(|m| &m.idempotency_key).collect();
        assert_eq!(keys.len(), messages.len(), "keys are unique per message");
    }

    #[test]
    fn reminders_already_past_are_not_queued_and_a_cancellation_queues_none() {
        let mut facts = facts("2026-03-29T08:00:00Z");
        let settings = NotificationSettings::default();
        let three_hours_before: Timestamp = "2026-03-29T05:00:00Z".parse().unwrap();
        let messages = appointment_messages(Change::Booked, &facts, &settings, three_hours_before);
        assert_eq!(
            messages
                .iter()
                .filter(|m| m.kind == MessageKind::Reminder)
                .count(),
            2,
            "only the 2 h reminder, on both channels"
        );
        facts.appointment.status = AppointmentStatus::Cancelled;
        facts.appointment.sequence = 1;
        let messages =
            appointment_messages(Change::Cancelled, &facts, &settings, three_hours_before);
        assert!(messages.iter().all(|m| m.kind == MessageKind::Cancelled));
        assert!(
            messages[0]
                .message
                .attachment
                .as_ref()
                .is_some_and(|a| a.content.contains("STATUS:CANCELLED"))
        );
    }

    #[test]
    fn a_move_has_its_own_keys_so_each_move_is_told() {
        let mut facts = facts("2026-03-29T08:00:00Z");
        let settings = NotificationSettings::default();
        let now: Timestamp = "2026-03-20T12:00:00Z".parse().unwrap();
        let from = Slot {
            start: facts.appointment.start,
            end: facts.appointment.end,
        };
        facts.appointment.sequence = 1;
        let first = appointment_messages(Change::Rescheduled { from }, &facts, &settings, now);
        facts.appointment.sequence = 2;
        let second = appointment_messages(Change::Rescheduled { from }, &facts, &settings, now);
        assert_ne!(first[0].idempotency_key, second[0].idempotency_key);
        assert!(
            first[0]
                .message
                .body
                .contains("Before: Sunday 29 March 2026 at 10:00")
        );
    }
}
