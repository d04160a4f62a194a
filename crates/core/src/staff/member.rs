//! Who a staff member is: a doctor or an admin as stored now, and what they may act on.

use crate::identity::{Role, User};
use crate::ids::{DoctorId, UserId};

/// A signed-in doctor, receptionist or admin, with their role as stored now (not as their token says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaffMember {
    /// Who.
    pub user_id: UserId,
    /// `Doctor`, `Receptionist` or `Admin`.
    pub role: Role,
    /// Their own doctor profile, if linked.
    pub doctor_id: Option<DoctorId>,
}

impl StaffMember {
    /// The staff member a user is, or `None` for a patient.
    pub fn of(user: &User) -> Option<Self> {
        match user.role {
            Role::Patient => None,
            Role::Doctor | Role::Admin | Role::Receptionist => Some(Self {
                user_id: user.id,
                role: user.role,
                doctor_id: user.doctor_id,
            }),
        }
    }

    /// Whether they may manage the clinic.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether they work the front desk (receptionists and admins).
    pub fn works_the_desk(&self) -> bool {
        self.role.works_the_desk()
    }

    /// Whether they may act on `doctor_id`'s agenda: their own, or any for an admin.
    pub fn may_act_for(&self, doctor_id: DoctorId) -> bool {
        self.is_admin() || (self.role == Role::Doctor && self.doctor_id == Some(doctor_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctors_act_only_for_themselves_and_admins_for_everyone() {
        let own = DoctorId::generate();
        let other = DoctorId::generate();
        let doctor = StaffMember {
            user_id: UserId::generate(),
            role: Role::Doctor,
            doctor_id: Some(own),
        };
        let admin = StaffMember {
            user_id: UserId::generate(),
            role: Role::Admin,
            doctor_id: None,
        };
        assert!(doctor.may_act_for(own));
        assert!(!doctor.may_act_for(other));
        assert!(admin.may_act_for(other));
    }
}
