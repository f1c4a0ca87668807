//! The read side of messages: the list of messages, one message's status with counts per
//! device, who was not reached and why, and failed jobs. (A person's portal notices are
//! [`super::notices`].)
//!
//! What must stay true: nothing here counts a message's jobs; counts come from `message_tally`,
//! so a status page costs the same for a 10-job and a 250,000-job message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::domain::{CalendarId, ContactReason, Device, MessageId, PersonId, UnreachedCause};

/// What happened on one device of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTally {
    /// The device these counts are for.
    pub device: Device,
    /// Jobs fan-out wrote for the device (fixed once written).
    pub total: i64,
    /// Jobs delivered.
    pub sent: i64,
    /// Jobs that failed for good.
    pub failed: i64,
    /// Jobs canceled before they were delivered.
    pub canceled: i64,
}

impl DeviceTally {
    /// Jobs not yet ended: queued, in a worker's hands, or waiting to retry.
    pub fn pending(&self) -> i64 {
        self.total - self.sent - self.failed - self.canceled
    }
}

/// The message's counts per device, from `message_tally`, in device order. Empty until fan-out
/// has written a device's jobs.
pub async fn tally(pool: &PgPool, id: MessageId) -> Result<Vec<DeviceTally>, sqlx::Error> {
    sqlx::query_as!(
        DeviceTally,
        r#"select device as "device: Device", total, sent, failed, canceled
           from message_tally where message_id = $1 order by device"#,
        id as MessageId
    )
    .fetch_all(pool)
    .await
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageState {
    /// Waiting for its start time.
    Scheduled,
    /// Fanned out; some of its jobs have not ended.
    Sending,
    /// Every job has ended (sent, failed or canceled).
    Finished,
    /// Canceled: its jobs not yet handed to the SMTP server or the voice provider were canceled
    /// (those handed over end as their worker says).
    Canceled,
}

impl MessageState {
    pub(crate) fn of(
        fanned_out: Option<DateTime<Utc>>,
        finished: Option<DateTime<Utc>>,
        canceled: Option<DateTime<Utc>>,
    ) -> Self {
        match (fanned_out, finished, canceled) {
            (_, _, Some(_)) => Self::Canceled,
            (_, Some(_), None) => Self::Finished,
            (Some(_), None, None) => Self::Sending,
            (None, None, None) => Self::Scheduled,
        }
    }

    /// The word the pages show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::Sending => "Sending",
            Self::Finished => "Finished",
            Self::Canceled => "Canceled",
        }
    }
}

/// One row of the messages list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRow {
    /// The message's id.
    pub id: MessageId,
    /// The subject as typed (merge fields not filled in).
    pub subject: String,
    /// Why the message was sent.
    pub reason: ContactReason,
    /// The sender's name.
    pub sender_name: String,
    /// When the message was composed.
    pub created_at: DateTime<Utc>,
    /// When delivery starts (or started).
    pub start_at: DateTime<Utc>,
    /// Where the message is in its life.
    pub state: MessageState,
    /// The devices chosen at compose.
    pub devices: Vec<Device>,
    /// Jobs over all devices.
    pub total: i64,
    /// Jobs delivered, over all devices.
    pub sent: i64,
    /// Jobs failed for good, over all devices.
    pub failed: i64,
}

/// Which messages of a calendar the Sent Messages list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Delivery starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Delivery starting before this instant.
    pub until: Option<DateTime<Utc>>,
    /// The sender's email address.
    pub sender: Option<String>,
    /// Only messages sent for this reason.
    pub reason: Option<ContactReason>,
}

/// A calendar's messages (tests to oneself excluded) that pass `filter`, newest delivery first,
/// at most `limit`.
pub async fn list(
    pool: &PgPool,
    calendar: CalendarId,
    filter: &ListFilter,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select m.id as "id: MessageId", m.subject, m.reason as "reason: ContactReason",
               m.sender_name, m.created_at, m.start_at, m.fanned_out_at, m.finished_at,
               m.canceled_at, m.devices as "devices: Vec<Device>",
               coalesce(sum(t.total), 0)::bigint as "total!", coalesce(sum(t.sent), 0)::bigint as "sent!",
               coalesce(sum(t.failed), 0)::bigint as "failed!"
           from message m
           left join message_tally t on t.message_id = m.id
           where m.calendar_id = $1 and not m.is_test
             and ($2::timestamptz is null or m.start_at >= $2)
             and ($3::timestamptz is null or m.start_at < $3)
             and ($4::text is null or m.sender_email = $4)
             and ($5::contact_reason is null or m.reason = $5)
           group by m.id
           order by m.start_at desc, m.created_at desc
           limit $6"#,
        calendar as CalendarId,
        filter.from,
        filter.until,
        filter.sender,
        filter.reason as Option<ContactReason>,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MessageRow {
            id: r.id,
            subject: r.subject,
            reason: r.reason,
            sender_name: r.sender_name,
            created_at: r.created_at,
            start_at: r.start_at,
            state: MessageState::of(r.fanned_out_at, r.finished_at, r.canceled_at),
            devices: r.devices,
            total: r.total,
            sent: r.sent,
            failed: r.failed,
        })
        .collect())
}

/// Everyone who has sent a message in the calendar: (email, name), by name.
pub async fn senders(
    pool: &PgPool,
    calendar: CalendarId,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select sender_email, max(sender_name) as "name!"
           from message where calendar_id = $1 and not is_test
           group by sender_email order by 2"#,
        calendar as CalendarId
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.sender_email, r.name)).collect())
}

/// Why recipients were not reached on a device, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachedCount {
    /// The device the recipients were not reached on.
    pub device: Device,
    /// Why they were not reached.
    pub cause: UnreachedCause,
    /// How many recipients.
    pub people: i64,
}

/// One message's status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatus {
    /// The message's id.
    pub id: MessageId,
    /// The subject as typed.
    pub subject: String,
    /// Why the message was sent.
    pub reason: ContactReason,
    /// The sender's name.
    pub sender_name: String,
    /// When the message was composed.
    pub created_at: DateTime<Utc>,
    /// When delivery starts (or started).
    pub start_at: DateTime<Utc>,
    /// When emails go out, if set at compose (never before the start); `None`: at the start.
    pub email_at: Option<DateTime<Utc>>,
    /// When every job had ended; `None` while some have not.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the message is in its life.
    pub state: MessageState,
    /// A test copy to the sender, not a message to the audience.
    pub is_test: bool,
    /// The devices chosen at compose.
    pub devices: Vec<Device>,
    /// People the message is addressed to (its `message_recipient` rows), 0 before fan-out.
    pub recipients: i64,
    /// Counts per device (see [`tally`]).
    pub tallies: Vec<DeviceTally>,
    /// Recipients not reached, by device and cause.
    pub unreached: Vec<UnreachedCount>,
}

/// Where a message's phone jobs that are not done stand: with the provider, or waiting (for the
/// dial window, a retry, or a dialer that is not set up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneProgress {
    /// Calls with the provider now.
    pub calling: i64,
    /// Jobs due now: waiting for a worker, or in a worker's hands.
    pub due: i64,
    /// Jobs due later: outside the dial window, or waiting to retry.
    pub waiting: i64,
    /// When the next waiting job is due; `None` when none waits.
    pub next_at: Option<DateTime<Utc>>,
}

/// Where the message's phone jobs that have not ended stand. Reads the message's open phone
/// jobs, not `message_tally`.
pub async fn phone_progress(pool: &PgPool, id: MessageId) -> Result<PhoneProgress, sqlx::Error> {
    let r = sqlx::query!(
        r#"select count(*) filter (where status = 'calling') as "calling!",
                  count(*) filter (where status in ('queued', 'retrying', 'leased') and due_at <= now()) as "due!",
                  count(*) filter (where status in ('queued', 'retrying') and due_at > now()) as "waiting!",
                  min(due_at) filter (where status in ('queued', 'retrying') and due_at > now()) as next_at
           from delivery_job
           where message_id = $1 and device = 'phone'
             and status in ('queued', 'leased', 'calling', 'retrying')"#,
        id as MessageId
    )
    .fetch_one(pool)
    .await?;
    Ok(PhoneProgress {
        calling: r.calling,
        due: r.due,
        waiting: r.waiting,
        next_at: r.next_at,
    })
}

/// One message's status page: its facts, its counts per device and who was not reached;
/// `None` when there is no such message.
pub async fn status(pool: &PgPool, id: MessageId) -> Result<Option<MessageStatus>, sqlx::Error> {
    let Some(m) = sqlx::query!(
        r#"select m.subject, m.reason as "reason: ContactReason", m.sender_name, m.created_at,
               m.start_at, m.email_at, m.fanned_out_at, m.finished_at, m.canceled_at, m.is_test,
               m.devices as "devices: Vec<Device>",
               (select count(*) from message_recipient r where r.message_id = m.id) as "recipients!"
           from message m where m.id = $1"#,
        id as MessageId
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let unreached = sqlx::query_as!(
        UnreachedCount,
        r#"select device as "device: Device", cause as "cause: UnreachedCause", count(*) as "people!"
           from message_unreached where message_id = $1
           group by device, cause order by device, cause"#,
        id as MessageId
    )
    .fetch_all(pool)
    .await?;
    Ok(Some(MessageStatus {
        id,
        subject: m.subject,
        reason: m.reason,
        sender_name: m.sender_name,
        created_at: m.created_at,
        start_at: m.start_at,
        email_at: m.email_at,
        finished_at: m.finished_at,
        state: MessageState::of(m.fanned_out_at, m.finished_at, m.canceled_at),
        is_test: m.is_test,
        devices: m.devices,
        recipients: m.recipients,
        tallies: tally(pool, id).await?,
        unreached,
    }))
}

/// A person not reached on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachedPerson {
    /// The person's id.
    pub person_id: PersonId,
    /// Given and family name, or `(removed from the roster)`.
    pub name: String,
    /// The device they were not reached on.
    pub device: Device,
    /// Why not.
    pub cause: UnreachedCause,
}

/// Up to `limit` people the message did not reach, by family and given name.
pub async fn unreached_people(
    pool: &PgPool,
    id: MessageId,
    limit: i64,
) -> Result<Vec<UnreachedPerson>, sqlx::Error> {
    sqlx::query_as!(
        UnreachedPerson,
        r#"select u.person_id as "person_id: PersonId",
               coalesce(p.given_name || ' ' || p.family_name, '(removed from the roster)') as "name!",
               u.device as "device: Device", u.cause as "cause: UnreachedCause"
           from message_unreached u
           left join person p on p.id = u.person_id
           where u.message_id = $1
           order by p.family_name, p.given_name, u.device
           limit $2"#,
        id as MessageId,
        limit
    )
    .fetch_all(pool)
    .await
}

/// A job that ended failed, or is waiting to retry, with the last error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TroubledJob {
    /// The job's device.
    pub device: Device,
    /// The address or phone number the job delivers to.
    pub target: String,
    /// The job is waiting to retry; otherwise it failed for good.
    pub retrying: bool,
    /// Attempts made so far.
    pub attempts: i32,
    /// The last error, as the SMTP server or voice provider gave it (empty if none was kept).
    pub last_error: String,
}

/// Up to `limit` of the message's jobs that failed or wait to retry, oldest first
/// (confirmations excluded).
pub async fn troubled_jobs(
    pool: &PgPool,
    id: MessageId,
    limit: i64,
) -> Result<Vec<TroubledJob>, sqlx::Error> {
    sqlx::query_as!(
        TroubledJob,
        r#"select device as "device: Device", target, status = 'retrying' as "retrying!", attempts,
               coalesce(last_error, '') as "last_error!"
           from delivery_job
           where message_id = $1 and status in ('failed', 'retrying') and kind <> 'confirmation'
           order by id
           limit $2"#,
        id as MessageId,
        limit
    )
    .fetch_all(pool)
    .await
}
