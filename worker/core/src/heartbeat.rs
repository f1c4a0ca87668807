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
//! - A check-in says the worker's lanes are alive, not just its process: the worker checks in
//!   only while every lane finishes passes, and a worker with a stuck lane records why
//!   ([`mark_stuck`]) instead of checking out, so it never counts as running.

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
    /// The machine's host name (`unknown host` when it cannot be read).
    pub host: String,
    /// The operating-system process id.
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

/// Worker `id` stops because a lane is stuck (`why`); its row stays, saying so.
pub async fn mark_stuck(
    pool: &PgPool,
    id: Uuid,
    process: &Process,
    why: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into worker_heartbeat (worker_id, host, pid, stuck) values ($1, $2, $3, $4)
         on conflict (worker_id) do update set stuck = excluded.stuck",
        id,
        process.host,
        process.pid,
        why
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
    Silent {
        /// The newest check-in on record; `None` when no worker row is left.
        last_seen: Option<DateTime<Utc>>,
    },
}

impl Workers {
    /// What `rows` (as [`list`] gives them) say: how many are running, or when the last one was
    /// seen.
    pub fn of(rows: &[WorkerRow]) -> Self {
        match rows.iter().filter(|w| w.running).count() {
            0 => Self::Silent {
                last_seen: rows.iter().map(|w| w.seen_at).max(),
            },
            n => Self::Running(i64::try_from(n).unwrap_or(i64::MAX)),
        }
    }
}

/// Whether any worker is running now. The table holds one row per worker of the last day, so
/// reading them all is cheap enough for pages that poll.
pub async fn status(pool: &PgPool) -> Result<Workers, sqlx::Error> {
    Ok(Workers::of(&list(pool).await?))
}

/// One worker as the Overview lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// The host the worker runs on.
    pub host: String,
    /// The worker's process id.
    pub pid: i32,
    /// When the worker first checked in.
    pub started_at: DateTime<Utc>,
    /// Its latest check-in.
    pub seen_at: DateTime<Utc>,
    /// Checked in within [`SILENT_AFTER`], and not stuck.
    pub running: bool,
    /// Why the worker stopped with a lane stuck, if it did.
    pub stuck: Option<String>,
}

/// Every worker on record (running ones first, then the silent ones of the last day), oldest
/// first.
pub async fn list(pool: &PgPool) -> Result<Vec<WorkerRow>, sqlx::Error> {
    sqlx::query_as!(
        WorkerRow,
        r#"select host, pid, started_at, seen_at,
                  seen_at > now() - make_interval(secs => $1) and stuck is null as "running!",
                  stuck
           from worker_heartbeat
           order by 5 desc, started_at, worker_id"#,
        SILENT_AFTER.as_seconds_f64()
    )
    .fetch_all(pool)
    .await
}

/// A span of time as ops read it: "42 s", "7 min", "3 h 12 min".
fn span(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// `herald-worker status`: the workers and the queue, as text for ops, at `now`.
pub fn render(
    workers: &[WorkerRow],
    depth: &[crate::messaging::queue::Depth],
    now: DateTime<Utc>,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match Workers::of(workers) {
        Workers::Running(n) => {
            let _ = writeln!(out, "Workers: {n} running");
        }
        Workers::Silent { .. } => out.push_str(
            "Workers: none running, so nothing is being delivered. Start one with `herald-worker run`.\n",
        ),
    }
    for w in workers {
        let _ = writeln!(
            out,
            "  {:<20} pid {:<8} up {:<12} last check-in {} ago{}",
            w.host,
            w.pid,
            span(w.seen_at - w.started_at),
            span(now - w.seen_at),
            match (&w.stuck, w.running) {
                (Some(why), _) =>
                    format!(" (stuck: {why}; it exited for its supervisor to restart it)"),
                (None, true) => String::new(),
                (None, false) => " (silent: stopped without checking out)".into(),
            }
        );
    }
    out.push_str("Queue:\n");
    let _ = writeln!(
        out,
        "  {:<7} {:>9} {:>9} {:>12}  longest wait",
        "device", "due now", "later", "in progress"
    );
    for device in crate::domain::Device::ALL {
        let d = depth.iter().find(|d| d.device == device);
        let (due, later, in_progress) = d.map_or((0, 0, 0), |d| (d.due, d.later, d.in_progress));
        let wait = d
            .and_then(|d| d.oldest_due)
            .map_or_else(|| "-".to_string(), |t| span(now - t));
        let _ = writeln!(
            out,
            "  {:<7} {due:>9} {later:>9} {in_progress:>12}  {wait}",
            device.as_str()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone, Utc};

    use super::{WorkerRow, render, span};
    use crate::domain::Device;
    use crate::messaging::queue::Depth;

    #[test]
    fn spans_read_as_seconds_minutes_or_hours() {
        assert_eq!(span(TimeDelta::seconds(42)), "42 s");
        assert_eq!(span(TimeDelta::seconds(7 * 60 + 5)), "7 min");
        assert_eq!(span(TimeDelta::seconds(3 * 3600 + 12 * 60)), "3 h 12 min");
        assert_eq!(span(TimeDelta::seconds(-3)), "0 s");
    }

    #[test]
    fn the_status_names_each_worker_and_every_devices_queue() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap();
        let workers = [
            WorkerRow {
                host: "ops-1".into(),
                pid: 4242,
                started_at: now - TimeDelta::hours(2),
                seen_at: now - TimeDelta::seconds(4),
                running: true,
                stuck: None,
            },
            WorkerRow {
                host: "ops-2".into(),
                pid: 77,
                started_at: now - TimeDelta::hours(5),
                seen_at: now - TimeDelta::minutes(25),
                running: false,
                stuck: None,
            },
            WorkerRow {
                host: "ops-3".into(),
                pid: 9,
                started_at: now - TimeDelta::hours(1),
                seen_at: now - TimeDelta::seconds(30),
                running: false,
                stuck: Some("the email lane finished no pass for 130 s".into()),
            },
        ];
        let depth = [Depth {
            device: Device::Email,
            due: 1234,
            later: 5000,
            in_progress: 12,
            oldest_due: Some(now - TimeDelta::seconds(150)),
        }];
        let text = render(&workers, &depth, now);
        assert!(text.starts_with("Workers: 1 running\n"), "{text}");
        assert!(
            text.contains("ops-1")
                && text.contains("pid 4242")
                && text.contains("last check-in 4 s ago\n"),
            "{text}"
        );
        assert!(
            text.contains("last check-in 25 min ago (silent: stopped without checking out)"),
            "{text}"
        );
        assert!(
            text.contains("(stuck: the email lane finished no pass for 130 s; it exited"),
            "{text}"
        );
        assert!(
            text.contains("  email        1234      5000           12  2 min\n"),
            "{text}"
        );
        assert!(
            text.contains("  inbox           0         0            0  -\n"),
            "{text}"
        );
        assert!(text.contains("  phone "), "{text}");

        let none = render(&[], &[], now);
        assert!(
            none.starts_with("Workers: none running, so nothing is being delivered."),
            "{none}"
        );
    }
}
