//! A staff change and its audit entry are one transaction, on both backends: the entry is
//! written by the store with the change (decided by the staff service, not by the door the
//! command came through), and if the entry cannot be written the change is not made either.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::{Actor, AuditAction, AuditEntry, AuditEvent, AuditLog, AuditQuery};
use medibook_core::clock::{Clock, SystemClock};
use medibook_core::events::NoListeners;
use medibook_core::identity::{Email, Identifier, Role};
use medibook_core::ids::{DoctorId, TimeOffId};
use medibook_core::ports::IdentityRepository;
use medibook_core::schedule::TimeOff;
use medibook_core::staff::{Staff, StaffMember, StaffRepository};
use medibook_store::Database;

use common::clinic::PlainDoctor;
use common::{Backend, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_changes_commit_with_their_audit_entries_on_sqlite() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    changes_commit_with_their_audit_entries(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_changes_commit_with_their_audit_entries_on_postgres() {
    let Some(postgres) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    changes_commit_with_their_audit_entries(&postgres.url).await;
}

async fn changes_commit_with_their_audit_entries(url: &str) {
    let doctor = PlainDoctor::seed(url).await;
    let doctor_id: DoctorId = doctor.id.parse().unwrap();
    let database = Database::connect(url).await.unwrap();
    let store = Arc::new(database.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let staff = Staff::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        clock,
        Arc::new(NoListeners),
    );
    let now = Timestamp::now();
    let admin_user = database
        .user_for(&email("admin@clinic.test"), now)
        .await
        .unwrap();
    let admin = StaffMember {
        user_id: admin_user.id,
        role: Role::Admin,
        doctor_id: None,
    };
    let actor = Actor::user(admin_user.id, Role::Admin, Some("203.0.113.7".into()));

    // Through the service: the change and exactly one entry, naming who did it.
    let start = now + SignedDuration::from_hours(48);
    let added = staff
        .add_time_off(
            &admin,
            &actor,
            Some(doctor_id),
            start,
            start + SignedDuration::from_hours(3),
            Some("conference"),
        )
        .await
        .unwrap();
    let entries = entries_of(&database, doctor_id, AuditAction::TimeOffCreate).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].actor_user_id, Some(admin_user.id));
    assert_eq!(entries[0].client_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(
        entries[0].detail.as_deref(),
        Some(format!("time off {}", added.id).as_str())
    );

    let patient = database
        .user_for(&email("ada@example.org"), now)
        .await
        .unwrap();
    let change = staff
        .set_role(&admin, &actor, patient.id, Role::Doctor, Some(doctor_id))
        .await
        .unwrap();
    assert_eq!(change.after.role, Role::Doctor);
    let role_entries = entries_of(&database, doctor_id, AuditAction::RoleChange).await;
    assert_eq!(role_entries.len(), 1, "{role_entries:?}");
    assert_eq!(role_entries[0].patient_id, Some(patient.id));

    // An entry that cannot be written (two entries with one id) takes the change down with it.
    let broken = |event: AuditEvent| -> Vec<AuditEntry> {
        let entry = AuditEntry::stamped(&actor, now, event);
        vec![entry.clone(), entry]
    };
    let time_off = TimeOff {
        id: TimeOffId::generate(),
        doctor_id,
        start: start + SignedDuration::from_hours(24),
        end: start + SignedDuration::from_hours(26),
        reason: "never stored".into(),
    };
    let refused = database
        .insert_time_off(
            &time_off,
            now,
            &broken(AuditEvent::doctor(AuditAction::TimeOffCreate, doctor_id)),
        )
        .await;
    assert!(
        refused.is_err(),
        "the duplicate entry must fail the command"
    );
    assert!(
        database
            .time_off_by_id(time_off.id)
            .await
            .unwrap()
            .is_none(),
        "time off stored without its audit entry"
    );

    let refused = database
        .set_role(
            patient.id,
            Role::Patient,
            None,
            &broken(AuditEvent::new(AuditAction::RoleChange, "user", None)),
        )
        .await;
    assert!(
        refused.is_err(),
        "the duplicate entry must fail the command"
    );
    let unchanged = database.user(patient.id).await.unwrap().unwrap();
    assert_eq!(
        (unchanged.role, unchanged.doctor_id),
        (Role::Doctor, Some(doctor_id)),
        "role changed without its audit entry"
    );
    assert_eq!(
        entries_of(&database, doctor_id, AuditAction::TimeOffCreate)
            .await
            .len(),
        1
    );
    database.close().await;
}

fn email(raw: &str) -> Identifier {
    Identifier::Email(Email::parse(raw).unwrap())
}

async fn entries_of(database: &Database, doctor: DoctorId, action: AuditAction) -> Vec<AuditEntry> {
    database
        .entries(&AuditQuery {
            doctor_id: Some(doctor),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == action.as_str())
        .collect()
}
