//! Canceling messages on record: a message's own page, Dialer Activity's Cancel Selected Jobs
//! and Cancel All Active Jobs all cancel through [`cancel`].
//!
//! What must stay true:
//! - A cancel is one transaction: the messages are marked canceled, every job of theirs not yet
//!   handed to the SMTP server or the voice provider canceled (a worker's lease is no shelter;
//!   an expired lease of a dead worker neither) and their calls marked for hang-up
//!   (`queue::cancel_pending`), and a `cancellation` row records who, when, which messages and
//!   how many jobs, the number the statement actually canceled. After it commits nothing more of
//!   those messages is delivered, except a job already handed over, which ends as its worker
//!   says: a job is delivered or canceled, never both, and the tally agrees.
//! - Only messages that are still active (not finished, not canceled) are canceled; naming a
//!   finished one changes nothing and counts nothing.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use crate::domain::{AccountId, MessageId};

/// How a cancel was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelScope {
    /// "Cancel queued deliveries" on a message's page.
    Message,
    /// "Cancel Selected Jobs" on Dialer Activity.
    Selected,
    /// "Cancel All Active Jobs" on Dialer Activity.
    AllActive,
}

impl CancelScope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Selected => "selected",
            Self::AllActive => "all_active",
        }
    }

    /// The button's name, as Dialer Activity's recent cancellations show it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Message => "Cancel queued deliveries (message page)",
            Self::Selected => "Cancel Selected Jobs",
            Self::AllActive => "Cancel All Active Jobs",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "selected" => Self::Selected,
            "all_active" => Self::AllActive,
            _ => Self::Message,
        }
    }
}

/// Who cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canceler {
    /// The signed-in account that cancels.
    pub account: AccountId,
    /// Its email, recorded as who canceled.
    pub email: String,
}

/// A cancel as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// The `cancellation` row's id.
    pub id: i64,
    /// The email of who canceled.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Which button it was.
    pub scope: CancelScope,
    /// The messages it canceled (those still active when it ran).
    pub messages: Vec<MessageId>,
    /// The jobs it canceled.
    pub jobs: i64,
}

/// Cancels the still-active messages among `messages`: marks them canceled, cancels their jobs
/// not yet handed over, and records it, all in one transaction.
pub async fn cancel(
    pool: &PgPool,
    by: &Canceler,
    scope: CancelScope,
    messages: &[MessageId],
) -> Result<Cancellation, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (active, jobs) = cancel_active(&mut tx, messages).await?;
    let row = sqlx::query!(
        r#"insert into cancellation (account_id, canceled_by, scope, message_ids, jobs)
           values ($1, $2, $3, $4, $5)
           returning id, canceled_at"#,
        by.account as AccountId,
        by.email,
        scope.as_str(),
        &active as &[MessageId],
        jobs as i64,
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Cancellation {
        id: row.id,
        by: by.email.clone(),
        at: row.canceled_at,
        scope,
        messages: active,
        jobs: jobs as i64,
    })
}

/// Marks the still-active messages among `messages` canceled and cancels their jobs not yet
/// handed over, in `tx`. Returns the messages canceled and the jobs.
pub(crate) async fn cancel_active(
    tx: &mut Transaction<'_, Postgres>,
    messages: &[MessageId],
) -> Result<(Vec<MessageId>, u64), sqlx::Error> {
    let active = sqlx::query_scalar!(
        r#"update message set canceled_at = now()
           where id = any($1) and canceled_at is null and finished_at is null
           returning id as "id: MessageId""#,
        messages as &[MessageId]
    )
    .fetch_all(&mut **tx)
    .await?;
    let jobs = super::queue::cancel_pending(tx, &active).await?;
    Ok((active, jobs))
}

/// The newest `limit` cancellations.
pub async fn recent_cancellations(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<Cancellation>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select id, canceled_by, canceled_at, scope, message_ids as "message_ids: Vec<MessageId>", jobs
           from cancellation order by canceled_at desc, id desc limit $1"#,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Cancellation {
            id: r.id,
            by: r.canceled_by,
            at: r.canceled_at,
            scope: CancelScope::parse(&r.scope),
            messages: r.message_ids,
            jobs: r.jobs,
        })
        .collect())
}
