//! The delivery queue: leasing jobs, and every transition after that.
//!
//! What must stay true:
//! - A job is in one worker's hands at a time. [`lease`] takes due jobs with `for update skip
//!   locked` and sets `due_at` to the lease deadline; a job whose worker died is due again when
//!   that deadline passes, and is leased afresh (with `attempts` counting the lease), until its
//!   `max_attempts`-th lease runs out: then it fails, saying so.
//! - Every later transition is conditional on `leased_by` and status `leased`: a worker whose
//!   lease was taken over cannot mark a job it no longer holds.
//! - The inbox notice and the job's `sent` mark are written by one statement ([`deliver_notices`]),
//!   and `portal_notice.job_id` is unique: a retried job never makes a second notice.
//! - `message_tally` moves in the same statement as the jobs it counts. Confirmation jobs are not
//!   counted: they are about the message, not part of it.
//! - A job goes to the SMTP server or the voice provider only after [`hand_over`] marked it
//!   handed, under this worker's live lease, and a cancel ([`cancel_pending`]) takes every job not
//!   handed over. The two are row updates on the same job, so one of them wins: a job of a
//!   canceled message is never delivered after the cancel commits, except one already handed
//!   over at that moment, which ends as its worker says (delivered or canceled, never both).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::{Device, JobId, JobKind, JobStatus, MessageId, PersonId};

/// A job in this worker's hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedJob {
    /// The job's id.
    pub id: JobId,
    /// The message it delivers; for an error report, the report's id.
    pub message_id: MessageId,
    /// A message copy, a test, a confirmation or an error report.
    pub kind: JobKind,
    /// The recipient; `None` for confirmations and error reports, which go to an address.
    pub person_id: Option<PersonId>,
    /// The email address or phone the job goes to came from this contact method (none for the
    /// inbox, tests and confirmations).
    pub contact_method_id: Option<Uuid>,
    /// The email address, phone number (E.164) or, for the inbox, the person the job delivers to.
    pub target: String,
    /// 1 on the first lease.
    pub attempts: i32,
    /// The lease deadline: after it, another worker may take the job.
    pub lease_until: DateTime<Utc>,
    /// The job was leased from a worker whose lease ran out (a takeover).
    pub taken_over: bool,
}

/// Takes up to `limit` due jobs of one device for `worker`, for `lease_seconds`. A due job whose
/// lease has run out after its `max_attempts`-th lease is not leased again: it fails, saying that
/// its worker's lease ran out, so a job that brings down every worker that takes it ends instead
/// of going round for ever.
pub async fn lease(
    pool: &PgPool,
    device: Device,
    worker: Uuid,
    lease_seconds: i64,
    limit: i64,
    max_attempts: i32,
) -> Result<Vec<LeasedJob>, sqlx::Error> {
    let jobs = sqlx::query_as!(
        LeasedJob,
        r#"with picked as (
               select id, status = 'leased' and attempts >= $5 as given_up,
                      status = 'leased' as taken_over
               from delivery_job
               where device = $1 and status in ('queued', 'leased', 'retrying') and due_at <= now()
               order by due_at
               limit $4
               for update skip locked
           ), given_up as (
               update delivery_job j
               set status = 'failed', failed_at = now(),
                   last_error = 'given up after ' || j.attempts || ' attempts: the lease of the '
                       || 'worker holding it ran out before it was delivered (the worker stopped '
                       || 'or lost the database)'
               from picked
               where j.id = picked.id and picked.given_up
               returning j.id, j.attempts, j.message_id, j.device, j.kind, j.last_error
           ), attempt as (
               insert into delivery_attempt (job_id, attempt, outcome, detail)
               select id, attempts, 'failed', last_error from given_up
               on conflict (job_id, attempt) do nothing
               returning 1
           ), counted as (
               update message_tally t set failed = t.failed + c.n
               from (select message_id, device, count(*) as n from given_up
                     where kind <> 'confirmation' group by message_id, device) c
               where t.message_id = c.message_id and t.device = c.device
               returning 1
           )
           update delivery_job j
           set status = 'leased', leased_by = $2, leased_at = now(), attempts = j.attempts + 1,
               due_at = now() + make_interval(secs => $3), handed_at = null
           from picked
           where j.id = picked.id and not picked.given_up
           returning j.id as "id: JobId", j.message_id as "message_id: MessageId",
               j.kind as "kind: JobKind", j.person_id as "person_id: PersonId", j.contact_method_id,
               j.target,
               j.attempts, j.due_at as lease_until, picked.taken_over as "taken_over!""#,
        device as Device,
        worker,
        lease_seconds as f64,
        limit,
        max_attempts,
    )
    .fetch_all(pool)
    .await?;
    crate::metrics::takeovers(device, jobs.iter().filter(|j| j.taken_over).count() as u64);
    Ok(jobs)
}

/// Marks a job this worker holds as handed to the SMTP server or the voice provider, just before
/// it is; `false` when the job is no longer this worker's to deliver (canceled, or its lease
/// taken over), and then it must not be sent.
pub async fn hand_over(pool: &PgPool, worker: Uuid, job: JobId) -> Result<bool, sqlx::Error> {
    let handed = sqlx::query!(
        r#"update delivery_job set handed_at = now()
           where id = $2 and leased_by = $1 and status = 'leased' and due_at > now()"#,
        worker,
        job as JobId,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(handed == 1)
}

/// Marks jobs this worker holds as sent; returns how many it still held.
pub async fn mark_sent(pool: &PgPool, worker: Uuid, ids: &[JobId]) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let n = sqlx::query_scalar!(
        r#"with done as (
               update delivery_job set status = 'sent', sent_at = now()
               where id = any($2) and leased_by = $1 and status = 'leased'
               returning message_id, device, kind
           ), counted as (
               update message_tally t set sent = t.sent + c.n
               from (select message_id, device, count(*) as n from done
                     where kind <> 'confirmation' group by message_id, device) c
               where t.message_id = c.message_id and t.device = c.device
               returning 1
           )
           select count(*) as "n!" from done"#,
        worker,
        ids as &[JobId],
    )
    .fetch_one(pool)
    .await?;
    Ok(n as u64)
}

/// Writes the notices of the inbox jobs `jobs` and marks the jobs sent, in one statement; returns
/// how many jobs this worker still held (and so delivered). A notice stores no copy of its
/// message: the portal renders it when it is read (see `notices`).
pub async fn deliver_notices(
    pool: &PgPool,
    worker: Uuid,
    jobs: &[JobId],
) -> Result<u64, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let n = sqlx::query_scalar!(
        r#"with done as (
               update delivery_job j set status = 'sent', sent_at = now()
               where j.id = any($2::bigint[]) and j.leased_by = $1 and j.status = 'leased'
                 and j.device = 'inbox'
               returning j.id, j.message_id, j.person_id, j.device, j.kind
           ), noticed as (
               insert into portal_notice (person_id, message_id, job_id, reason)
               select d.person_id, d.message_id, d.id, m.reason
               from done d
               join message m on m.id = d.message_id
               on conflict (job_id) do nothing
               returning 1
           ), counted as (
               update message_tally t set sent = t.sent + c.n
               from (select message_id, device, count(*) as n from done
                     where kind <> 'confirmation' group by message_id, device) c
               where t.message_id = c.message_id and t.device = c.device
               returning 1
           )
           select count(*) as "n!" from done"#,
        worker,
        jobs as &[JobId],
    )
    .fetch_one(pool)
    .await?;
    Ok(n as u64)
}

/// Why a delivery attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Worth trying again later (an SMTP 4xx, a dropped connection).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Trying again cannot help (an SMTP 5xx, an address the server refuses).
    #[error("fatal: {0}")]
    Fatal(String),
}

/// How failing an attempt left the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Scheduled for another attempt.
    Retrying,
    /// Given up on (fatal, or out of attempts).
    Failed,
    /// The job was no longer this worker's to fail.
    NotHeld,
}

/// Records a failed attempt: a retry after exponential backoff (`backoff_seconds` × 2^(attempt-1),
/// at most six hours), or a final failure when the error is fatal or `max_attempts` is reached.
pub async fn fail(
    pool: &PgPool,
    worker: Uuid,
    job: JobId,
    failure: &Failure,
    max_attempts: i32,
    backoff_seconds: i64,
) -> Result<FailOutcome, sqlx::Error> {
    let (fatal, detail) = match failure {
        Failure::Retryable(d) => (false, d.as_str()),
        Failure::Fatal(d) => (true, d.as_str()),
    };
    let status = sqlx::query_scalar!(
        r#"with failed as (
               update delivery_job set
                   status = case when $3 or attempts >= $4 then 'failed' else 'retrying' end::job_status,
                   failed_at = case when $3 or attempts >= $4 then now() end,
                   due_at = case when $3 or attempts >= $4 then due_at
                                 else now() + make_interval(secs => least($5 * power(2, attempts - 1), 21600)) end,
                   last_error = $6
               where id = $2 and leased_by = $1 and status = 'leased'
               returning id, attempts, status, message_id, device, kind
           ), attempt as (
               insert into delivery_attempt (job_id, attempt, outcome, detail)
               select id, attempts, status, $6 from failed
               on conflict (job_id, attempt) do nothing
               returning 1
           ), counted as (
               update message_tally t set failed = t.failed + 1
               from failed f
               where f.status = 'failed' and f.kind <> 'confirmation'
                 and t.message_id = f.message_id and t.device = f.device
               returning 1
           )
           select status as "status!: JobStatus" from failed"#,
        worker,
        job as JobId,
        fatal,
        max_attempts,
        backoff_seconds as f64,
        detail,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match status {
        Some(JobStatus::Failed) => FailOutcome::Failed,
        Some(_) => FailOutcome::Retrying,
        None => FailOutcome::NotHeld,
    })
}

/// Hands jobs back unsent (the worker is stopping): due now, and the lease does not count as
/// an attempt.
pub async fn release(pool: &PgPool, worker: Uuid, ids: &[JobId]) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        r#"update delivery_job set
               status = case when attempts <= 1 then 'queued' else 'retrying' end::job_status,
               attempts = attempts - 1, due_at = now(), handed_at = null
           where id = any($2) and leased_by = $1 and status = 'leased'"#,
        worker,
        ids as &[JobId],
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Hands jobs back unsent because the SMTP server refused every email for a reason of its own
/// (Herald's sign-in, relaying, an outage): the lease does not count as an attempt, so no
/// recipient's email runs out of attempts while the relay is broken; the job is due again in
/// `pause_seconds`, and its `last_error` says why it waits. Returns how many this worker held.
pub async fn hold_back(
    pool: &PgPool,
    worker: Uuid,
    ids: &[JobId],
    pause_seconds: f64,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        r#"update delivery_job set
               status = 'retrying', attempts = attempts - 1,
               due_at = now() + make_interval(secs => $3), handed_at = null, last_error = $4
           where id = any($2) and leased_by = $1 and status = 'leased'"#,
        worker,
        ids as &[JobId],
        pause_seconds,
        reason,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Cancels the jobs of these messages that are not handed over (queued, retrying, leased but
/// not yet handed, or handed under a lease that has run out), and those whose calls are with the
/// voice provider (asking for the calls to be hung up). A job handed over under a live lease ends
/// as its worker says. Returns how many were canceled.
pub(crate) async fn cancel_pending(
    tx: &mut Transaction<'_, Postgres>,
    messages: &[MessageId],
) -> Result<u64, sqlx::Error> {
    let n = sqlx::query_scalar!(
        r#"with canceled as (
               update delivery_job set status = 'canceled', canceled_at = now()
               where message_id = any($1)
                 and (status in ('queued', 'retrying')
                      or (status = 'leased' and (handed_at is null or due_at <= now())))
               returning message_id, device, kind
           ), counted as (
               update message_tally t set canceled = t.canceled + c.n
               from (select message_id, device, count(*) as n from canceled
                     where kind <> 'confirmation' group by message_id, device) c
               where t.message_id = c.message_id and t.device = c.device
               returning 1
           )
           select count(*) as "n!" from canceled"#,
        messages as &[MessageId],
    )
    .fetch_one(&mut **tx)
    .await?;
    let calling = crate::dialer::calls::cancel_calling(tx, messages).await?;
    Ok(n as u64 + calling)
}

/// Marks fanned-out messages whose jobs have all ended as finished, and queues the sender's
/// confirmation email for those that asked. Returns the messages finished.
pub async fn finish_messages(pool: &PgPool) -> Result<Vec<MessageId>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"with finished as (
               update message m set finished_at = now()
               where m.fanned_out_at is not null and m.finished_at is null
                 and not exists (
                     select 1 from message_tally t
                     where t.message_id = m.id and t.sent + t.failed + t.canceled < t.total
                 )
               returning m.id, m.confirm_to_sender, m.sender_email, m.is_test
           ), confirm as (
               insert into delivery_job (message_id, kind, device, target, due_at)
               select id, 'confirmation', 'email', sender_email, now()
               from finished where confirm_to_sender and not is_test
               returning 1
           )
           select id as "id: MessageId" from finished"#
    )
    .fetch_all(pool)
    .await
}

/// How much of one device's queue is waiting, as `herald-worker status` reports it to ops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    /// The device these counts are for.
    pub device: Device,
    /// Due now: queued or retrying jobs whose time has come, and leases that ran out.
    pub due: i64,
    /// Queued or retrying, due later (a scheduled email time, a dial window, a retry).
    pub later: i64,
    /// In a worker's hands (a live lease) or on a call.
    pub in_progress: i64,
    /// When the longest-waiting due job became due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// The queue's depth per device, for every device with unended jobs.
pub async fn depth(pool: &PgPool) -> Result<Vec<Depth>, sqlx::Error> {
    sqlx::query_as!(
        Depth,
        r#"select device as "device!: Device",
                  count(*) filter (where status <> 'calling' and due_at <= now()) as "due!",
                  count(*) filter (where status in ('queued', 'retrying') and due_at > now()) as "later!",
                  count(*) filter (where status = 'calling' or (status = 'leased' and due_at > now()))
                      as "in_progress!",
                  min(due_at) filter (where status <> 'calling' and due_at <= now()) as oldest_due
           from delivery_job
           where status in ('queued', 'leased', 'retrying', 'calling')
           group by device
           order by device"#
    )
    .fetch_all(pool)
    .await
}
