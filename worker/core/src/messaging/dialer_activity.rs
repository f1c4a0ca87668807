//! Dialer Activity: a calendar's messages for one day (all of them, or only those still to be
//! sent) by the chosen senders, each with a short summary per device. Canceling them is
//! [`super::cancel`], shared with the message page.
//!
//! What must stay true: the summaries are each message's own `message_tally` rows, the same
//! counts the Delivery Report shows, so the two pages never disagree.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::sent_messages::{DeviceTally, MessageState};
use crate::domain::{CalendarId, ContactReason, Device, MessageId};

/// Which messages the report lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityQuery {
    /// The calendar chosen in the Campus Toolbar.
    pub calendar: CalendarId,
    /// Delivery starting in `[from, until)`: the chosen day in the district's time zone.
    pub from: DateTime<Utc>,
    /// The end of the day, exclusive.
    pub until: DateTime<Utc>,
    /// Only messages still to be sent (scheduled or sending).
    pub active_only: bool,
    /// Senders' email addresses; empty: everyone.
    pub senders: Vec<String>,
}

/// One message of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// The message's id.
    pub id: MessageId,
    /// The subject as typed.
    pub subject: String,
    /// Why it was sent.
    pub reason: ContactReason,
    /// The sender's name.
    pub sender_name: String,
    /// When delivery starts (or started).
    pub start_at: DateTime<Utc>,
    /// Where the message is in its life.
    pub state: MessageState,
    /// The devices chosen at compose.
    pub devices: Vec<Device>,
    /// Counts per device, from `message_tally`; empty until fan-out has written jobs.
    pub tallies: Vec<DeviceTally>,
}

impl ActivityRow {
    /// Whether the message can still be canceled: scheduled or sending.
    pub fn active(&self) -> bool {
        matches!(self.state, MessageState::Scheduled | MessageState::Sending)
    }
}

/// The report's messages, by delivery time.
pub async fn list(pool: &PgPool, q: &ActivityQuery) -> Result<Vec<ActivityRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select m.id as "id: MessageId", m.subject, m.reason as "reason: ContactReason",
                  m.sender_name, m.start_at, m.fanned_out_at, m.finished_at, m.canceled_at,
                  m.devices as "devices: Vec<Device>",
                  coalesce(array_agg(t.device order by t.device) filter (where t.device is not null), '{}')
                      as "tally_devices!: Vec<Device>",
                  coalesce(array_agg(t.total order by t.device) filter (where t.device is not null), '{}') as "totals!",
                  coalesce(array_agg(t.sent order by t.device) filter (where t.device is not null), '{}') as "sents!",
                  coalesce(array_agg(t.failed order by t.device) filter (where t.device is not null), '{}') as "faileds!",
                  coalesce(array_agg(t.canceled order by t.device) filter (where t.device is not null), '{}') as "canceleds!"
           from message m
           left join message_tally t on t.message_id = m.id
           where m.calendar_id = $1 and not m.is_test
             and m.start_at >= $2 and m.start_at < $3
             and (not $4 or (m.finished_at is null and m.canceled_at is null))
             and (cardinality($5::text[]) = 0 or m.sender_email = any($5))
           group by m.id
           order by m.start_at, m.created_at"#,
        q.calendar as CalendarId,
        q.from,
        q.until,
        q.active_only,
        &q.senders,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ActivityRow {
            id: r.id,
            subject: r.subject,
            reason: r.reason,
            sender_name: r.sender_name,
            start_at: r.start_at,
            state: MessageState::of(r.fanned_out_at, r.finished_at, r.canceled_at),
            devices: r.devices,
            tallies: r
                .tally_devices
                .iter()
                .enumerate()
                .map(|(i, d)| DeviceTally {
                    device: *d,
                    total: r.totals[i],
                    sent: r.sents[i],
                    failed: r.faileds[i],
                    canceled: r.canceleds[i],
                })
                .collect(),
        })
        .collect())
}
