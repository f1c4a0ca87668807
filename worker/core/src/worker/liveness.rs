//! Whether each lane of a worker is alive: the clocks its lanes tick and the check that reads
//! them.
//!
//! A process that runs is not a worker that delivers: a lane can panic, or wait for ever on a
//! peer that stopped answering, while the heartbeat goes on checking the worker in. So every lane
//! ticks its clock whenever it shows progress (a pass finished, an email sent, a call settled, a
//! message fanned out), and the worker's watchdog ([`stuck_lane`]) calls a lane stuck once it
//! has ended or its clock has not moved for the lane deadline.
//!
//! What must stay true:
//! - A lane ticks at least once per pass, idle passes included, and a pass that is busy but
//!   moving ticks on every item it finishes; so only a lane that is truly stuck goes quiet for
//!   longer than the deadline ([`WorkerConfig::check`](crate::config::WorkerConfig::check) keeps
//!   the deadline above the slowest single email).
//! - Lanes end only when the worker is stopping; one that ended before is stuck (it panicked).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One of the loops that deliver (the heartbeat is not one: it is what reports on them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Fans out due messages, finishes messages, sends error reports, tidies up.
    Scheduler,
    /// Writes portal notices.
    Inbox,
    /// Sends email.
    Email,
    /// Places calls.
    Phone,
}

impl Lane {
    /// Every lane, in the order the worker starts them.
    pub const ALL: [Lane; 4] = [Lane::Scheduler, Lane::Inbox, Lane::Email, Lane::Phone];

    /// The lane's name in log lines and on the Overview.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Scheduler => "scheduler",
            Lane::Inbox => "inbox",
            Lane::Email => "email",
            Lane::Phone => "phone",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// When each lane last showed progress, as milliseconds since the clocks were made. Ticking is
/// one relaxed store, cheap enough for every email.
#[derive(Debug)]
pub struct LaneClocks {
    start: Instant,
    last_ms: [AtomicU64; 4],
}

impl LaneClocks {
    /// Clocks for lanes that start now (each counts as having just shown progress).
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    fn starting_at(start: Instant) -> Self {
        Self {
            start,
            last_ms: Default::default(),
        }
    }

    /// `lane` showed progress now.
    pub fn tick(&self, lane: Lane) {
        self.tick_at(lane, Instant::now());
    }

    fn tick_at(&self, lane: Lane, now: Instant) {
        let ms = now.saturating_duration_since(self.start).as_millis() as u64;
        self.last_ms[lane.index()].fetch_max(ms, Ordering::Relaxed);
    }

    /// How long `lane` has shown no progress, as of `now`.
    pub fn quiet_for(&self, lane: Lane, now: Instant) -> Duration {
        let last =
            self.start + Duration::from_millis(self.last_ms[lane.index()].load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

impl Default for LaneClocks {
    fn default() -> Self {
        Self::new()
    }
}

/// The first lane that is stuck as of `now`, and why, in words for ops: one that `ended` (the
/// worker is not stopping, so it panicked), or one quiet for longer than `deadline`.
pub fn stuck_lane(
    clocks: &LaneClocks,
    ended: impl Fn(Lane) -> bool,
    deadline: Duration,
    now: Instant,
) -> Option<(Lane, String)> {
    Lane::ALL.into_iter().find_map(|lane| {
        if ended(lane) {
            return Some((
                lane,
                format!("the {} lane stopped unexpectedly", lane.as_str()),
            ));
        }
        let quiet = clocks.quiet_for(lane, now);
        (quiet > deadline).then(|| {
            (
                lane,
                format!(
                    "the {} lane showed no progress for {} s (the deadline is {} s)",
                    lane.as_str(),
                    quiet.as_secs(),
                    deadline.as_secs()
                ),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_is_stuck_only_once_it_is_quiet_for_longer_than_the_deadline() {
        let start = Instant::now();
        let clocks = LaneClocks::starting_at(start);
        let deadline = Duration::from_secs(120);
        let never = |_: Lane| false;
        for lane in Lane::ALL {
            clocks.tick_at(lane, start + Duration::from_secs(100));
        }
        // The email lane moves on; the others stay where they were.
        clocks.tick_at(Lane::Email, start + Duration::from_secs(200));
        assert_eq!(
            stuck_lane(&clocks, never, deadline, start + Duration::from_secs(220)),
            None,
            "120 s quiet is not longer than the deadline"
        );
        let (lane, why) =
            stuck_lane(&clocks, never, deadline, start + Duration::from_secs(221)).unwrap();
        assert_eq!(lane, Lane::Scheduler);
        assert_eq!(
            why,
            "the scheduler lane showed no progress for 121 s (the deadline is 120 s)"
        );
        assert_eq!(
            clocks.quiet_for(Lane::Email, start + Duration::from_secs(221)),
            Duration::from_secs(21)
        );
    }

    #[test]
    fn a_lane_that_ended_while_the_worker_runs_is_stuck_at_once() {
        let start = Instant::now();
        let clocks = LaneClocks::starting_at(start);
        let (lane, why) = stuck_lane(
            &clocks,
            |l| l == Lane::Phone,
            Duration::from_secs(120),
            start + Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(lane, Lane::Phone);
        assert_eq!(why, "the phone lane stopped unexpectedly");
    }

    #[test]
    fn a_tick_never_moves_a_clock_back() {
        let start = Instant::now();
        let clocks = LaneClocks::starting_at(start);
        clocks.tick_at(Lane::Inbox, start + Duration::from_secs(50));
        clocks.tick_at(Lane::Inbox, start + Duration::from_secs(10));
        assert_eq!(
            clocks.quiet_for(Lane::Inbox, start + Duration::from_secs(60)),
            Duration::from_secs(10)
        );
    }
}
