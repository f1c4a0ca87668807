//! Roster import runs: where each upload stands, in PostgreSQL (`roster_import`), so that every
//! server answers the progress poll and a run whose server stopped reads as interrupted.
//!
//! What must stay true: a running import moves its heartbeat at least every
//! [`HEARTBEAT`] ([`track`] does while the import runs); a run with no outcome whose heartbeat is
//! older than [`INTERRUPTED_AFTER`] is [`RunState::Interrupted`], and since an import is one
//! transaction, an interrupted run wrote nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::ImportProgress;
use crate::domain::AccountId;

/// How often a running import's heartbeat moves, even when its stage does not.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long a run's heartbeat may be quiet before the run reads as interrupted: several
/// heartbeats, so one slow statement is not mistaken for a stopped server.
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(30);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Loaded; its lines are the summary, one per table.
    Loaded,
    /// Nothing was written; its lines are every problem found.
    Rejected,
}

impl Outcome {
    /// As `roster_import.outcome` stores it.
    fn as_str(self) -> &'static str {
        match self {
            Self::Loaded => "loaded",
            Self::Rejected => "rejected",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "loaded" => Some(Self::Loaded),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Still running: its stage and how far it has got.
    Running {
        /// What it is doing, e.g. `Writing person`.
        stage: String,
        /// 0 to 100.
        percent: u8,
    },
    /// The server running it stopped (its heartbeat went quiet) before it finished.
    Interrupted {
        /// The stage it had reached.
        stage: String,
        /// When it was last heard from.
        last_heard: DateTime<Utc>,
    },
    /// Finished: how, and its lines.
    Finished(Outcome, Vec<String>),
}

/// Records a new run, started by `by`; returns its id.
pub async fn start(pool: &PgPool, by: AccountId) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into roster_import (started_by) values ($1) returning id",
        by as AccountId
    )
    .fetch_one(pool)
    .await
}

/// Records the run's progress (and moves its heartbeat).
pub async fn report(pool: &PgPool, id: Uuid, p: &ImportProgress) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update roster_import set stage = $2, percent = $3, heartbeat_at = now()
         where id = $1 and finished_at is null",
        id,
        p.stage,
        i16::from(p.percent.min(100))
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records how the run ended.
pub async fn finish(
    pool: &PgPool,
    id: Uuid,
    outcome: Outcome,
    lines: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update roster_import set stage = 'Finished', percent = 100, heartbeat_at = now(),
             finished_at = now(), outcome = $2, lines = $3
         where id = $1 and finished_at is null",
        id,
        outcome.as_str(),
        lines
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Where the run `id` stands; `None` for no such run.
pub async fn state(pool: &PgPool, id: Uuid) -> Result<Option<RunState>, sqlx::Error> {
    let quiet = INTERRUPTED_AFTER.as_secs_f64();
    let r = sqlx::query!(
        r#"select stage, percent, heartbeat_at, outcome, lines,
                  heartbeat_at < now() - make_interval(secs => $2) as "quiet!"
           from roster_import where id = $1"#,
        id,
        quiet
    )
    .fetch_optional(pool)
    .await?;
    Ok(
        r.map(|r| match r.outcome.as_deref().and_then(Outcome::parse) {
            Some(outcome) => RunState::Finished(outcome, r.lines),
            None if r.quiet => RunState::Interrupted {
                stage: r.stage,
                last_heard: r.heartbeat_at,
            },
            None => RunState::Running {
                stage: r.stage,
                percent: u8::try_from(r.percent).unwrap_or(0),
            },
        }),
    )
}

/// Writes the newest progress `progress` holds to the run, on change and at least every
/// [`HEARTBEAT`], until the sender is dropped. Run it beside the import: the import reports into a
/// `watch` channel (its callback cannot wait), and this writes what it reported.
pub async fn track(
    pool: PgPool,
    id: Uuid,
    mut progress: tokio::sync::watch::Receiver<ImportProgress>,
) {
    loop {
        let latest = progress.borrow_and_update().clone();
        if let Err(e) = report(&pool, id, &latest).await {
            tracing::warn!(error = %e, import = %id, "could not record the roster import's progress");
        }
        match tokio::time::timeout(HEARTBEAT, progress.changed()).await {
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(_)) => return,
        }
    }
}
