//! Files handed to the browser as downloads, the same from every door.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use medibook_core::calendar_feeds::AppointmentFile;
use medibook_core::ical;

/// A calendar file as a download: `text/calendar`, never stored by caches.
pub fn calendar_download(file: AppointmentFile) -> Response {
    let filename = format!(
        "attachment; filename=\"appointment-{}.ics\"",
        file.appointment.id
    );
    let mut response = file.calendar.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ical::CONTENT_TYPE),
    );
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
