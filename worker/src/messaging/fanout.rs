//! Fan-out: a message whose start time has come becomes delivery jobs, in one transaction of a
//! few set-based statements (never a loop of inserts).
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
    // memory rather than in temporary files. And the recipients it reads back were written by
    // this very transaction, so the planner's statistics know nothing of them; it once picked a
    // nested loop over 100,000 × 86,000 rows. Every join here is a bulk join: forbid nested
    // loops so the plan cannot depend on stale statistics (a ten-person message pays a few
    // milliseconds for it).
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
    out.recipients = insert_recipients(&mut tx, m.id, &audience).await?;
    for device in &m.devices {
        let (jobs, unreached) = match device {
            Device::Email => email_jobs(&mut tx, m.id, m.reason, email_due).await?,
            Device::Phone => phone_jobs(&mut tx, m.id, m.reason, start).await?,
            Device::Inbox => (inbox_jobs(&mut tx, m.id, start).await?, 0),
        };
        match device {
            Device::Email => out.email_jobs = jobs,
            Device::Phone => out.phone_jobs = jobs,
            Device::Inbox => out.inbox_jobs = jobs,
        }
        out.unreached += unreached;
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

async fn insert_recipients(
    tx: &mut Transaction<'_, Postgres>,
    id: MessageId,
    a: &Audience,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "insert into message_recipient (message_id, person_id, student_ids)
         select $1, a.person_id, a.student_ids from audience_of($2, $5, $3, $4) a",
        id as MessageId,
        a.calendar as CalendarId,
        a.kind as AudienceKind,
        &a.grades,
        a.all_schools,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Email jobs and the unreached rows for email, in one statement. Returns (jobs, unreached).
async fn email_jobs(
    tx: &mut Transaction<'_, Postgres>,
    id: MessageId,
    reason: ContactReason,
    due: DateTime<Utc>,
) -> Result<(u64, u64), sqlx::Error> {
    let row = sqlx::query!(
        r#"with candidate as materialized (
               select r.person_id, cm.id as method_id, cm.email,
                      method_allowed($2, cp.enabled, cm.emergency) as allowed
               from message_recipient r
               join contact_method cm on cm.person_id = r.person_id and cm.email is not null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where r.message_id = $1
           ), jobs as (
               insert into delivery_job (message_id, device, person_id, contact_method_id, target, due_at)
               select distinct on (c.email collate "C") $1, 'email', c.person_id, c.method_id, c.email, $3
               from candidate c where c.allowed
               order by c.email collate "C", c.person_id
               returning 1
           ), per_person as (
               select c.person_id, bool_or(c.allowed) as reached
               from candidate c group by c.person_id
           ), unreached as (
               insert into message_unreached (message_id, person_id, device, cause)
               select $1, r.person_id, 'email',
                      case when p.person_id is null then 'no_email'
                           when $2 = 'emergency' then 'not_emergency_contact'
                           else 'opted_out' end
               from message_recipient r
               left join per_person p on p.person_id = r.person_id
               where r.message_id = $1 and p.reached is not true
               returning 1
           )
           select (select count(*) from jobs) as "jobs!", (select count(*) from unreached) as "unreached!""#,
        id as MessageId,
        reason as ContactReason,
        due,
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.jobs as u64, row.unreached as u64))
}

/// Phone jobs (the recipient's own phones and their household's phone) and the unreached rows.
async fn phone_jobs(
    tx: &mut Transaction<'_, Postgres>,
    id: MessageId,
    reason: ContactReason,
    due: DateTime<Utc>,
) -> Result<(u64, u64), sqlx::Error> {
    let row = sqlx::query!(
        r#"with candidate as materialized (
               select r.person_id, cm.id as method_id, cm.phone,
                      method_allowed($2, cp.enabled, cm.emergency) as allowed
               from message_recipient r
               join contact_method cm on cm.person_id = r.person_id and cm.phone is not null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where r.message_id = $1
               union all
               select r.person_id, cm.id, cm.phone, method_allowed($2, cp.enabled, cm.emergency)
               from message_recipient r
               join person p on p.id = r.person_id
               join contact_method cm on cm.household_id = p.household_id
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where r.message_id = $1
           ), jobs as (
               insert into delivery_job (message_id, device, person_id, contact_method_id, target, due_at)
               select distinct on (c.phone collate "C") $1, 'phone', c.person_id, c.method_id, c.phone, $3
               from candidate c where c.allowed
               order by c.phone collate "C", c.person_id
               returning 1
           ), per_person as (
               select c.person_id, bool_or(c.allowed) as reached
               from candidate c group by c.person_id
           ), unreached as (
               insert into message_unreached (message_id, person_id, device, cause)
               select $1, r.person_id, 'phone',
                      case when p.person_id is null then 'no_phone'
                           when $2 = 'emergency' then 'not_emergency_contact'
                           else 'opted_out' end
               from message_recipient r
               left join per_person p on p.person_id = r.person_id
               where r.message_id = $1 and p.reached is not true
               returning 1
           )
           select (select count(*) from jobs) as "jobs!", (select count(*) from unreached) as "unreached!""#,
        id as MessageId,
        reason as ContactReason,
        due,
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.jobs as u64, row.unreached as u64))
}

/// One portal notice job per recipient: the inbox needs no address and has no preference.
async fn inbox_jobs(
    tx: &mut Transaction<'_, Postgres>,
    id: MessageId,
    due: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "insert into delivery_job (message_id, device, person_id, target, due_at)
         select $1, 'inbox', r.person_id, r.person_id::text, $2
         from message_recipient r where r.message_id = $1",
        id as MessageId,
        due,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected())
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
