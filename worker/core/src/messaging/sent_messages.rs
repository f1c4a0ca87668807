//! The read side of messages: the list of messages, one message's status with counts per
//! device, who was not reached and why, failed jobs, and a person's portal notices.
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
    pub device: Device,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub canceled: i64,
}

impl DeviceTally {
    /// Jobs not yet ended: queued, in a worker's hands, or waiting to retry.
    pub fn pending(&self) -> i64 {
        self.total - self.sent - self.failed - self.canceled
    }
}

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
    Sending,
    Finished,
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
    pub id: MessageId,
    pub subject: String,
    pub reason: ContactReason,
    pub sender_name: String,
    pub created_at: DateTime<Utc>,
    pub start_at: DateTime<Utc>,
    pub state: MessageState,
    pub devices: Vec<Device>,
    pub total: i64,
    pub sent: i64,
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
    pub device: Device,
    pub cause: UnreachedCause,
    pub people: i64,
}

/// One message's status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatus {
    pub id: MessageId,
    pub subject: String,
    pub reason: ContactReason,
    pub sender_name: String,
    pub created_at: DateTime<Utc>,
    pub start_at: DateTime<Utc>,
    pub email_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub state: MessageState,
    pub is_test: bool,
    /// The devices chosen at compose.
    pub devices: Vec<Device>,
    pub recipients: i64,
    pub tallies: Vec<DeviceTally>,
    pub unreached: Vec<UnreachedCount>,
}

/// Where a message's phone jobs that are not done stand: with the provider, or waiting (for the
/// dial window, a retry, or a dialer that is not set up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneProgress {
    pub calling: i64,
    pub due: i64,
    pub waiting: i64,
    pub next_at: Option<DateTime<Utc>>,
}

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
    pub person_id: PersonId,
    pub name: String,
    pub device: Device,
    pub cause: UnreachedCause,
}

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
    pub device: Device,
    pub target: String,
    pub retrying: bool,
    pub attempts: i32,
    pub last_error: String,
}

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
