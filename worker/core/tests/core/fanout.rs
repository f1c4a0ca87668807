//! Fan-out against a real PostgreSQL: one job per recipient × device × allowed method, the
//! reasons people were not reached, the emergency rule, and a message fanned out only once.

use herald_testing::district;

use herald_core::domain::{ContactReason, Device};
use herald_core::messaging::fanout;
use herald_core::messaging::sent_messages;
use sqlx::PgPool;

use district::{district, send};

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_guardian_of_several_students_gets_one_email_naming_all_of_them(pool: PgPool) {
    let d = district(&pool, 80).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    let f = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert_eq!(f.message_id, Some(id));
    let guardians = count(
        &pool,
        "select count(distinct gs.guardian_id) from guardian_student gs join enrollment e on e.student_id = gs.student_id where gs.messenger_contact",
    )
    .await;
    assert_eq!(f.recipients as i64, guardians);
    assert_eq!(f.inbox_jobs, f.recipients, "one notice per recipient");
    // Every guardian with several students appears in one recipient row listing them all.
    let multi = count(
        &pool,
        "select count(*) from message_recipient where cardinality(student_ids) > 1",
    )
    .await;
    assert!(multi > 0, "the demo district has guardians of siblings");
    // Each row names exactly the recipient's own enrolled students, none left out.
    let wrong = count(
        &pool,
        &format!(
            "select count(*) from message_recipient r
             where r.message_id = '{id}'
               and array(select distinct gs.student_id from guardian_student gs
                         join enrollment e on e.student_id = gs.student_id
                         where gs.guardian_id = r.person_id and gs.messenger_contact
                         order by 1)
                   <> array(select distinct s from unnest(r.student_ids) s order by 1)"
        ),
    )
    .await;
    assert_eq!(wrong, 0, "every recipient's students, exactly");
    let dup_emails = count(
        &pool,
        "select count(*) from (select target from delivery_job where device = 'email' group by target having count(*) > 1) x",
    )
    .await;
    assert_eq!(dup_emails, 0);
    let tally = sent_messages::tally(&pool, id).await.unwrap();
    let email = tally.iter().find(|t| t.device == Device::Email).unwrap();
    assert_eq!(email.total, f.email_jobs as i64);
    assert_eq!(email.pending(), email.total);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn opted_out_and_missing_addresses_are_recorded_as_unreached(pool: PgPool) {
    let d = district(&pool, 60).await;
    // One guardian opts out of General on every email; another has no email at all.
    let opted = sqlx::query_scalar!(
        r#"select cm.person_id as "id!" from contact_method cm
           join guardian_student gs on gs.guardian_id = cm.person_id and gs.messenger_contact
           where cm.email is not null limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "insert into contact_preference (contact_method_id, reason, enabled)
         select id, 'general', false from contact_method where person_id = $1",
        opted
    )
    .execute(&pool)
    .await
    .unwrap();
    let bare = sqlx::query_scalar!(
        r#"select gs.guardian_id as "id!" from guardian_student gs
           where gs.guardian_id <> $1 and gs.messenger_contact limit 1"#,
        opted
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "delete from contact_method where person_id = $1 and email is not null",
        bare
    )
    .execute(&pool)
    .await
    .unwrap();
    let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    let f = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    let rows = count(
        &pool,
        &format!("select count(*) from message_unreached where message_id = '{id}'"),
    )
    .await;
    assert!(rows >= 2);
    assert_eq!(
        f.unreached as i64, rows,
        "the fan-out reports what it recorded"
    );
    let cause = |p: uuid::Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar!(
                "select cause from message_unreached where message_id = $1 and person_id = $2 and device = 'email'",
                id.0,
                p
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(cause(opted).await.as_deref(), Some("opted_out"));
    assert_eq!(cause(bare).await.as_deref(), Some("no_email"));
    let jobs_for_opted = count(
        &pool,
        &format!("select count(*) from delivery_job where person_id = '{opted}'"),
    )
    .await;
    assert_eq!(jobs_for_opted, 0);
    // The opt-out is for General only: an Attendance message still reaches them.
    send(&pool, &d, ContactReason::Attendance, &[Device::Email]).await;
    fanout::fan_out_next(&pool).await.unwrap().unwrap();
    let attendance_jobs = count(
        &pool,
        &format!("select count(*) from delivery_job j join message m on m.id = j.message_id where m.reason = 'attendance' and j.person_id = '{opted}'"),
    )
    .await;
    assert!(attendance_jobs >= 1);
}

/// The email method of some guardian who will be a recipient, marked for emergencies or not.
async fn a_recipients_email(pool: &PgPool, marked: bool) -> uuid::Uuid {
    sqlx::query_scalar!(
        "select cm.id from contact_method cm
         join guardian_student gs on gs.guardian_id = cm.person_id and gs.messenger_contact
         join enrollment e on e.student_id = gs.student_id
         where cm.email is not null and cm.emergency = $1
         order by cm.id limit 1",
        marked
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn emergency_messages_go_to_methods_marked_for_emergency_or_opted_in_and_never_to_one_opted_out(
    pool: PgPool,
) {
    let d = district(&pool, 60).await;
    // Unmark half the emails for emergencies, and opt everyone out of General (which must not
    // matter for an emergency).
    sqlx::query!(
        "update contact_method set emergency = false where email is not null and id::text < '8'"
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "insert into contact_preference (contact_method_id, reason, enabled) select id, 'general', false from contact_method"
    )
    .execute(&pool)
    .await
    .unwrap();
    // One parent opted an unmarked email in to emergencies, another a marked one out.
    let opted_in = a_recipients_email(&pool, false).await;
    let opted_out = a_recipients_email(&pool, true).await;
    for (method, enabled) in [(opted_in, true), (opted_out, false)] {
        sqlx::query!(
            "insert into contact_preference (contact_method_id, reason, enabled)
             values ($1, 'emergency', $2)",
            method,
            enabled
        )
        .execute(&pool)
        .await
        .unwrap();
    }
    let id = send(
        &pool,
        &d,
        ContactReason::Emergency,
        &[Device::Email, Device::Phone],
    )
    .await;
    let f = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert!(f.email_jobs > 0 && f.phone_jobs > 0);
    let jobs_to = |method: uuid::Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar!(
                r#"select count(*) as "n!" from delivery_job where contact_method_id = $1"#,
                method
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(jobs_to(opted_in).await, 1, "the unmarked email opted in");
    assert_eq!(jobs_to(opted_out).await, 0, "the marked email opted out");
    let unmarked_jobs = count(
        &pool,
        "select count(*) from delivery_job j join contact_method cm on cm.id = j.contact_method_id
         where not cm.emergency and not exists (select 1 from contact_preference p
             where p.contact_method_id = cm.id and p.reason = 'emergency' and p.enabled)",
    )
    .await;
    assert_eq!(unmarked_jobs, 0, "no other unmarked method");
    let not_emergency = count(
        &pool,
        &format!("select count(*) from message_unreached where message_id = '{}' and cause = 'not_emergency_contact'", id),
    )
    .await;
    assert!(not_emergency > 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_shared_household_phone_is_called_once(pool: PgPool) {
    let d = district(&pool, 120).await;
    send(&pool, &d, ContactReason::General, &[Device::Phone]).await;
    fanout::fan_out_next(&pool).await.unwrap().unwrap();
    let household_phones_called = count(
        &pool,
        "select count(*) from delivery_job j join contact_method cm on cm.id = j.contact_method_id where cm.household_id is not null",
    )
    .await;
    assert!(household_phones_called > 0);
    // The precondition: some household phone is reachable through two or more recipients.
    let shared = count(
        &pool,
        "select count(*) from (
             select cm.id from contact_method cm
             join person p on p.household_id = cm.household_id
             join message_recipient r on r.person_id = p.id
             where cm.household_id is not null
             group by cm.id having count(distinct r.person_id) > 1) x",
    )
    .await;
    assert!(
        shared > 0,
        "some household phone is shared by two recipients"
    );
    let twice = count(
        &pool,
        "select count(*) from (select target from delivery_job group by target having count(*) > 1) x",
    )
    .await;
    assert_eq!(twice, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn grade_level_filters_narrow_the_audience(pool: PgPool) {
    let d = district(&pool, 120).await;
    let mut audience = herald_core::messaging::compose::Audience {
        kind: herald_core::domain::AudienceKind::Guardians,
        calendar: d.calendar,
        all_schools: false,
        grades: vec![],
    };
    let all = herald_core::messaging::compose::audience_count(&pool, &audience)
        .await
        .unwrap();
    let grade: String = sqlx::query_scalar!(
        r#"select grade_level as "g!" from enrollment where grade_level is not null group by 1 order by count(*) desc limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    audience.grades = vec![grade.clone()];
    let some = herald_core::messaging::compose::audience_count(&pool, &audience)
        .await
        .unwrap();
    assert!(
        some.people > 0 && some.people < all.people,
        "{some:?} vs {all:?}"
    );
    // Exactly the guardians (messenger contacts) of that grade's enrolled students.
    let of_grade = count(
        &pool,
        &format!(
            "select count(distinct gs.guardian_id) from guardian_student gs
             join enrollment e on e.student_id = gs.student_id
             where gs.messenger_contact and e.grade_level = '{grade}'"
        ),
    )
    .await;
    assert_eq!(some.people as i64, of_grade, "{some:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_is_fanned_out_once_when_four_workers_race_for_it() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let d = district(&pool, 60).await;
    send(&pool, &d, ContactReason::General, &[Device::Inbox]).await;
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { fanout::fan_out_next(&pool).await.unwrap() })
        })
        .collect();
    let mut took = 0;
    for r in racers {
        if r.await.unwrap().is_some() {
            took += 1;
        }
    }
    assert_eq!(took, 1);
    let jobs = count(&pool, "select count(*) from delivery_job").await;
    let recipients = count(&pool, "select count(*) from message_recipient").await;
    assert_eq!(jobs, recipients);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_scheduled_message_waits_for_its_start_time(pool: PgPool) {
    let d = district(&pool, 60).await;
    let mut draft = district::draft(d.calendar, ContactReason::General, &[Device::Inbox]);
    draft.start_at = Some(chrono::Utc::now() + chrono::TimeDelta::hours(2));
    let composed = draft.compose().unwrap();
    let id = herald_core::messaging::compose::create(&pool, &composed, &d.sender)
        .await
        .unwrap();
    assert!(fanout::fan_out_next(&pool).await.unwrap().is_none());
    sqlx::query!(
        "update message set start_at = now() - interval '1 second' where id = $1",
        id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(fanout::fan_out_next(&pool).await.unwrap().is_some());
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_district_wide_message_reaches_guardians_at_every_school(pool: PgPool) {
    let d = district::district_of(&pool, 3, 150).await;
    let mut draft = district::draft(d.calendar, ContactReason::General, &[Device::Inbox]);
    let one_school = herald_core::messaging::compose::audience_count(&pool, &draft.audience())
        .await
        .unwrap();
    draft.all_schools = true;
    let every_school = herald_core::messaging::compose::audience_count(&pool, &draft.audience())
        .await
        .unwrap();
    let guardians = count(
        &pool,
        "select count(distinct gs.guardian_id) from guardian_student gs join enrollment e on e.student_id = gs.student_id where gs.messenger_contact",
    )
    .await;
    assert!(one_school.people < every_school.people);
    assert_eq!(every_school.people, guardians);
    herald_core::messaging::compose::create(&pool, &draft.compose().unwrap(), &d.sender)
        .await
        .unwrap();
    let f = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert_eq!(f.inbox_jobs as i64, guardians);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_fan_out_cut_short_resumes_with_the_missing_device_only(pool: PgPool) {
    let d = district(&pool, 60).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    let first = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    // As if the worker had died after the inbox step: the email step's work is undone and the
    // claim has run out.
    sqlx::query!(
        "delete from delivery_job where message_id = $1 and device = 'email'",
        id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "delete from message_unreached where message_id = $1 and device = 'email'",
        id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "delete from message_tally where message_id = $1 and device = 'email'",
        id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "update message set fanned_out_at = null, fan_out_by = gen_random_uuid(),
             fan_out_until = now() - interval '1 second' where id = $1",
        id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    let resumed = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert_eq!(resumed.recipients, 0, "recipients are not written twice");
    assert_eq!(resumed.inbox_jobs, 0, "the inbox step is not repeated");
    assert_eq!(resumed.email_jobs, first.email_jobs);
    let inbox = count(
        &pool,
        &format!(
            "select count(*) from delivery_job where message_id = '{id}' and device = 'inbox'"
        ),
    )
    .await;
    assert_eq!(inbox as u64, first.inbox_jobs);
    let state = sent_messages::status(&pool, id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, sent_messages::MessageState::Sending);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_message_canceled_before_its_fan_out_gets_no_jobs(pool: PgPool) {
    let d = district(&pool, 60).await;
    let id = send(&pool, &d, ContactReason::General, &[Device::Inbox]).await;
    herald_core::messaging::compose::cancel(&pool, id)
        .await
        .unwrap();
    assert!(fanout::fan_out_next(&pool).await.unwrap().is_none());
    assert_eq!(count(&pool, "select count(*) from delivery_job").await, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_phone_turned_off_for_a_reason_is_not_called_for_it_while_the_guardians_other_phone_is(
    pool: PgPool,
) {
    let d = district(&pool, 60).await;
    let guardian = sqlx::query_scalar!(
        r#"select gs.guardian_id as "id!" from guardian_student gs
           where gs.messenger_contact limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "delete from contact_method where person_id = $1 and phone is not null",
        guardian
    )
    .execute(&pool)
    .await
    .unwrap();
    let cell = sqlx::query_scalar!(
        "insert into contact_method (person_id, phone, phone_kind) values ($1, '+16125550101', 'cell') returning id",
        guardian
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "insert into contact_method (person_id, phone, phone_kind) values ($1, '+16125550102', 'work')",
        guardian
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "insert into contact_preference (contact_method_id, reason, enabled) values ($1, 'attendance', false)",
        cell
    )
    .execute(&pool)
    .await
    .unwrap();
    let called = |reason: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar!(
                r#"select j.target as "target!" from delivery_job j join message m on m.id = j.message_id
                   where m.reason::text = $1 and j.device = 'phone'
                     and j.target in ('+16125550101', '+16125550102')
                   order by j.target"#,
                reason
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    send(&pool, &d, ContactReason::Attendance, &[Device::Phone]).await;
    fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert_eq!(called("attendance").await, ["+16125550102"]);
    send(&pool, &d, ContactReason::General, &[Device::Phone]).await;
    fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert_eq!(called("general").await, ["+16125550101", "+16125550102"]);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_method_a_reimport_removed_gets_nothing_and_its_owner_is_counted_unreached(pool: PgPool) {
    let d = district(&pool, 60).await;
    // A guardian the message reaches: a messenger contact of a student of its calendar.
    let gone = sqlx::query_scalar!(
        r#"update contact_method set removed_at = now()
           where person_id = (select gs.guardian_id from guardian_student gs
                              join enrollment e on e.student_id = gs.student_id
                                   and e.calendar_id = $1
                              join contact_method cm on cm.person_id = gs.guardian_id
                              where gs.messenger_contact and cm.email is not null
                              order by gs.guardian_id limit 1)
           returning person_id as "id!""#,
        d.calendar as herald_core::domain::CalendarId
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!gone.is_empty());
    send(
        &pool,
        &d,
        ContactReason::Emergency,
        &[Device::Email, Device::Phone],
    )
    .await;
    fanout::fan_out_next(&pool).await.unwrap().unwrap();
    let jobs = sqlx::query_scalar!(
        r#"select count(*) as "n!" from delivery_job j
           join contact_method cm on cm.id = j.contact_method_id
           where cm.removed_at is not null"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(jobs, 0, "nothing is sent to a removed method");
    let recipient = sqlx::query_scalar!(
        r#"select count(*) as "n!" from message_recipient where person_id = $1"#,
        gone[0]
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        recipient, 1,
        "the guardian is among the message's recipients"
    );
    let unreached = sqlx::query_scalar!(
        r#"select count(*) as "n!" from message_unreached
           where person_id = $1 and device = 'email' and cause = 'no_email'"#,
        gone[0]
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unreached, 1, "their only email was removed");
}
