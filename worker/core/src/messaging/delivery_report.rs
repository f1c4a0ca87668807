//! The Delivery Report of one message: per device, how many jobs were attempted and where each
//! stands (sent, failed, canceled, still queued, in progress, retrying), and the recipients one
//! page at a time with search, a status filter and a CSV export.
//!
//! What must stay true:
//! - The counts are one statement, one snapshot: `message_tally` for the ended jobs, and, only
//!   while some are not ended, the jobs in progress and retrying, read through the queue's
//!   partial indexes. Queued is the remainder, so the counts always add up to the total, and a
//!   250,000-job message costs no more than a 10-job one.
//! - A message's jobs are read by primary-key range (`message_tally.first_job ..= last_job`,
//!   written by fan-out), never by scanning `delivery_job` for the message: the table has no
//!   index on `message_id`, on purpose.
//! - Recipient pages are keyset pages on the job id, so the thousandth page costs what the first
//!   does.
//! - A search finds people as the People page does (`directory::PeopleSearch`, the SQL function
//!   `people_matching`), then reads the job range once for their jobs: a recipient is found by
//!   their name, student number and current addresses.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::dialer::calls;
use crate::directory::PeopleSearch;
use crate::domain::{Device, JobId, JobStatus, MessageId};

/// One device of a message, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCounts {
    /// The device these counts are for.
    pub device: Device,
    /// Jobs made (the attempted total).
    pub total: i64,
    /// Jobs delivered.
    pub sent: i64,
    /// Jobs that failed for good.
    pub failed: i64,
    /// Jobs canceled before they were delivered.
    pub canceled: i64,
    /// Waiting for their time (a scheduled send, the dial window) or a worker.
    pub queued: i64,
    /// In a worker's hands, or a call with the provider.
    pub in_progress: i64,
    /// Failed once and waiting to try again.
    pub retrying: i64,
    /// Of the sent phone jobs: calls a person answered (the rest were answered by a machine, or
    /// with no detection).
    pub answered_by_person: i64,
    /// Of the sent phone jobs: calls an answering machine took.
    pub answered_by_machine: i64,
}

impl DeviceCounts {
    /// Ended jobs as a share of all, 0–100.
    pub fn percent_done(&self) -> u8 {
        if self.total == 0 {
            return 100;
        }
        let done = self.sent + self.failed + self.canceled;
        ((done * 100) / self.total).clamp(0, 100) as u8
    }
}

/// Every device of the message, in device order.
///
/// Ended jobs come from the tally. Of the rest, the ones in progress (a live lease, a call with
/// the provider) and the ones retrying are counted through the queue's partial indexes, which
/// hold only jobs not yet ended; queued is what remains. A lease whose worker died counts as
/// queued: the job is due again.
pub async fn counts(pool: &PgPool, id: MessageId) -> Result<Vec<DeviceCounts>, sqlx::Error> {
    sqlx::query_as!(
        DeviceCounts,
        r#"select t.device as "device: Device", t.total, t.sent, t.failed, t.canceled,
                  t.total - t.sent - t.failed - t.canceled - coalesce(p.in_progress, 0)
                      - coalesce(p.retrying, 0) as "queued!",
                  coalesce(p.in_progress, 0) as "in_progress!", coalesce(p.retrying, 0) as "retrying!",
                  t.answered_by_person, t.answered_by_machine
           from message_tally t
           left join lateral (
               select (select count(*) from delivery_job j
                       where j.device = t.device and j.status = 'leased' and j.due_at > now()
                         and j.message_id = t.message_id)
                    + (select count(*) from delivery_job j
                       where j.status = 'calling' and j.message_id = t.message_id
                         and j.device = t.device) as in_progress,
                      (select count(*) from delivery_job j
                       where j.message_id = t.message_id and j.status = 'retrying'
                         and j.device = t.device) as retrying
               where t.sent + t.failed + t.canceled < t.total
           ) p on true
           where t.message_id = $1
           order by t.device"#,
        id as MessageId
    )
    .fetch_all(pool)
    .await
}

/// The statuses the report filters by, as a district admin names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Delivered.
    Sent,
    /// Failed for good.
    Failed,
    /// Canceled before delivery.
    Canceled,
    /// Waiting for its time or for a worker.
    Queued,
    /// In a worker's hands, or a call with the provider.
    InProgress,
    /// Failed once and waiting to try again.
    Retrying,
}

impl StatusFilter {
    /// Every filter, in the order the report offers them.
    pub const ALL: [Self; 6] = [
        Self::Sent,
        Self::Failed,
        Self::Canceled,
        Self::Queued,
        Self::InProgress,
        Self::Retrying,
    ];

    /// The filter's name in the report's URL and form, e.g. `in_progress`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Retrying => "retrying",
        }
    }

    /// The name the report shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sent => "Sent",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
            Self::Queued => "Queued",
            Self::InProgress => "In progress",
            Self::Retrying => "Retrying",
        }
    }

    /// Reads a filter by its [`StatusFilter::as_str`] name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The filter a job's status falls under.
    pub fn of(status: JobStatus) -> Self {
        match status {
            JobStatus::Sent => Self::Sent,
            JobStatus::Failed => Self::Failed,
            JobStatus::Canceled => Self::Canceled,
            JobStatus::Queued => Self::Queued,
            JobStatus::Leased | JobStatus::Calling => Self::InProgress,
            JobStatus::Retrying => Self::Retrying,
        }
    }

    fn statuses(self) -> &'static [&'static str] {
        match self {
            Self::Sent => &["sent"],
            Self::Failed => &["failed"],
            Self::Canceled => &["canceled"],
            Self::Queued => &["queued"],
            Self::InProgress => &["leased", "calling"],
            Self::Retrying => &["retrying"],
        }
    }
}

/// Which recipients of one device to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientQuery {
    /// The device whose jobs to list.
    pub device: Device,
    /// Only jobs under this filter; `None`: every job.
    pub status: Option<StatusFilter>,
    /// Part of a recipient's name, student number, email address or phone number, as the People
    /// page searches ([`PeopleSearch`]): it finds the people, then their jobs in this message.
    pub search: Option<String>,
}

/// One job of the message: who, about which students, to what address, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRow {
    /// The job's id; the key of the next page.
    pub job: JobId,
    /// The recipient's given and family name (empty if they left the roster).
    pub person: String,
    /// The students they were reached about, comma-separated by family and given name.
    pub students: String,
    /// The email address or phone number; for the inbox, the person's id.
    pub target: String,
    /// Where the job stands.
    pub status: JobStatus,
    /// When the job last changed: sent, failed, canceled, taken by a worker, or made.
    pub at: DateTime<Utc>,
    /// Attempts made so far.
    pub attempts: i32,
    /// The last error, if the job has failed at least once.
    pub error: Option<String>,
    /// A phone job's latest call, in words ("Answered by a person (0:42)"); none before the
    /// first call, and for other devices.
    pub call: Option<String>,
}

/// Up to `limit` recipients of the query after job `after`, in job order.
pub async fn recipients(
    pool: &PgPool,
    id: MessageId,
    query: &RecipientQuery,
    after: Option<JobId>,
    limit: i64,
) -> Result<Vec<RecipientRow>, sqlx::Error> {
    let statuses: Option<Vec<String>> = query
        .status
        .map(|s| s.statuses().iter().map(|s| s.to_string()).collect());
    let search = query.search.as_deref().and_then(PeopleSearch::parse);
    let rows = sqlx::query!(
        r#"with found as materialized (select id from people_matching($5) where $5::text is not null),
           page as (
               select j.id, j.message_id, j.person_id, j.target, j.status, j.attempts, j.last_error,
                      coalesce(j.sent_at, j.failed_at, j.canceled_at, j.leased_at, j.created_at) as at
               from delivery_job j
               where j.id between (select first_job from message_tally where message_id = $1 and device = $2)
                              and (select last_job from message_tally where message_id = $1 and device = $2)
                 and j.id > $3
                 and j.message_id = $1 and j.device = $2
                 and ($4::text[] is null or j.status::text = any($4))
                 -- A search reads the range once for the people it found, none when it found
                 -- nobody. The bounds, two comparisons, rule out most jobs before the hash probe.
                 and ($5::text is null or exists (select from found))
                 and ($5::text is null
                      or (j.person_id between (select id from found order by id limit 1)
                                          and (select id from found order by id desc limit 1)
                          and j.person_id in (select id from found)))
               order by j.id
               limit $6)
           select page.id as "job!: JobId", page.target as "target!",
                  page.status as "status!: JobStatus", page.attempts as "attempts!",
                  page.last_error as error, page.at as "at!",
                  coalesce(p.given_name || ' ' || p.family_name, '') as "person!",
                  coalesce((select string_agg(s.given_name || ' ' || s.family_name, ', '
                                              order by s.family_name, s.given_name)
                            from message_recipient r join person s on s.id = any(r.student_ids)
                            where r.message_id = page.message_id and r.person_id = page.person_id), '')
                      as "students!",
                  call.status as "call_status?", call.answered_by as "answered_by?",
                  call.duration_seconds as "call_seconds?", call.detail as "call_detail?"
           from page
           left join person p on p.id = page.person_id
           -- A phone job's latest call: how it ended, who answered, how long.
           left join lateral (select c.status, c.answered_by, c.duration_seconds, c.detail
                              from phone_call c
                              where $2 = 'phone'::delivery_device and c.job_id = page.id
                              order by c.placed_at desc limit 1) call on true
           order by page.id"#,
        id as MessageId,
        query.device as Device,
        after.map_or(0, |j| j.0),
        statuses.as_deref(),
        search.as_ref().map(PeopleSearch::pattern),
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RecipientRow {
            call: r.call_status.map(|s| {
                calls::outcome(
                    &s,
                    r.answered_by.as_deref(),
                    r.call_seconds,
                    r.call_detail.as_deref(),
                )
            }),
            job: r.job,
            person: r.person,
            students: r.students,
            target: r.target,
            status: r.status,
            at: r.at,
            attempts: r.attempts,
            error: r.error,
        })
        .collect())
}

/// The CSV export's header row.
pub const CSV_HEADER: [&str; 9] = [
    "Person", "Students", "Device", "Address", "Status", "Time", "Attempts", "Error", "Call",
];

/// `s` as a spreadsheet cell that is only text: one that starts with a character a spreadsheet
/// would run as a formula gets a leading `'`. Every CSV Herald writes puts free text through
/// this (names from the roster, addresses, errors).
pub(crate) fn text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// CSV lines for `rows` of `device`, times in `tz` (no header).
pub fn csv_lines(device: Device, rows: &[RecipientRow], tz: chrono_tz::Tz) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 120));
    for r in rows {
        // A phone number keeps its leading `+` (E.164 is digits only, nothing to run), but an
        // email address's local part may begin with `=` or `-`.
        let address = match device {
            Device::Inbox => String::new(),
            Device::Email => text_cell(&r.target),
            Device::Phone => r.target.clone(),
        };
        let record = [
            text_cell(&r.person),
            text_cell(&r.students),
            device.label().to_string(),
            address,
            StatusFilter::of(r.status).label().to_string(),
            r.at.with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            r.attempts.to_string(),
            text_cell(r.error.as_deref().unwrap_or("")),
            r.call.clone().unwrap_or_default(),
        ];
        // Writing into a Vec cannot fail.
        let _ = w.write_record(&record);
    }
    w.into_inner().unwrap_or_default()
}

/// The header line of the export.
pub fn csv_header() -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_HEADER);
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_status_falls_under_one_filter() {
        use JobStatus::*;
        for status in [Queued, Leased, Calling, Retrying, Sent, Failed, Canceled] {
            // The name the database stores it under (the enum's serde and sqlx names agree).
            let name = serde_json::to_value(status).unwrap();
            let name = name.as_str().unwrap();
            let under: Vec<StatusFilter> = StatusFilter::ALL
                .into_iter()
                .filter(|f| f.statuses().contains(&name))
                .collect();
            assert_eq!(under, vec![StatusFilter::of(status)], "{name}");
        }
        for f in StatusFilter::ALL {
            assert_eq!(StatusFilter::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn percent_done_counts_sent_failed_and_canceled_as_ended() {
        let c = DeviceCounts {
            device: Device::Email,
            total: 8,
            sent: 2,
            failed: 1,
            canceled: 1,
            queued: 2,
            in_progress: 1,
            retrying: 1,
            answered_by_person: 0,
            answered_by_machine: 0,
        };
        assert_eq!(c.percent_done(), 50);
        let none = DeviceCounts {
            total: 0,
            sent: 0,
            failed: 0,
            canceled: 0,
            queued: 0,
            in_progress: 0,
            retrying: 0,
            ..c
        };
        assert_eq!(none.percent_done(), 100, "nothing to do is done");
    }

    #[test]
    fn the_csv_header_names_every_column_a_line_has() {
        let header = String::from_utf8(csv_header()).unwrap();
        assert_eq!(header.trim_end(), CSV_HEADER.join(","));
        let row = RecipientRow {
            job: JobId(1),
            person: "Ana Diaz".into(),
            students: "Ben Diaz".into(),
            target: "ana@home.example".into(),
            status: JobStatus::Sent,
            at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            attempts: 1,
            error: None,
            call: None,
        };
        let line = csv_lines(Device::Email, &[row], chrono_tz::UTC);
        let fields = csv::Reader::from_reader(line.as_slice())
            .headers()
            .unwrap()
            .len();
        assert_eq!(fields, CSV_HEADER.len());
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text() {
        let row = RecipientRow {
            job: JobId(1),
            person: "=HYPERLINK(\"x\")".into(),
            students: "Ana Diaz, Ben Diaz".into(),
            target: "+16125550100".into(),
            status: JobStatus::Failed,
            at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            attempts: 2,
            error: Some("-ERR busy".into()),
            call: Some("The line was busy".into()),
        };
        let text = String::from_utf8(csv_lines(Device::Phone, &[row], chrono_tz::UTC)).unwrap();
        assert_eq!(
            text,
            "\"'=HYPERLINK(\"\"x\"\")\",\"Ana Diaz, Ben Diaz\",Phone,+16125550100,Failed,1970-01-01 00:00:00,2,'-ERR busy,The line was busy\n"
        );
    }

    #[test]
    fn an_email_address_that_starts_like_a_formula_is_quoted_as_text() {
        let row = RecipientRow {
            job: JobId(1),
            person: "Ana Diaz".into(),
            students: String::new(),
            target: "=1+2@example.org".into(),
            status: JobStatus::Sent,
            at: DateTime::from_timestamp(0, 0).unwrap_or_default(),
            attempts: 1,
            error: None,
            call: None,
        };
        let text = String::from_utf8(csv_lines(Device::Email, &[row], chrono_tz::UTC)).unwrap();
        assert_eq!(
            text,
            "Ana Diaz,,Email,'=1+2@example.org,Sent,1970-01-01 00:00:00,1,,\n"
        );
    }
}
