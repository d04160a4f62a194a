//! The live slot feed at `GET /api/v1/ws`: a WebSocket on which anyone, signed in or not,
//! watches the slots of the doctors they subscribe to change status, and on which a signed-in
//! patient also receives their waitlist offers.
//!
//! # Protocol
//!
//! Client → server, JSON text frames:
//!
//! - `{"type":"subscribe","doctor_ids":[…],"after_seq":…}`. `after_seq` is optional and is
//!   either one number, applied to every listed doctor, or an object mapping doctor ids to
//!   numbers (listed doctors missing from the object start live, unlisted ones in it are
//!   ignored). With `after_seq` the server first replays the doctor's changes after that
//!   number from the event log, then continues live; without it the doctor starts live at its
//!   current number. Subscribing again to a doctor already subscribed keeps its position (its
//!   `after_seq` is ignored).
//! - `{"type":"unsubscribe","doctor_ids":[…]}`.
//! - `{"type":"authenticate","token":"<access token>"}` signs the connection in. Non-browser
//!   clients may instead send `Authorization: Bearer <token>` with the upgrade request (an
//!   invalid one gets 401); our pages' session cookie (`medibook_session`) signs it in too (one
//!   that no longer works connects anonymously).
//!
//! Server → client:
//!
//! - `{"type":"subscribed","doctor_ids":[…],"latest_seq":{id: N}}` acknowledges a subscribe,
//!   with each doctor's latest number at that moment; it comes before any replayed change.
//! - `{"type":"unsubscribed","doctor_ids":[…]}` acknowledges an unsubscribe.
//! - `{"type":"slot","seq":N,"doctor_id":…,"start":…,"end":…,"status":"held"|"available"|"booked"|"unavailable"}`:
//!   per doctor, in order, each number once, without gaps. `unavailable` means a schedule edit
//!   took a free slot off the doctor's grid.
//! - `{"type":"resync","doctor_id":…,"latest_seq":N}`: the connection cannot tell what changed
//!   (it fell behind, or the requested history is longer than [`REPLAY_LIMIT`] or no longer
//!   kept). Refetch the doctor's slots; the feed continues with the changes after `latest_seq`.
//! - `{"type":"authenticated","user_id":…}` acknowledges an `authenticate`.
//! - `{"type":"signed_out"}`: the connection's session ended (sign-out, expiry); a signed-in
//!   connection checks its session every [`FeedSettings::session_check_interval`] (3 s by
//!   default), and from this message on it watches slots anonymously and carries no offers.
//!   When the account itself was erased, the connection is closed after this message (close
//!   code 1008, reason `account erased`).
//! - `{"type":"waitlist_offer","offer_id","hold_id","doctor_id","start","end","expires_at"}`,
//!   only on the connections of the patient the slot is offered to. When a connection signs in,
//!   the patient's open offers are sent at once, so an offer made while they were away is not
//!   missed. Each offer is sent once per connection.
//! - `{"type":"error","message":…}` for a message the server cannot use (bad JSON, too many
//!   doctors); the connection stays open.
//! - WebSocket pings every [`FeedSettings::ping_interval`] (20 s by default). A connection that
//!   has sent nothing, pongs included, for [`FeedSettings::idle_timeout`] (60 s by default) is
//!   closed with a close frame (`1001`, reason `idle`) at the next ping time; so is one whose
//!   socket accepts no write for that long, without a close frame.
//!
//! A browser's upgrade must come from one of the server's origins (its public URL, those of
//! `MEDIBOOK_ALLOWED_ORIGINS`, or the host it was sent to); any other `Origin` gets 403
//! `forbidden_origin` before the cookie is looked at (no cross-site WebSocket hijacking).
//! Clients that send no `Origin` (native apps, scripts) are not affected.
//!
//! Doctor ids are not checked: an unknown id is accepted and simply never changes. A connection
//! may watch at most [`MAX_DOCTORS`] doctors; frames larger than [`MAX_MESSAGE_BYTES`] close it.
//!
//! # Flow
//!
//! Each connection is one task running one loop: it reads the shared broadcast bus, the client's
//! messages and the event log, and writes a bounded outgoing queue
//! ([`FeedSettings::queue_capacity`] messages, 256 by default) to the socket as the socket takes
//! it. Live slot changes arrive from the bus already encoded (see [`crate::shell::events`]), so every
//! connection sends the same shared frame. A client that stops reading first fills the socket's
//! buffers, then its own queue; the connection then drops that client's changes, owes it a
//! resync for each doctor that moved meanwhile, and sends it once the queue has room again, so
//! it never holds up the bus or anyone else. Replays and gap fills are read from the log in
//! chunks as the queue has room. A socket that takes nothing for the idle timeout is dropped at
//! the next ping time, without a timer per write.

mod connection;
mod protocol;
mod session;

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use medibook_core::BookingError;
use medibook_core::ids::{SessionId, UserId};

use crate::shell::AppState;
pub use crate::shell::FeedSettings;
use crate::shell::error::ApiError;
use connection::serve_connection;

/// Most doctors one connection may watch.
pub const MAX_DOCTORS: usize = crate::shell::MAX_FEED_DOCTORS;
/// Largest frame or message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Most missed changes of one doctor replayed from the log; longer histories get a resync.
pub const REPLAY_LIMIT: i64 = 1000;
/// Read buffer of one connection.
const READ_BUFFER_BYTES: usize = 512;
/// The shortest ping interval the feed uses, whatever it is given (a zero interval panics).
const MIN_PING_INTERVAL: Duration = Duration::from_millis(1);

/// Upgrades the request to the slot feed. Slots are public; a bearer token (header, or an
/// `authenticate` message later) adds the caller's waitlist offers. A token that is present but
/// not valid is refused with 401 before the upgrade.
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A browser sends our cookies with an upgrade from any site: only our own pages may open
    // the feed (clients that are not pages send no Origin and sign in with a bearer token).
    if !state.web.origins.allow(&headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "pages of this origin may not open the live feed",
        )
        .into_response();
    }
    let patient = match bearer(&headers) {
        Some(token) => match authenticate(&state, token).await {
            Ok(user) => Some(user),
            Err(error) => return ApiError::from(error).into_response(),
        },
        // A page's session cookie; one that no longer works (signed out, expired) watches
        // slots anonymously rather than failing the page's feed.
        None => match crate::shell::auth::session_cookie_token(&headers) {
            Some(token) => match authenticate(&state, token).await {
                Ok(user) => Some(user),
                Err(BookingError::Storage(error)) => {
                    return ApiError::from(BookingError::Storage(error)).into_response();
                }
                Err(_) => None,
            },
            None => None,
        },
    };
    // Listen before the upgrade completes, so nothing published after the handshake is missed.
    let bus = state.events.subscribe();
    let settings = state.web.feed;
    upgrade
        // tungstenite's default 128 KiB read buffer is zero-filled before every read and was
        // most of the memory and CPU per connection at 10,000 subscribers (see docs/performance.md's
        // benchmarks); client messages are small.
        .read_buffer_size(READ_BUFFER_BYTES)
        // Each frame goes to the socket as it is queued: what a slow client has not taken
        // stays in the bounded queue (which tells it to resync when full), not in a
        // 128 KiB buffer inside tungstenite.
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _open = crate::shell::metrics::OpenConnection::open();
            serve_connection(socket, bus, state, patient, settings).await;
        })
}

/// The token of an `Authorization: Bearer …` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// Who signed a connection in, and with which session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SignedIn {
    pub(crate) user_id: UserId,
    pub(crate) session_id: SessionId,
}

/// Checks a token and its session, as every API request does.
async fn authenticate(state: &AppState, token: &str) -> Result<SignedIn, BookingError> {
    let user = state.tokens.verify(token)?;
    let session = state.sessions.check(user.session_id).await?;
    if session.user_id != user.id {
        return Err(BookingError::Unauthorized);
    }
    Ok(SignedIn {
        user_id: user.id,
        session_id: user.session_id,
    })
}
