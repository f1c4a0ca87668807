//! The SQL of phone jobs and their calls (`phone_call`, `dialer_pace`, and the phone side of
//! `delivery_job`).
//!
//! What must stay true:
//! - A `phone_call` row exists before the provider is asked ([`start_call`]), so a callback that
//!   overtakes the provider's answer still finds its call.
//! - [`mark_calling`] takes the message row `for share`, like fan-out: a cancel either sees the job
//!   `calling` (and asks for a hang-up) or has committed first (and the job is canceled and its
//!   call hung up here).
//! - [`apply_status`] changes a call only if it has not ended and the update is newer than the
//!   last one applied; it ends a job only if the call belongs to the job's current attempt and
//!   the job is still waiting on it. Replays and late callbacks change nothing.
//! - `message_tally` moves in the same statement as the jobs it counts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::provider::{CallState, CallStatus};
use crate::domain::{JobId, JobStatus, MessageId};

/// How much wider than `1 / cap` the slots are: 2% (20 ms of a second at any cap).
pub const PACE_MARGIN: f64 = 1.02;

/// Reserves the next start slot under the calls-per-second cap, shared by every worker through
/// the one `dialer_pace` row; returns how long to wait for it.
///
/// Slots are [`PACE_MARGIN`] wider than the cap asks, so that a few milliseconds of jitter
/// between a worker's start and the provider's receipt cannot put more than the cap's calls into
/// any second the provider counts.
pub async fn reserve_slot(pool: &PgPool, calls_per_second: f64) -> Result<Duration, sqlx::Error> {
    let spacing = PACE_MARGIN / calls_per_second;
    let wait = sqlx::query_scalar!(
        r#"update dialer_pace
           set next_slot = greatest(next_slot, clock_timestamp())
                           + make_interval(secs => $1::float8)
           returning extract(epoch from next_slot - make_interval(secs => $1::float8)
                                         - clock_timestamp())::float8 as "wait!""#,
        spacing,
    )
    .fetch_one(pool)
    .await?;
    Ok(Duration::from_secs_f64(wait.max(0.0)))
}

/// Holds every worker's next call back for `pause` (the provider answered 429 Too Many
/// Requests): the pace row is shared, so the whole district's dialing slows, not one worker's.
pub async fn pause_pacing(pool: &PgPool, pause: Duration) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update dialer_pace
         set next_slot = greatest(next_slot, clock_timestamp() + make_interval(secs => $1))",
        pause.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands leased jobs back until `until` (outside the dial window): the lease does not count as an
/// attempt.
pub async fn defer(
    pool: &PgPool,
    worker: Uuid,
    ids: &[JobId],
    until: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        r#"update delivery_job set
               status = case when attempts <= 1 then 'queued' else 'retrying' end::job_status,
               attempts = attempts - 1, due_at = $3
           where id = any($2) and leased_by = $1 and status = 'leased'"#,
        worker,
        ids as &[JobId],
        until,
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Records a call about to be placed for a job's attempt; returns its id (named in the
/// callback URL).
pub async fn start_call(pool: &PgPool, job: JobId, attempt: i32) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into phone_call (job_id, attempt) values ($1, $2)
         on conflict (job_id, attempt) do update set placed_at = now()
         returning id",
        job as JobId,
        attempt,
    )
    .fetch_one(pool)
    .await
}

/// A call an earlier attempt of the job placed whose end is unknown.
#[derive(Debug, Clone)]
pub struct Adopted {
    /// The `phone_call` row's id, now the current attempt's.
    pub call: Uuid,
    /// The provider's call SID.
    pub sid: String,
    /// The call's last known status as the provider writes it (`ringing`, `in-progress`, …).
    pub status: String,
}

/// Before a job is called again: if an earlier attempt's call reached the provider (its sid is
/// known from a callback) and has not ended — the worker that placed it stopped before marking
/// the job — that call becomes this attempt's, and no second call is placed. An earlier call the
/// provider never confirmed is closed as not placed. Returns the adopted call.
pub async fn adopt_earlier_call(
    pool: &PgPool,
    job: JobId,
    attempt: i32,
) -> Result<Option<Adopted>, sqlx::Error> {
    let adopted = sqlx::query_as!(
        Adopted,
        r#"update phone_call set attempt = $2, updated_at = now()
           where id = (select id from phone_call
                       where job_id = $1 and attempt < $2 and ended_at is null
                         and call_sid is not null
                       order by attempt desc limit 1)
           returning id as call, call_sid as "sid!", status"#,
        job as JobId,
        attempt,
    )
    .fetch_optional(pool)
    .await?;
    sqlx::query!(
        "update phone_call set status = 'not-placed', ended_at = now(), updated_at = now(),
             detail = 'the worker stopped before the provider confirmed the call'
         where job_id = $1 and attempt < $2 and ended_at is null and call_sid is null",
        job as JobId,
        attempt,
    )
    .execute(pool)
    .await?;
    Ok(adopted)
}

/// Records that the provider did not take the call.
pub async fn not_placed(pool: &PgPool, call: Uuid, detail: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update phone_call set status = 'not-placed', ended_at = now(), updated_at = now(),
             detail = $2
         where id = $1 and ended_at is null",
        call,
        detail,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// How [`mark_calling`] left the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Waiting on the provider's callbacks.
    Calling,
    /// The message was canceled meanwhile: the job is canceled and the call is to be hung up.
    Canceled,
    /// The job was no longer this worker's (a callback already ended it).
    NotHeld,
}

/// Marks a leased job as with the provider after the provider accepted its call. If no final
/// status arrives within `check_after`, the call is looked up ([`due_lookups`]).
pub async fn mark_calling(
    pool: &PgPool,
    worker: Uuid,
    job: JobId,
    call: Uuid,
    state: &CallState,
    check_after: Duration,
) -> Result<Placed, sqlx::Error> {
    let status = sqlx::query_scalar!(
        r#"with msg as (
               select m.canceled_at is not null as canceled
               from delivery_job j
               join message m on m.id = j.message_id
               where j.id = $2
               for share of m
           ), job as (
               update delivery_job j set
                   status = case when msg.canceled then 'canceled' else 'calling' end::job_status,
                   canceled_at = case when msg.canceled then now() end,
                   due_at = now() + make_interval(secs => $6)
               from msg
               where j.id = $2 and j.leased_by = $1 and j.status = 'leased'
               returning j.status, j.message_id, j.device, j.kind
           ), call as (
               update phone_call c set
                   call_sid = coalesce(c.call_sid, $4),
                   status = case when c.status = 'placing' then $5 else c.status end,
                   updated_at = now(),
                   hangup_requested_at = case when exists (select 1 from job where status = 'canceled')
                                              then now() end
               where c.id = $3
               returning 1
           ), counted as (
               update message_tally t set canceled = t.canceled + 1
               from job
               where job.status = 'canceled' and job.kind <> 'confirmation'
                 and t.message_id = job.message_id and t.device = job.device
               returning 1
           )
           select job.status as "status: JobStatus" from job"#,
        worker,
        job as JobId,
        call,
        state.sid,
        state.status.as_str(),
        check_after.as_secs_f64(),
    )
    .fetch_optional(pool)
    .await?;
    Ok(match status {
        Some(JobStatus::Canceled) => Placed::Canceled,
        Some(_) => Placed::Calling,
        None => Placed::NotHeld,
    })
}

/// A status report for a call: from a signed callback, or a lookup at the provider.
#[derive(Debug, Clone)]
pub struct CallUpdate {
    /// The `phone_call` row's id, from the callback URL or the lookup.
    pub call: Uuid,
    /// The call as the provider reports it.
    pub state: CallState,
    /// The callback's `SequenceNumber` (none for a lookup).
    pub sequence: Option<i32>,
    /// Why the call ended, when Herald rather than the provider decided it (a lookup given up);
    /// otherwise the status says it.
    pub reason: Option<String>,
}

/// What [`apply_status`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing: the call had ended, the update was older than one applied, or the call is
    /// unknown.
    Ignored,
    /// The call's progress was recorded; its job waits on.
    Progress,
    /// The call ended; its job now has this status.
    Ended(JobStatus),
    /// The call ended, but its job had moved on (canceled, or a later attempt).
    EndedAlone,
}

/// What a final status means, in words for the delivery report.
pub fn describe(status: CallStatus, answered_by: Option<&str>) -> Option<String> {
    match status {
        CallStatus::Completed if answered_by.is_some_and(|a| a.starts_with("machine")) => {
            Some("message left on an answering machine".into())
        }
        CallStatus::Busy => Some("the line was busy".into()),
        CallStatus::NoAnswer => Some("no one answered".into()),
        CallStatus::Failed => Some("the call could not be connected".into()),
        CallStatus::Canceled => Some("the call was canceled at the provider".into()),
        _ => None,
    }
}

/// A call's outcome as the Delivery Report shows it: where it stands or how it ended, who
/// answered, and for how long. `status` is `phone_call.status` (`placing` or the provider's).
pub fn outcome(
    status: &str,
    answered_by: Option<&str>,
    seconds: Option<i32>,
    detail: Option<&str>,
) -> String {
    let Some(status) = CallStatus::parse(status) else {
        return "Placing the call".into();
    };
    let ended = match status {
        CallStatus::Queued | CallStatus::Initiated => return "Placing the call".into(),
        CallStatus::Ringing => return "Ringing".into(),
        CallStatus::InProgress => return "On the call".into(),
        CallStatus::Completed if answered_by == Some("human") => "answered by a person".into(),
        // Why a call was not placed or connected, when the worker recorded it.
        CallStatus::Failed if detail.is_some() => detail.unwrap_or_default().into(),
        _ => describe(status, answered_by).unwrap_or_else(|| "answered".into()),
    };
    let mut ended = capitalized(&ended);
    if let Some(s) = seconds.filter(|s| *s > 0) {
        ended.push_str(&format!(" ({}:{:02})", s / 60, s % 60));
    }
    ended
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Applies a status report to its call and, for a final one, to the job: completed → sent;
/// busy or no answer → called again after the Dialer Preferences interval, or failed once the
/// number has been called `max_calls` times; failed → failed; canceled → canceled.
pub async fn apply_status(pool: &PgPool, u: &CallUpdate) -> Result<Applied, sqlx::Error> {
    let detail = u
        .reason
        .clone()
        .or_else(|| describe(u.state.status, u.state.answered_by.as_deref()));
    let row = sqlx::query!(
        r#"with call as (
               update phone_call c set
                   status = $3,
                   call_sid = coalesce(c.call_sid, nullif($2, '')),
                   answered_by = coalesce($5, c.answered_by),
                   duration_seconds = coalesce($6, c.duration_seconds),
                   sequence = coalesce($4, c.sequence),
                   detail = coalesce($7, c.detail),
                   updated_at = now(),
                   ended_at = case when $3 in ('completed', 'busy', 'no-answer', 'failed', 'canceled')
                                   then now() end
               where c.id = $1 and coalesce(c.call_sid, $2) = $2 and c.ended_at is null
                 and ($4::int is null or $4 > c.sequence)
               returning c.id, c.job_id, c.attempt, c.ended_at is not null as ended, c.answered_by
           ), decided as (
               select call.job_id, call.attempt, s.retry_minutes,
                      case when $3 = 'completed' then 'sent'
                           when $3 = 'canceled' then 'canceled'
                           when $3 = 'failed' then 'failed'
                           when 1 + (select count(*) from phone_call p
                                     where p.job_id = call.job_id and p.id <> call.id
                                       and p.status in ('busy', 'no-answer')) >= s.max_calls
                                then 'failed'
                           else 'retrying' end::job_status as status
               from call cross join dialer_settings s
               where call.ended
           ), job as (
               update delivery_job j set
                   status = d.status,
                   sent_at = case when d.status = 'sent' then now() else j.sent_at end,
                   failed_at = case when d.status = 'failed' then now() else j.failed_at end,
                   canceled_at = case when d.status = 'canceled' then now() else j.canceled_at end,
                   due_at = case when d.status = 'retrying'
                                 then now() + make_interval(mins => d.retry_minutes)
                                 else j.due_at end,
                   last_error = case when d.status in ('failed', 'retrying') then $7 else j.last_error end
               from decided d
               where j.id = d.job_id and j.attempts = d.attempt and j.status in ('leased', 'calling')
               returning j.id, j.attempts, j.status, j.message_id, j.device, j.kind
           ), attempt as (
               insert into delivery_attempt (job_id, attempt, outcome, detail)
               select id, attempts, status, coalesce($7, 'call ended') from job
               where status in ('retrying', 'failed')
               on conflict (job_id, attempt) do nothing
               returning 1
           ), counted as (
               update message_tally t set
                   sent = t.sent + (job.status = 'sent')::int,
                   failed = t.failed + (job.status = 'failed')::int,
                   canceled = t.canceled + (job.status = 'canceled')::int,
                   answered_by_person = t.answered_by_person
                       + (job.status = 'sent' and coalesce(call.answered_by = 'human', false))::int,
                   answered_by_machine = t.answered_by_machine
                       + (job.status = 'sent' and coalesce(call.answered_by like 'machine%', false))::int
               from job join call on call.job_id = job.id
               where job.kind <> 'confirmation'
                 and t.message_id = job.message_id and t.device = job.device
               returning 1
           )
           select (select count(*) from call) as "calls!",
                  (select bool_or(ended) from call) as ended,
                  (select status from job) as "job_status: JobStatus""#,
        u.call,
        u.state.sid,
        u.state.status.as_str(),
        u.sequence,
        u.state.answered_by,
        u.state.duration_seconds,
        detail,
    )
    .fetch_one(pool)
    .await?;
    Ok(match (row.calls, row.ended, row.job_status) {
        (0, _, _) => Applied::Ignored,
        (_, Some(true), Some(s)) => Applied::Ended(s),
        (_, Some(true), None) => Applied::EndedAlone,
        _ => Applied::Progress,
    })
}

/// A call whose final status is overdue: to be looked up at the provider.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The calling job.
    pub job: JobId,
    /// Its current attempt's `phone_call` row.
    pub call: Uuid,
    /// The provider's call SID; `None` if the provider never confirmed the call.
    pub sid: Option<String>,
    /// When the call was placed.
    pub placed_at: chrono::DateTime<chrono::Utc>,
}

/// Takes up to `limit` calling jobs whose final status is overdue, pushing their next lookup
/// `recheck` later so that only one worker looks each up at a time.
pub async fn due_lookups(
    pool: &PgPool,
    limit: i64,
    recheck: Duration,
) -> Result<Vec<Lookup>, sqlx::Error> {
    sqlx::query_as!(
        Lookup,
        r#"with picked as (
               select id from delivery_job
               where status = 'calling' and due_at <= now()
               order by due_at
               limit $1
               for update skip locked
           )
           update delivery_job j set due_at = now() + make_interval(secs => $2)
           from picked, phone_call c
           where j.id = picked.id and c.job_id = j.id and c.attempt = j.attempts
           returning j.id as "job: JobId", c.id as call, c.call_sid as sid, c.placed_at"#,
        limit,
        recheck.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
}

/// A call to hang up because its job was canceled.
#[derive(Debug, Clone)]
pub struct Hangup {
    /// The `phone_call` row to hang up.
    pub call: Uuid,
    /// The provider's call SID; `None` if the provider has not confirmed the call yet.
    pub sid: Option<String>,
    /// Answered (in progress): hung up with `completed` rather than `canceled`.
    pub answered: bool,
    /// When the cancel asked for it.
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// Takes up to `limit` requested hang-ups for `hold`: until then no other worker takes them.
/// One the provider does not confirm is taken again after `hold`; [`hangup_done`] ends it.
pub async fn take_hangups(
    pool: &PgPool,
    limit: i64,
    hold: Duration,
) -> Result<Vec<Hangup>, sqlx::Error> {
    sqlx::query_as!(
        Hangup,
        r#"with picked as (
               select id from phone_call
               where hangup_requested_at is not null and hangup_done_at is null
                 and coalesce(hangup_due_at, '-infinity') <= now()
               order by hangup_requested_at
               limit $1
               for update skip locked
           )
           update phone_call c set hangup_due_at = now() + make_interval(secs => $2)
           from picked
           where c.id = picked.id
           returning c.id as call, c.call_sid as sid, c.status = 'in-progress' as "answered!",
                     c.hangup_requested_at as "requested_at!""#,
        limit,
        hold.as_secs_f64(),
    )
    .fetch_all(pool)
    .await
}

/// Records that the provider hung the call up (or that it had already ended).
pub async fn hangup_done(pool: &PgPool, call: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update phone_call set hangup_done_at = now() where id = $1",
        call
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Cancels these messages' jobs whose calls are with the provider, and asks for those calls to
/// be hung up. Part of a message cancel (see `messaging::queue::cancel_pending`).
pub(crate) async fn cancel_calling(
    tx: &mut Transaction<'_, Postgres>,
    messages: &[MessageId],
) -> Result<u64, sqlx::Error> {
    let n = sqlx::query_scalar!(
        r#"with canceled as (
               update delivery_job set status = 'canceled', canceled_at = now()
               where message_id = any($1) and status = 'calling'
               returning id, attempts, message_id, device, kind
           ), hangup as (
               update phone_call c set hangup_requested_at = now()
               from canceled j
               where c.job_id = j.id and c.attempt = j.attempts and c.ended_at is null
               returning 1
           ), counted as (
               update message_tally t set canceled = t.canceled + c.n
               from (select message_id, device, count(*) as n from canceled
                     group by message_id, device) c
               where t.message_id = c.message_id and t.device = c.device
               returning 1
           )
           select count(*) as "n!" from canceled"#,
        messages as &[MessageId],
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn a_call_in_progress_says_where_it_stands() {
        assert_eq!(outcome("placing", None, None, None), "Placing the call");
        assert_eq!(outcome("ringing", None, None, None), "Ringing");
        assert_eq!(
            outcome("in-progress", Some("human"), None, None),
            "On the call"
        );
    }

    #[test]
    fn an_answered_call_says_who_answered_and_how_long() {
        assert_eq!(
            outcome("completed", Some("human"), Some(42), None),
            "Answered by a person (0:42)"
        );
        assert_eq!(
            outcome("completed", Some("machine_end_beep"), Some(75), None),
            "Message left on an answering machine (1:15)"
        );
        assert_eq!(outcome("completed", None, Some(0), None), "Answered");
    }

    #[test]
    fn a_call_that_reached_no_one_says_why() {
        assert_eq!(outcome("busy", None, None, None), "The line was busy");
        assert_eq!(outcome("no-answer", None, None, None), "No one answered");
        assert_eq!(
            outcome(
                "failed",
                None,
                None,
                Some("the provider refused the number")
            ),
            "The provider refused the number"
        );
    }
}
