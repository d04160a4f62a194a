//! Clinic management for admins: specialties and doctor profiles (`clinic`), user roles
//! (`people`), the contact-form inbox (`inbox`) and the audit trail (`trail`).

mod clinic;
mod inbox;
mod people;
mod trail;

use medibook_core::audit::Actor;

use crate::shell::access::AdminCaller;
use crate::shell::client::ClientIp;

pub use clinic::*;
pub use inbox::*;
pub use people::*;
pub use trail::*;

/// The actor an admin's request is recorded as.
pub(crate) fn actor(caller: &AdminCaller, client: &ClientIp) -> Actor {
    Actor::user(caller.0.auth.id, caller.0.member.role, client.key())
}
