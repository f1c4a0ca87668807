//! Fan-out: a message whose start time has come becomes delivery jobs, by a few set-based
//! statements (never a loop of inserts), resumably and with its devices in parallel.
//!
//! A worker **claims** the message (a lease: `fan_out_by`, `fan_out_until`, taken with `for
//! update skip locked`), writes its **recipients** (marked by `recipients_at`, in the same
//! transaction), then writes each **device's** jobs in a transaction of its own, the devices side
//! by side on separate connections; and marks the message **fanned out** once every device is
//! done. Inbox notices can start going out while email jobs are still being written.
//!
//! What must stay true:
//! - Each step happens once, whoever runs it: the recipients step is conditional on
//!   `recipients_at is null`, and a device's `message_tally` row (primary key: message, device)
//!   is inserted in the same transaction as that device's jobs; a second worker on the same
//!   device waits on the key, then finds it taken and skips. A worker that dies mid-way leaves
//!   its claim to expire; the next worker resumes with the steps still missing.
//! - One job per recipient × device × contact method allowed by that method's preference for the
//!   message's reason (the SQL function `method_allowed`). An address shared by two recipients
//!   (a household phone, a shared email) is reached once.
//! - A recipient reached by no method on a device gets a `message_unreached` row saying why, an
//!   [`UnreachedCause`] bound as a parameter (the SQL spells no cause itself).
//! - A cancel never misses jobs being written: each device step holds a share lock on the
//!   message row, which the cancel's update waits for.
//! - `message_tally.total`, `first_job` and `last_job` are written here and never change
//!   afterwards; every job of the device has an id between `first_job` and `last_job`.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::compose::Audience;
use crate::domain::{AudienceKind, CalendarId, ContactReason, Device, MessageId, UnreachedCause};

/// How long a claim on a message's fan-out lasts before another worker may resume it.
const CLAIM_SECONDS: f64 = 120.0;

/// What one fan-out produced (for the steps this call performed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOut {
    /// The message claimed; `None` only in a default value.
    pub message_id: Option<MessageId>,
    /// Recipients written by this call (0 when an earlier run had already written them).
    pub recipients: u64,
    /// Email jobs written by this call.
    pub email_jobs: u64,
    /// Portal inbox jobs written by this call.
    pub inbox_jobs: u64,
    /// Phone jobs written by this call.
    pub phone_jobs: u64,
    /// `message_unreached` rows written by this call, over all devices.
    pub unreached: u64,
}

/// The message being fanned out.
struct Claimed {
    id: MessageId,
    audience: Audience,
    reason: ContactReason,
    devices: Vec<Device>,
    start: DateTime<Utc>,
    email_due: DateTime<Utc>,
}

/// Fans out the next due message (or resumes one whose claim ran out), if any.
pub async fn fan_out_next(pool: &PgPool) -> Result<Option<FanOut>, sqlx::Error> {
    let me = Uuid::new_v4();
    let Some(m) = claim(pool, me).await? else {
        return Ok(None);
    };
    let mut out = FanOut {
        message_id: Some(m.id),
        ..FanOut::default()
    };
    out.recipients = recipients(pool, &m, me).await?;
    let results = futures::future::join_all(
        m.devices
            .iter()
            .map(|device| device_jobs(pool, &m, *device)),
    )
    .await;
    for (device, result) in m.devices.iter().zip(results) {
        let (jobs, unreached) = result?;
        match device {
            Device::Email => out.email_jobs = jobs,
            Device::Phone => out.phone_jobs = jobs,
            Device::Inbox => out.inbox_jobs = jobs,
        }
        out.unreached += unreached;
    }
    sqlx::query!(
        "update message set fanned_out_at = now(), fan_out_by = null, fan_out_until = null
         where id = $1 and fanned_out_at is null
           and (select count(*) from message_tally t where t.message_id = $1) = cardinality(devices)",
        m.id as MessageId
    )
    .execute(pool)
    .await?;
    Ok(Some(out))
}

async fn claim(pool: &PgPool, me: Uuid) -> Result<Option<Claimed>, sqlx::Error> {
    let Some(m) = sqlx::query!(
        r#"with due as (
               select id from message
               where fanned_out_at is null and canceled_at is null and start_at <= now()
                 and (fan_out_until is null or fan_out_until < now())
               order by start_at
               limit 1
               for update skip locked
           )
           update message m
           set fan_out_by = $1, fan_out_until = now() + make_interval(secs => $2)
           from due
           where m.id = due.id
           returning m.id as "id: MessageId", m.calendar_id as "calendar_id: CalendarId",
               m.audience as "audience: AudienceKind", m.all_schools, m.grade_levels,
               m.reason as "reason: ContactReason", m.devices as "devices: Vec<Device>",
               m.start_at, m.email_at"#,
        me,
        CLAIM_SECONDS,
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let start = m.start_at.max(Utc::now());
    Ok(Some(Claimed {
        id: m.id,
        audience: Audience {
            kind: m.audience,
            calendar: m.calendar_id,
            all_schools: m.all_schools,
            grades: m.grade_levels,
        },
        reason: m.reason,
        devices: m.devices,
        start,
        email_due: m.email_at.map_or(start, |e| e.max(start)),
    }))
}

/// A transaction tuned for bulk work. A district-wide step sorts and hashes a few hundred
/// thousand rows: in memory, not temporary files. And it reads recipients written moments ago,
/// which the planner's statistics know nothing of (an early version picked a nested loop over
/// 100,000 × 86,000 rows and took 86 s): every join here is a bulk join, so nested loops are
/// off and the plan cannot hinge on stale statistics (a ten-person message pays milliseconds).
async fn bulk(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query!("set local work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("set local enable_nestloop = off")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Writes the recipients once; returns how many this call wrote (0 when already done, or when
/// the claim passed to another worker).
async fn recipients(pool: &PgPool, m: &Claimed, me: Uuid) -> Result<u64, sqlx::Error> {
    let mut tx = bulk(pool).await?;
    let mine = sqlx::query!(
        "update message set recipients_at = now()
         where id = $1 and recipients_at is null and fan_out_by = $2",
        m.id as MessageId,
        me,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if mine == 0 {
        return Ok(0);
    }
    let a = &m.audience;
    let n = sqlx::query!(
        "insert into message_recipient (message_id, person_id, student_ids)
         select $1, a.person_id, a.student_ids from audience_of($2, $3, $4, $5) a",
        m.id as MessageId,
        a.calendar as CalendarId,
        a.all_schools,
        a.kind as AudienceKind,
        &a.grades,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// One device's jobs and unreached rows, once: returns (jobs, unreached), zeros when another
/// worker already did this device.
async fn device_jobs(
    pool: &PgPool,
    m: &Claimed,
    device: Device,
) -> Result<(u64, u64), sqlx::Error> {
    let mut tx = bulk(pool).await?;
    // The device's tally row is its "done" mark: taken first, committed with the jobs.
    let mine = sqlx::query!(
        "insert into message_tally (message_id, device, total) values ($1, $2, 0)
         on conflict (message_id, device) do nothing",
        m.id as MessageId,
        device as Device,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if mine == 0 {
        return Ok((0, 0));
    }
    // A share lock on the message: a cancel waits for these jobs to commit, then cancels them;
    // a cancel that came first means none are written.
    let canceled = sqlx::query_scalar!(
        r#"select canceled_at is not null as "canceled!" from message where id = $1 for share"#,
        m.id as MessageId,
    )
    .fetch_one(&mut *tx)
    .await?;
    if canceled {
        return Ok((0, 0));
    }
    let written = match device {
        Device::Email => email(&mut tx, m).await?,
        Device::Phone => phone(&mut tx, m).await?,
        Device::Inbox => inbox(&mut tx, m).await?,
    };
    let (first, last) = written.ids.unzip();
    sqlx::query!(
        "update message_tally set total = $3, first_job = $4, last_job = $5
         where message_id = $1 and device = $2",
        m.id as MessageId,
        device as Device,
        written.jobs as i64,
        first,
        last,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((written.jobs, written.unreached))
}

/// What one device's statement wrote: jobs, unreached rows, and the first and last job id
/// (every job of the device lies between them; none when there are no jobs).
struct Written {
    jobs: u64,
    unreached: u64,
    ids: Option<(i64, i64)>,
}

/// Email jobs and the unreached rows for email, in one statement. Returns (jobs, unreached).
async fn email(tx: &mut Transaction<'_, Postgres>, m: &Claimed) -> Result<Written, sqlx::Error> {
    let row = sqlx::query!(
        r#"with candidate as materialized (
               select r.person_id, cm.id as method_id, cm.email,
                      method_allowed($2, cp.enabled, cm.emergency) as allowed
               from message_recipient r
               join contact_method cm on cm.person_id = r.person_id and cm.email is not null
                    and cm.removed_at is null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where r.message_id = $1
           ), jobs as (
               insert into delivery_job (message_id, device, person_id, contact_method_id, target, due_at)
               select $1, 'email', first[1], first[2], email, $3
               from (select c.email, min(array[c.person_id, c.method_id]) as first
                     from candidate c where c.allowed group by c.email) one_per_address
               returning id
           ), reached as (
               select person_id, bool_or(allowed) as reached from candidate group by person_id
           ), unreached as (
               insert into message_unreached (message_id, person_id, device, cause)
               select $1, r.person_id, 'email',
                      case when p.person_id is null then $4
                           when $2 = 'emergency' then $5
                           else $6 end
               from message_recipient r
               left join reached p on p.person_id = r.person_id
               where r.message_id = $1 and p.reached is not true
               returning 1
           )
           select (select count(*) from jobs) as "jobs!", (select count(*) from unreached) as "unreached!",
                  (select min(id) from jobs) as first_job, (select max(id) from jobs) as last_job"#,
        m.id as MessageId,
        m.reason as ContactReason,
        m.email_due,
        UnreachedCause::NoEmail as UnreachedCause,
        UnreachedCause::NotEmergencyContact as UnreachedCause,
        UnreachedCause::OptedOut as UnreachedCause,
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(Written {
        jobs: row.jobs as u64,
        unreached: row.unreached as u64,
        ids: row.first_job.zip(row.last_job),
    })
}

/// Phone jobs (the recipient's own phones and their household's phone) and the unreached rows.
async fn phone(tx: &mut Transaction<'_, Postgres>, m: &Claimed) -> Result<Written, sqlx::Error> {
    let row = sqlx::query!(
        r#"with candidate as materialized (
               select r.person_id, cm.id as method_id, cm.phone,
                      method_allowed($2, cp.enabled, cm.emergency) as allowed
               from message_recipient r
               join contact_method cm on cm.person_id = r.person_id and cm.phone is not null
                    and cm.removed_at is null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where r.message_id = $1
               union all
               select r.person_id, cm.id, cm.phone, method_allowed($2, cp.enabled, cm.emergency)
               from message_recipient r
               join person p on p.id = r.person_id
               join contact_method cm on cm.household_id = p.household_id and cm.removed_at is null
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where r.message_id = $1
           ), jobs as (
               insert into delivery_job (message_id, device, person_id, contact_method_id, target, due_at)
               select $1, 'phone', first[1], first[2], phone, $3
               from (select c.phone, min(array[c.person_id, c.method_id]) as first
                     from candidate c where c.allowed group by c.phone) one_per_number
               returning id
           ), reached as (
               select person_id, bool_or(allowed) as reached from candidate group by person_id
           ), unreached as (
               insert into message_unreached (message_id, person_id, device, cause)
               select $1, r.person_id, 'phone',
                      case when p.person_id is null then $4
                           when $2 = 'emergency' then $5
                           else $6 end
               from message_recipient r
               left join reached p on p.person_id = r.person_id
               where r.message_id = $1 and p.reached is not true
               returning 1
           )
           select (select count(*) from jobs) as "jobs!", (select count(*) from unreached) as "unreached!",
                  (select min(id) from jobs) as first_job, (select max(id) from jobs) as last_job"#,
        m.id as MessageId,
        m.reason as ContactReason,
        m.start,
        UnreachedCause::NoPhone as UnreachedCause,
        UnreachedCause::NotEmergencyContact as UnreachedCause,
        UnreachedCause::OptedOut as UnreachedCause,
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(Written {
        jobs: row.jobs as u64,
        unreached: row.unreached as u64,
        ids: row.first_job.zip(row.last_job),
    })
}

/// One portal notice job per recipient: the inbox needs no address and has no preference.
async fn inbox(tx: &mut Transaction<'_, Postgres>, m: &Claimed) -> Result<Written, sqlx::Error> {
    let row = sqlx::query!(
        r#"with jobs as (
               insert into delivery_job (message_id, device, person_id, target, due_at)
               select $1, 'inbox', r.person_id, r.person_id::text, $2
               from message_recipient r where r.message_id = $1
               returning id)
           select count(*) as "jobs!", min(id) as first_job, max(id) as last_job from jobs"#,
        m.id as MessageId,
        m.start,
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(Written {
        jobs: row.jobs as u64,
        unreached: 0,
        ids: row.first_job.zip(row.last_job),
    })
}
