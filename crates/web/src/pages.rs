//! The landing page: the clinic's specialties and doctors with their next free slot, rendered
//! on the server with no script. (The full patient web app is built on the same services.)

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;

use crate::AppState;
use crate::error::ApiResult;

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
:root { color-scheme: light dark; --accent: #0b6bcb; font-family: system-ui, sans-serif; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; line-height: 1.5; }
h1 { color: var(--accent); margin-bottom: 0; }
ul.grid { list-style: none; padding: 0; display: grid; gap: .75rem;
          grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
ul.grid li { border: 1px solid #8885; border-radius: .5rem; padding: .75rem; }
.muted { opacity: .75; font-size: .9rem; }
code { background: #8882; padding: 0 .25rem; border-radius: .25rem; }
";

/// `GET /assets/medibook.css`: the stylesheet (served, not inlined, so the CSP needs no
/// `unsafe-inline`).
pub async fn stylesheet() -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}

/// `GET /`.
pub async fn index(State(state): State<AppState>) -> ApiResult<Html<String>> {
    let specialties = state.catalogue.specialties().await?;
    let doctors = state.catalogue.search(None, None).await?;
    let next = state.bookings.next_free_slots(&doctors).await?;

    let mut html = String::with_capacity(16 * 1024);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>MediBook</title><link rel=\"stylesheet\" href=\"/assets/medibook.css\"></head><body>\
         <header><h1>MediBook</h1><p class=\"muted\">Book a doctor in a minute.</p></header><main>"
    );
    html.push_str("<h2>Specialties</h2><ul class=\"grid\">");
    for s in &specialties {
        let _ = write!(
            html,
            "<li><strong>{}</strong><br><span class=\"muted\">{} doctor{}</span></li>",
            escape(&s.specialty.name),
            s.doctor_count,
            if s.doctor_count == 1 { "" } else { "s" }
        );
    }
    html.push_str("</ul><h2>Doctors</h2><ul class=\"grid\">");
    for doctor in &doctors {
        let specialty = specialties
            .iter()
            .find(|s| s.specialty.id == doctor.specialty_id)
            .map(|s| s.specialty.name.as_str())
            .unwrap_or_default();
        let availability = match next.get(&doctor.id) {
            Some(slot) => {
                let local = slot.start.to_zoned(doctor.time_zone.tz().clone());
                format!(
                    "Next free: {}",
                    escape(&local.strftime("%a %-d %b, %H:%M (%Z)").to_string())
                )
            }
            None => "Fully booked for the next four weeks".to_owned(),
        };
        let _ = write!(
            html,
            "<li><strong>{}</strong><br>{} · {} years<br><span class=\"muted\">{}</span></li>",
            escape(&doctor.name),
            escape(specialty),
            doctor.years_experience,
            availability
        );
    }
    html.push_str(
        "</ul><h2>For developers</h2><p>The JSON API lives under <code>/api/v1</code>; its \
         OpenAPI document is at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\
         </main></body></html>",
    );
    Ok(Html(html))
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
