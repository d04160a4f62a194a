//! iCalendar (RFC 5545) for appointments: one file per appointment, and the private feeds of a
//! patient's appointments and a doctor's agenda.
//!
//! Pure text: instants are written in UTC (`…Z`), so every calendar app places them exactly
//! whatever its own zone, across DST changes too. Each appointment keeps one UID for its life;
//! a reschedule or cancellation raises its SEQUENCE so calendar apps replace their copy, and a
//! cancellation is `STATUS:CANCELLED`. Text is escaped and lines are folded at 75 octets
//! (never inside a UTF-8 character), with CRLF line ends.

use jiff::{SignedDuration, Timestamp};

use crate::booking::{Appointment, AppointmentStatus};

/// Our product identifier.
const PRODID: &str = "-//MediBook//MediBook appointments//EN";
/// Longest content line, in octets, before folding.
const LINE_OCTETS: usize = 75;

/// The `Content-Type` of an iCalendar file.
pub const CONTENT_TYPE: &str = "text/calendar; charset=utf-8";

/// One appointment as a calendar event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The appointment.
    pub appointment: Appointment,
    /// Its doctor's name.
    pub doctor_name: String,
    /// Its doctor's specialty, if known.
    pub specialty: Option<String>,
    /// The clinic's name.
    pub clinic_name: String,
    /// Who the event is for, as the title reads: the doctor for a patient's calendar, the
    /// patient for a doctor's.
    pub title: String,
    /// Where to see and manage the appointment.
    pub url: Option<String>,
    /// A reminder this long before the start, if any.
    pub alarm: Option<SignedDuration>,
}

impl CalendarEvent {
    /// The event of `appointment` for its patient's calendar.
    pub fn for_patient(
        appointment: Appointment,
        doctor_name: &str,
        specialty: Option<&str>,
        clinic_name: &str,
        public_url: &str,
    ) -> Self {
        let url = format!("{public_url}/appointments/{}", appointment.id);
        Self {
            title: format!("Appointment with {doctor_name}"),
            appointment,
            doctor_name: doctor_name.to_owned(),
            specialty: specialty.map(str::to_owned),
            clinic_name: clinic_name.to_owned(),
            url: Some(url),
            alarm: Some(SignedDuration::from_hours(1)),
        }
    }

    /// The event of `appointment` for its doctor's agenda, titled with the patient's name.
    pub fn for_doctor(
        appointment: Appointment,
        doctor_name: &str,
        patient_name: &str,
        clinic_name: &str,
        public_url: &str,
    ) -> Self {
        Self {
            title: format!("{patient_name} — {}", appointment.reason.as_str()),
            url: Some(format!("{public_url}/doctor")),
            appointment,
            doctor_name: doctor_name.to_owned(),
            specialty: None,
            clinic_name: clinic_name.to_owned(),
            alarm: None,
        }
    }

    /// The stable UID of an appointment's event.
    pub fn uid(&self) -> String {
        format!("appointment-{}@medibook", self.appointment.id)
    }
}

/// A calendar file: a `VCALENDAR` with the given events (a single appointment, or a feed).
pub fn calendar(name: &str, events: &[CalendarEvent]) -> String {
    let mut out = Writer::default();
    out.line("BEGIN:VCALENDAR");
    out.line("VERSION:2.0");
    out.property("PRODID", PRODID);
    out.line("CALSCALE:GREGORIAN");
    out.line("METHOD:PUBLISH");
    out.text("X-WR-CALNAME", name);
    // Subscribed feeds: ask calendar apps to look again every hour.
    out.line("REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    out.line("X-PUBLISHED-TTL:PT1H");
    for event in events {
        write_event(&mut out, event);
    }
    out.line("END:VCALENDAR");
    out.finish()
}

fn write_event(out: &mut Writer, event: &CalendarEvent) {
    let appointment = &event.appointment;
    out.line("BEGIN:VEVENT");
    out.property("UID", &event.uid());
    out.property("DTSTAMP", &utc(appointment.updated_at));
    out.property("CREATED", &utc(appointment.created_at));
    out.property("LAST-MODIFIED", &utc(appointment.updated_at));
    out.property("SEQUENCE", &appointment.sequence.to_string());
    out.property("DTSTART", &utc(appointment.start));
    out.property("DTEND", &utc(appointment.end));
    let cancelled = appointment.status == AppointmentStatus::Cancelled;
    let title = if cancelled {
        format!("Cancelled: {}", event.title)
    } else {
        event.title.clone()
    };
    out.text("SUMMARY", &title);
    out.text("LOCATION", &event.clinic_name);
    let mut description = format!("{} at {}", event.doctor_name, event.clinic_name);
    if let Some(specialty) = &event.specialty {
        description.push_str(&format!(" ({specialty})"));
    }
    description.push_str(&format!(".\nReason: {}", appointment.reason.as_str()));
    if let Some(url) = &event.url {
        description.push_str(&format!("\nSee, move or cancel it: {url}"));
    }
    out.text("DESCRIPTION", &description);
    if let Some(url) = &event.url {
        out.property("URL", url);
    }
    out.property("STATUS", if cancelled { "CANCELLED" } else { "CONFIRMED" });
    out.line("TRANSP:OPAQUE");
    if let (Some(before), false) = (event.alarm, cancelled) {
        out.line("BEGIN:VALARM");
        out.line("ACTION:DISPLAY");
        out.text("DESCRIPTION", &event.title);
        out.property("TRIGGER", &format!("-PT{}M", before.as_mins().max(0)));
        out.line("END:VALARM");
    }
    out.line("END:VEVENT");
}

/// An instant as an iCalendar UTC date-time (`20260329T080000Z`).
pub fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Content lines, folded and CRLF-terminated.
#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn property(&mut self, name: &str, value: &str) {
        // Values of non-TEXT properties are ours (ids, instants, URLs): drop any line break.
        let value: String = value.chars().filter(|c| !c.is_control()).collect();
        self.line(&format!("{name}:{value}"));
    }

    fn text(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{}", escape_text(value)));
    }

    /// Writes one content line, folded so no physical line exceeds 75 octets.
    fn line(&mut self, line: &str) {
        let mut used = 0;
        for c in line.chars() {
            let width = c.len_utf8();
            if used + width > LINE_OCTETS {
                self.out.push_str("\r\n ");
                used = 1;
            }
            self.out.push(c);
            used += width;
        }
        self.out.push_str("\r\n");
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::Reason;
    use crate::ids::{AppointmentId, DoctorId, UserId};

    fn appointment(start: &str) -> Appointment {
        let start: Timestamp = start.parse().unwrap();
        Appointment {
            id: AppointmentId::generate(),
            doctor_id: DoctorId::generate(),
            patient_id: UserId::generate(),
            start,
            end: start + SignedDuration::from_mins(30),
            status: AppointmentStatus::Scheduled,
            reason: Reason::parse("Back pain; since Monday, worse at night").unwrap(),
            notes: None,
            created_at: start - SignedDuration::from_hours(48),
            updated_at: start - SignedDuration::from_hours(48),
            sequence: 0,
            late_cancellation: false,
        }
    }

    fn unfolded(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    #[test]
    fn an_appointment_is_one_event_in_utc_with_its_uid_sequence_and_alarm() {
        let appointment = appointment("2026-03-29T08:00:00Z");
        let id = appointment.id;
        let event = CalendarEvent::for_patient(
            appointment,
            "Dr. Anna Weber",
            Some("Cardiology"),
            "MediBook clinic",
            "https://clinic.example",
        );
        let text = calendar("MediBook", &[event]);
        let text = unfolded(&text);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(text.contains(&format!("UID:appointment-{id}@medibook\r\n")));
        assert!(text.contains("DTSTART:20260329T080000Z\r\n"));
        assert!(text.contains("DTEND:20260329T083000Z\r\n"));
        assert!(text.contains("SEQUENCE:0\r\n"));
        assert!(text.contains("STATUS:CONFIRMED\r\n"));
        assert!(text.contains("TRIGGER:-PT60M\r\n"));
        assert!(text.contains("SUMMARY:Appointment with Dr. Anna Weber\r\n"));
        assert!(text.contains("Reason: Back pain\\; since Monday\\, worse at night"));
        assert!(text.contains(&format!("URL:https://clinic.example/appointments/{id}\r\n")));
    }

    #[test]
    fn a_cancelled_appointment_says_so_with_a_higher_sequence_and_no_alarm() {
        let mut appointment = appointment("2026-03-29T08:00:00Z");
        appointment.status = AppointmentStatus::Cancelled;
        appointment.sequence = 2;
        let event = CalendarEvent::for_patient(appointment, "Dr. B", None, "Clinic", "http://x");
        let text = unfolded(&calendar("MediBook", &[event]));
        assert!(text.contains("STATUS:CANCELLED\r\n"));
        assert!(text.contains("SEQUENCE:2\r\n"));
        assert!(text.contains("SUMMARY:Cancelled: Appointment with Dr. B\r\n"));
        assert!(!text.contains("BEGIN:VALARM"));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut writer = Writer::default();
        let value =
            "Zahnärztin Dr. Åsa Öberg — Kieferorthopädie und Ästhetik, Wartezimmer 3 ".repeat(4);
        writer.text("DESCRIPTION", &value);
        let text = writer.finish();
        for line in text.split("\r\n") {
            assert!(line.len() <= LINE_OCTETS, "{} octets: {line:?}", line.len());
        }
        assert_eq!(
            unfolded(&text),
            format!("DESCRIPTION:{}\r\n", escape_text(&value))
        );
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(escape_text("a\\b;c,d\ne\r\u{7}"), "a\\\\b\\;c\\,d\\ne");
    }
}
