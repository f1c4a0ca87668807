//! A small generated district imported into a test's own database, and helpers to compose and
//! send messages to it.

use herald_core::accounts::{self, Role};
use herald_core::config::Config;
use herald_core::dev::district::{self, DemoOptions};
use herald_core::domain::{
    AudienceKind, CalendarId, ContactReason, Device, EmailAddress, MessageId,
};
use herald_core::messaging::compose::{self, Draft, Sender};
use herald_core::oneroster;
use secrecy::SecretString;
use sqlx::PgPool;

pub struct District {
    /// The calendar with the most enrollments.
    pub calendar: CalendarId,
    pub sender: Sender,
}

/// Imports a generated district of `students` students (one school) and creates an admin.
pub async fn district(pool: &PgPool, students: usize) -> District {
    district_of(pool, 1, students).await
}

/// Like [`district`], with `schools` schools.
pub async fn district_of(pool: &PgPool, schools: usize, students: usize) -> District {
    let dir = tempfile::tempdir().unwrap();
    district::generate(
        &DemoOptions {
            seed: 5,
            schools,
            students,
        },
        dir.path(),
    )
    .unwrap();
    oneroster::import_path(pool, dir.path(), &|_| {})
        .await
        .expect("the demo district imports");
    let calendar = sqlx::query_scalar!(
        r#"select calendar_id as "id: CalendarId" from enrollment
           group by calendar_id order by count(*) desc limit 1"#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let email = EmailAddress::parse("principal@district.example").unwrap();
    let account = accounts::create(
        pool,
        &email,
        "Principal Lee",
        &SecretString::from("pw".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await
    .unwrap();
    District {
        calendar,
        sender: Sender {
            account_id: account,
            name: "Principal Lee".into(),
            email,
        },
    }
}

pub fn draft(calendar: CalendarId, reason: ContactReason, devices: &[Device]) -> Draft {
    Draft {
        reason,
        subject: "Note for {{guardian}}".into(),
        body_html:
            "<p>Dear {{guardian}}, about {{student}} at {{school}}.</p><p>{{portal_url}}</p>".into(),
        body_text: String::new(),
        inbox_text: "About {{student}}: see the portal.".into(),
        voice_script: "This is {{school}} calling about {{student}}.".into(),
        audience: AudienceKind::Guardians,
        calendar_id: calendar,
        all_schools: false,
        grade_levels: vec![],
        devices: devices.to_vec(),
        start_at: None,
        email_at: None,
        dial_window: devices.contains(&Device::Phone).then(|| {
            herald_core::domain::DialWindow::new(
                chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            )
            .unwrap()
        }),
        confirm_to_sender: false,
    }
}

/// Saves a message for every guardian of the district's calendar.
pub async fn send(
    pool: &PgPool,
    d: &District,
    reason: ContactReason,
    devices: &[Device],
) -> MessageId {
    let composed = draft(d.calendar, reason, devices).compose().unwrap();
    compose::create(pool, &composed, &d.sender).await.unwrap()
}

/// Saves a test send of a General message by `devices`, rendered for the audience's first
/// member, to the sender alone: the message and that member.
pub async fn test_send(
    pool: &PgPool,
    d: &District,
    devices: &[Device],
) -> (MessageId, compose::AudienceMember) {
    let draft = draft(d.calendar, ContactReason::General, devices);
    let member = compose::audience_members(pool, &draft.audience(), "", 1)
        .await
        .unwrap()
        .remove(0);
    let composed = draft.compose().unwrap();
    let id = compose::create_test(pool, &composed, &d.sender, member.person_id)
        .await
        .unwrap();
    (id, member)
}

/// Fans out every message that is due, as the worker's scheduler would.
pub async fn fan_out_all(pool: &PgPool) {
    while herald_core::messaging::fanout::fan_out_next(pool)
        .await
        .unwrap()
        .is_some()
    {}
}

/// Config for a test worker: short polls, the given lease.
/// The attempts a job gets in the tests' settings, and what tests leasing by hand pass.
pub const MAX_ATTEMPTS: i32 = 6;

pub fn settings(lease_seconds: i64) -> Config {
    let mut s = Config::load_from(|_| None).unwrap();
    s.secrets = crate::secrets();
    s.worker.lease_seconds = lease_seconds;
    s.worker.poll_ms = 50;
    s.worker.backoff_seconds = 1;
    s.worker.max_attempts = MAX_ATTEMPTS;
    // Short enough for the shortest lease the tests use (30 s) to leave time to start emails.
    s.worker.smtp_timeout_ms = 5_000;
    s.worker.check().expect("test settings that can send");
    s
}

/// Points the Email Preferences at a local SMTP server.
pub async fn use_smtp(pool: &PgPool, port: u16) {
    sqlx::query!(
        "update email_settings set smtp_host = '127.0.0.1', smtp_port = $1, tls = 'none',
             from_address = 'messenger@district.example', reply_to = 'office@district.example',
             portal_url = 'https://portal.district.example/portal', updated_at = now()",
        i32::from(port)
    )
    .execute(pool)
    .await
    .unwrap();
}
