//! Fan-out: a message whose start time has come becomes delivery jobs, in one set-based
//! statement (never a loop of inserts) inside one transaction.
//!
//! What must stay true:
//! - A message is fanned out at most once: the worker that takes it holds its row lock
//!   (`for update skip locked`) and sets `fanned_out_at` in the same transaction.
//! - One job per recipient × device × contact method allowed by that method's preference for the
//!   message's reason (the SQL function `method_allowed`). An address
//!   shared by two recipients (a household phone, a shared email) is reached once.
//! - A recipient reached by no method on a device gets a `message_unreached` row saying why.
//! - `message_tally.total` is written here and never changes afterwards.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::compose::Audience;
use crate::domain::{AudienceKind, CalendarId, ContactReason, Device, MessageId};

/// What one fan-out produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOut {
    pub message_id: Option<MessageId>,
    pub recipients: u64,
    pub email_jobs: u64,
    pub inbox_jobs: u64,
    pub phone_jobs: u64,
    pub unreached: u64,
}

/// Fans out the next due message, if any. Returns what it did.
pub async fn fan_out_next(pool: &PgPool) -> Result<Option<FanOut>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // A district-wide fan-out sorts and hashes a few hundred thousand rows: let it do so in
    // memory rather than in temporary files. And the planner cannot know how large an audience
    // is before reading it (a materialised CTE has no statistics); an earlier version once picked
    // a nested loop over 100,000 × 86,000 rows. Every join here is a bulk join: forbid nested
    // loops so the plan cannot depend on guesses (a ten-person message pays a few milliseconds).
    sqlx::query!("set local work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("set local enable_nestloop = off")
        .execute(&mut *tx)
        .await?;
    let Some(m) = sqlx::query!(
        r#"select id as "id: MessageId", calendar_id as "calendar_id: CalendarId",
               audience as "audience: AudienceKind", all_schools, grade_levels,
               reason as "reason: ContactReason",
               devices as "devices: Vec<Device>", start_at, email_at
           from message
           where fanned_out_at is null and canceled_at is null and start_at <= now()
           order by start_at
           limit 1
           for update skip locked"#
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let start = m.start_at.max(Utc::now());
    let email_due = m.email_at.map_or(start, |e| e.max(start));
    let mut out = FanOut {
        message_id: Some(m.id),
        ..FanOut::default()
    };
    let audience = Audience {
        kind: m.audience,
        calendar: m.calendar_id,
        all_schools: m.all_schools,
        grades: m.grade_levels,
    };
    let counts = jobs(
        &mut tx, m.id, &audience, m.reason, &m.devices, start, email_due,
    )
    .await?;
    out.recipients = counts.recipients;
    out.unreached = counts.email_unreached + counts.phone_unreached;
    for device in &m.devices {
        let jobs = match device {
            Device::Email => counts.email,
            Device::Phone => counts.phone,
            Device::Inbox => counts.inbox,
        };
        match device {
            Device::Email => out.email_jobs = jobs,
            Device::Phone => out.phone_jobs = jobs,
            Device::Inbox => out.inbox_jobs = jobs,
        }
        insert_tally(&mut tx, m.id, *device, jobs).await?;
    }
    sqlx::query!(
        "update message set fanned_out_at = now() where id = $1",
        m.id as MessageId
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(out))
}

/// What the fan-out statement wrote.
struct Counts {
    recipients: u64,
    inbox: u64,
    email: u64,
    email_unreached: u64,
    phone: u64,
    phone_unreached: u64,
}

/// The fan-out itself, one statement: the audience is read once and materialised; recipients,
/// inbox jobs, email jobs and phone jobs (each with the unreached rows of its device) are written
/// from it. Reading the audience back from `message_recipient` instead would cost a second pass
/// and plans built on statistics that know nothing of rows this transaction just wrote.
async fn jobs(
    tx: &mut Transaction<'_, Postgres>,
    id: MessageId,
    a: &Audience,
    reason: ContactReason,
    devices: &[Device],
    start: DateTime<Utc>,
    email_due: DateTime<Utc>,
) -> Result<Counts, sqlx::Error> {
    let r = sqlx::query!(
        r#"with aud as materialized (
               select a.person_id, a.student_ids, p.household_id
               from audience_of($2, $3, $4, $5) a
               join person p on p.id = a.person_id
           ), recipients as (
               insert into message_recipient (message_id, person_id, student_ids)
               select $1, person_id, student_ids from aud
               returning 1
           ), inbox as (
               insert into delivery_job (message_id, device, person_id, target, due_at)
               select $1, 'inbox', person_id, person_id::text, $8 from aud where $9
               returning 1
           ), email_candidate as materialized (
               select a.person_id, cm.id as method_id, cm.email,
                      method_allowed($6, cp.enabled, cm.emergency) as allowed
               from aud a
               join contact_method cm on cm.person_id = a.person_id and cm.email is not null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $6
               where $10
           ), email as (
               insert into delivery_job (message_id, device, person_id, contact_method_id, target, due_at)
               select $1, 'email', first[1], first[2], email, $7
               from (select c.email, min(array[c.person_id, c.method_id]) as first
                     from email_candidate c where c.allowed group by c.email) one_per_address
               returning 1
           ), email_reached as (
               select person_id, bool_or(allowed) as reached from email_candidate group by person_id
           ), email_unreached as (
               insert into message_unreached (message_id, person_id, device, cause)
               select $1, a.person_id, 'email',
                      case when r.person_id is null then 'no_email'
                           when $6 = 'emergency' then 'not_emergency_contact'
                           else 'opted_out' end
               from aud a left join email_reached r on r.person_id = a.person_id
               where $10 and r.reached is not true
               returning 1
           ), phone_candidate as materialized (
               select a.person_id, cm.id as method_id, cm.phone,
                      method_allowed($6, cp.enabled, cm.emergency) as allowed
               from aud a
               join contact_method cm on cm.person_id = a.person_id and cm.phone is not null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $6
               where $11
               union all
               select a.person_id, cm.id, cm.phone, method_allowed($6, cp.enabled, cm.emergency)
               from aud a
               join contact_method cm on cm.household_id = a.household_id
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $6
               where $11
           ), phone as (
               insert into delivery_job (message_id, device, person_id, contact_method_id, target, due_at)
               select $1, 'phone', first[1], first[2], phone, $8
               from (select c.phone, min(array[c.person_id, c.method_id]) as first
                     from phone_candidate c where c.allowed group by c.phone) one_per_number
               returning 1
           ), phone_reached as (
               select person_id, bool_or(allowed) as reached from phone_candidate group by person_id
           ), phone_unreached as (
               insert into message_unreached (message_id, person_id, device, cause)
               select $1, a.person_id, 'phone',
                      case when r.person_id is null then 'no_phone'
                           when $6 = 'emergency' then 'not_emergency_contact'
                           else 'opted_out' end
               from aud a left join phone_reached r on r.person_id = a.person_id
               where $11 and r.reached is not true
               returning 1
           )
           select (select count(*) from recipients) as "recipients!",
                  (select count(*) from inbox) as "inbox!",
                  (select count(*) from email) as "email!",
                  (select count(*) from email_unreached) as "email_unreached!",
                  (select count(*) from phone) as "phone!",
                  (select count(*) from phone_unreached) as "phone_unreached!""#,
        id as MessageId,
        a.calendar as CalendarId,
        a.all_schools,
        a.kind as AudienceKind,
        &a.grades,
        reason as ContactReason,
        email_due,
        start,
        devices.contains(&Device::Inbox),
        devices.contains(&Device::Email),
        devices.contains(&Device::Phone),
    )
    .fetch_one(&mut **tx)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Counts {
        recipients: n(r.recipients),
        inbox: n(r.inbox),
        email: n(r.email),
        email_unreached: n(r.email_unreached),
        phone: n(r.phone),
        phone_unreached: n(r.phone_unreached),
    })
}

async fn insert_tally(
    tx: &mut Transaction<'_, Postgres>,
    id: MessageId,
    device: Device,
    total: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into message_tally (message_id, device, total) values ($1, $2, $3)",
        id as MessageId,
        device as Device,
        total as i64,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
