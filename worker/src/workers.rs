//! Which workers are running, so that an admin looking at a message that is not moving learns
//! why. Every `herald-worker run` checks in every [`BEAT_EVERY`] under its lease identity (the
//! `leased_by` of the jobs it holds) and removes its row when it stops; the message pages warn
//! when deliveries wait and no worker has checked in for [`SILENT_AFTER`], and the Overview lists
//! the workers for ops.
//!
//! What must stay true:
//! - A check-in is one upsert: a worker whose row was removed (a day-long pause, say) is simply
//!   back on its next beat.
//! - [`SILENT_AFTER`] is several beats long, so one slow beat never raises the warning.
//! - Nothing here decides who delivers what: leases do. This is a report, never a lock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// How often a running worker checks in.
pub const BEAT_EVERY: Duration = Duration::from_secs(10);

/// How long without any check-in before the pages say no worker is running: six beats.
pub const SILENT_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Where a worker runs, as ops would look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub host: String,
    pub pid: i32,
}

impl Process {
    /// This process.
    pub fn this() -> Self {
        Self {
            host: hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "unknown host".into()),
            pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        }
    }
}

/// Worker `id` on `process` is alive now.
pub async fn beat(pool: &PgPool, id: Uuid, process: &Process) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into worker_heartbeat (worker_id, host, pid) values ($1, $2, $3)
         on conflict (worker_id) do update set seen_at = now()",
        id,
        process.host,
        process.pid
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Worker `id` has stopped.
pub async fn retire(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from worker_heartbeat where worker_id = $1", id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes the rows of workers that have not checked in for a day (they died without
/// stopping); returns how many.
pub async fn forget_dead(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("delete from worker_heartbeat where seen_at < now() - interval '1 day'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Whether any worker is running, as the pages report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// This many workers checked in within [`SILENT_AFTER`].
    Running(i64),
    /// None has: the last check-in, if any worker ever checked in (and did not stop cleanly).
    Silent { last_seen: Option<DateTime<Utc>> },
}

/// Whether any worker is running now.
pub async fn status(pool: &PgPool) -> Result<Workers, sqlx::Error> {
    let r = sqlx::query!(
        r#"select count(*) filter (where seen_at > now() - make_interval(secs => $1)) as "running!",
                  max(seen_at) as last_seen
           from worker_heartbeat"#,
        SILENT_AFTER.as_seconds_f64()
    )
    .fetch_one(pool)
    .await?;
    Ok(if r.running > 0 {
        Workers::Running(r.running)
    } else {
        Workers::Silent {
            last_seen: r.last_seen,
        }
    })
}

/// One worker as the Overview lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    pub host: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// Checked in within [`SILENT_AFTER`].
    pub running: bool,
}

/// Every worker on record (running ones first, then the silent ones of the last day), oldest
/// first.
pub async fn list(pool: &PgPool) -> Result<Vec<WorkerRow>, sqlx::Error> {
    sqlx::query_as!(
        WorkerRow,
        r#"select host, pid, started_at, seen_at,
                  seen_at > now() - make_interval(secs => $1) as "running!"
           from worker_heartbeat
           order by 5 desc, started_at, worker_id"#,
        SILENT_AFTER.as_seconds_f64()
    )
    .fetch_all(pool)
    .await
}
