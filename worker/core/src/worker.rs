//! The long-running worker process: what `herald-worker run` executes until it is told to stop.
//!
//! Five loops run side by side:
//! - the **scheduler** fans out messages whose start time has come, marks finished messages
//!   (queueing senders' confirmations), sends due error reports, and keeps the sign-in
//!   tables tidy;
//! - the **inbox lane** leases inbox jobs in large batches and writes their portal notices;
//! - the **email lane** leases email jobs and sends them through a pool of SMTP connections;
//! - the **phone lane** (`phone`) places calls through the voice provider;
//! - the **heartbeat** checks the worker in ([`crate::heartbeat`]) every ten seconds, and checks it
//!   out when it stops, so the admin pages can tell when no worker is running.
//!
//! A watchdog ([`liveness`]) reads the clocks the four delivering lanes tick as they make
//! progress; a lane that panicked or showed none for `worker.lane_deadline_seconds` makes the
//! worker stop, record why on its heartbeat row (it stays, saying "stuck"), and return
//! [`WorkerError::Stuck`], so that `herald-worker run` exits non-zero for its supervisor to
//! restart it.
//!
//! What must stay true:
//! - Any number of workers can run at once: every statement they run is safe concurrently, and
//!   a job is only delivered by the worker holding its lease.
//! - On a stop request, each lane finishes what is in flight (an SMTP exchange already started,
//!   for up to [`STOP_GRACE`]; one notice statement), hands back leased jobs it has not started
//!   or had to abandon, and exits. A worker killed
//!   outright loses nothing either: its leases run out and other workers take the jobs over.
//! - An email is started only while its lease has at least
//!   [`WorkerConfig::email_margin`](crate::config::WorkerConfig::email_margin) left (both SMTP
//!   deadlines), so even a relay answering at the last moment never gets a job another worker may
//!   already have taken over.
//! - The worker checks in only while its lanes are alive: a stuck worker never counts as running.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

pub mod liveness;
pub mod ops;
mod phone;

use crate::accounts;
use crate::config::Config;
use crate::dialer::preferences::DialerPreferencesError;
use crate::domain::{Device, JobId, JobKind};
use crate::heartbeat;
use crate::messaging::delivery::{self, MessageCache};
use crate::messaging::email::{self, Mailer, SendError};
use crate::messaging::email_preferences::{self, EmailPreferencesError};
use crate::messaging::error_reports::{self, Cause, ReportRules};
use crate::messaging::fanout;
use crate::messaging::queue::{self, FailOutcome, Failure, LeasedJob};
use crate::messaging::unsubscribe::UnsubscribeKey;
use liveness::{Lane, LaneClocks};

/// How long in-flight SMTP exchanges may run on after a stop request.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often the watchdog reads the lanes' clocks.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How long a worker with a stuck lane waits for its other lanes to hand back their jobs before
/// it abandons them (their leases run out for other workers to take over).
const STUCK_GRACE: Duration = Duration::from_secs(15);

/// Sent emails are marked in groups this size: a worker killed mid-batch resends at most this
/// many (plus those in flight), and marking costs one statement per group.
const MARK_SENT_EVERY: usize = 16;

/// How long emails refused by the SMTP server for its own reasons wait before any worker tries
/// them again; the lane that met the refusal pauses this long at first…
const RELAY_PAUSE_FIRST: Duration = Duration::from_secs(2);
/// …doubling on each refusal in a row up to this, or until the Email Preferences are saved.
const RELAY_PAUSE_MAX: Duration = Duration::from_secs(60);

/// What became of one email of a batch.
enum Sending {
    /// Not started (stopping, or too little lease left), or abandoned at a stop: handed back.
    Unstarted,
    /// Not started because the SMTP server refused another email of the batch for its own
    /// reasons: held back, at no cost to the job's attempts.
    HeldBack,
    /// The SMTP server refused it for its own reasons (sign-in, relaying, an outage): held back.
    RelayDown(Cause, String),
    /// No longer this worker's (canceled, or its lease taken over): left alone.
    NotHeld,
    /// The SMTP server took it.
    Sent,
    /// It failed; retried or given up on as the failure says.
    Failed(Failure),
}

/// Where a job of an email batch goes when the batch ends without sending it.
enum Handback {
    /// Sent, failed or no longer held: nowhere.
    None,
    /// Back to the queue at once ([`queue::release`]).
    Release(JobId),
    /// Back to the queue after a pause ([`queue::hold_back`]).
    Hold(JobId),
}

/// How often the scheduler keeps the sign-in tables tidy.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// How often the scheduler checks whether an error report is due.
const ERROR_REPORTS_EVERY: Duration = Duration::from_secs(5);

/// Why a pass of the worker failed, or why it stopped. Passes are retried on the next tick; only
/// [`WorkerError::Stuck`] stops the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A lane panicked or showed no progress within its deadline: the worker stopped so that its
    /// supervisor restarts it.
    #[error("the worker stopped because a lane is stuck: {0}")]
    Stuck(String),
    /// Purging expired sessions and old sign-in failures failed.
    #[error("housekeeping failed")]
    Housekeeping(#[source] accounts::AccountError),
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// The Email Preferences could not be loaded or are not usable for sending.
    #[error("loading the email settings failed")]
    Email(#[from] EmailPreferencesError),
    /// A message's template could not be rendered.
    #[error("rendering failed")]
    Render(#[from] delivery::RenderError),
    /// The Dialer Preferences could not be loaded or are not usable for calling.
    #[error("loading the dialer settings failed")]
    Dialer(#[from] DialerPreferencesError),
    /// The SMTP server refused email for a reason of its own; the batch's emails wait.
    #[error("the SMTP server refused email ({}): {text}", cause.as_str())]
    Relay {
        /// What a person must fix.
        cause: Cause,
        /// The server's answer.
        text: String,
    },
    /// Checking for or writing an error report failed.
    #[error("sending an error report failed")]
    ErrorReport(#[from] error_reports::ReportError),
}

/// One pass of housekeeping; returns how many expired sessions were removed.
pub async fn housekeeping(pool: &PgPool, settings: &Config) -> Result<u64, WorkerError> {
    accounts::purge_expired(pool, &settings.auth)
        .await
        .map_err(WorkerError::Housekeeping)
}

/// What one worker process shares between its loops.
pub struct Worker {
    pool: PgPool,
    settings: Config,
    id: Uuid,
    cache: MessageCache,
    key: UnsubscribeKey,
    clocks: LaneClocks,
    /// Set once, by the watchdog, when a lane is stuck.
    stuck: std::sync::OnceLock<String>,
}

impl Worker {
    /// A worker with a fresh lease identity, loading (or creating, the first time) the unsubscribe
    /// link key. Fails only when the database cannot be read.
    pub async fn new(pool: PgPool, settings: Config) -> Result<Self, WorkerError> {
        let key = UnsubscribeKey::load(&pool).await?;
        Ok(Self {
            pool,
            settings,
            id: Uuid::new_v4(),
            cache: MessageCache::default(),
            key,
            clocks: LaneClocks::new(),
            stuck: std::sync::OnceLock::new(),
        })
    }

    /// This worker's lease identity (fresh for every process).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Fans out every due message; returns how many.
    pub async fn fan_out(&self) -> Result<usize, WorkerError> {
        let mut n = 0;
        loop {
            let started = std::time::Instant::now();
            let Some(f) = fanout::fan_out_next(&self.pool).await? else {
                break;
            };
            crate::metrics::fan_out(started.elapsed());
            tracing::info!(message = ?f.message_id, recipients = f.recipients, email = f.email_jobs,
                inbox = f.inbox_jobs, phone = f.phone_jobs, unreached = f.unreached, "fanned out");
            self.clocks.tick(Lane::Scheduler);
            n += 1;
        }
        Ok(n)
    }

    /// One inbox batch: lease, write notices. Returns how many jobs were delivered. A notice is
    /// rendered when it is read, so the lane writes one small row per job whatever the body's size.
    pub async fn inbox_pass(&self) -> Result<u64, WorkerError> {
        let w = &self.settings.worker;
        let jobs = queue::lease(
            &self.pool,
            Device::Inbox,
            self.id,
            w.lease_seconds,
            w.inbox_batch,
            w.max_attempts,
        )
        .await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let ids: Vec<_> = jobs.iter().map(|j| j.id).collect();
        Ok(queue::deliver_notices(&self.pool, self.id, &ids).await?)
    }

    /// One email batch through `mailer`. Jobs not started because of `stop` or a lease about to
    /// run out are handed back; jobs canceled meanwhile are not sent. Returns how many emails
    /// were sent.
    pub async fn email_pass(
        &self,
        mailer: &Mailer,
        stop: &watch::Receiver<bool>,
    ) -> Result<u64, WorkerError> {
        let w = &self.settings.worker;
        let jobs = queue::lease(
            &self.pool,
            Device::Email,
            self.id,
            w.lease_seconds,
            w.email_batch,
            w.max_attempts,
        )
        .await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let people = delivery::recipients(&self.pool, &jobs).await?;
        let mut rendered = Vec::with_capacity(jobs.len());
        for job in jobs {
            let out = if job.kind == JobKind::ErrorReport {
                error_reports::email(&self.pool, &job).await?
            } else if job.kind == JobKind::Confirmation {
                let m = self.cache.get(&self.pool, job.message_id).await?;
                delivery::confirmation(&self.pool, &m, &job).await?
            } else {
                let m = self.cache.get(&self.pool, job.message_id).await?;
                let r = job.person_id.and_then(|p| people.get(&(job.message_id, p)));
                delivery::email(&m, &job, r, mailer.config(), &self.key)
            };
            rendered.push((job, out));
        }
        let margin = w.email_margin();
        // Every statement of a send runs inside its own future, never in the loop below: a
        // future parked by `buffer_unordered` while the loop awaited would keep its pooled
        // connection, and with the pool drained the loop's statement would wait for ever.
        let sent = std::sync::Mutex::new(Vec::<JobId>::new());
        let sent = &sent;
        // Set once the SMTP server refuses an email for its own reasons: the rest of the batch
        // is not tried against it.
        let relay_down = std::sync::Mutex::new(None::<(Cause, String)>);
        let relay_down = &relay_down;
        let mut results = futures::stream::iter(rendered)
            .map(|(job, out)| async move {
                let outcome = if relay_down
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_some()
                {
                    Sending::HeldBack
                } else {
                    self.send_one(mailer, stop, margin, &job, &out).await
                };
                self.clocks.tick(Lane::Email);
                let marked = match outcome {
                    Sending::Unstarted => return Ok((Handback::Release(job.id), 0)),
                    Sending::HeldBack => return Ok((Handback::Hold(job.id), 0)),
                    Sending::RelayDown(cause, text) => {
                        // One record per batch: the other sends that were in flight met the
                        // same refusal.
                        let first = {
                            let mut down = relay_down.lock().unwrap_or_else(|p| p.into_inner());
                            let first = down.is_none();
                            if first {
                                *down = Some((cause, text.clone()));
                            }
                            first
                        };
                        if first {
                            error_reports::record(
                                &self.pool,
                                Device::Email,
                                cause,
                                &text,
                                Some(job.id),
                            )
                            .await?;
                        }
                        return Ok((Handback::Hold(job.id), 0));
                    }
                    Sending::NotHeld => 0,
                    Sending::Sent => {
                        let group = {
                            let mut sent = sent.lock().unwrap_or_else(|p| p.into_inner());
                            sent.push(job.id);
                            (sent.len() >= MARK_SENT_EVERY).then(|| std::mem::take(&mut *sent))
                        };
                        match group {
                            Some(group) => queue::mark_sent(&self.pool, self.id, &group).await?,
                            None => 0,
                        }
                    }
                    Sending::Failed(failure) => {
                        self.record_failure(Device::Email, &job, &failure).await?;
                        0
                    }
                };
                Ok::<_, WorkerError>((Handback::None, marked))
            })
            .buffer_unordered(w.smtp_connections.max(1));
        let (mut unstarted, mut held) = (Vec::<JobId>::new(), Vec::<JobId>::new());
        let mut total = 0;
        while let Some(result) = results.next().await {
            let (handback, marked) = result?;
            match handback {
                Handback::None => {}
                Handback::Release(id) => unstarted.push(id),
                Handback::Hold(id) => held.push(id),
            }
            total += marked;
        }
        drop(results);
        let sent = std::mem::take(&mut *sent.lock().unwrap_or_else(|p| p.into_inner()));
        total += queue::mark_sent(&self.pool, self.id, &sent).await?;
        if !unstarted.is_empty() {
            queue::release(&self.pool, self.id, &unstarted).await?;
        }
        let relay_down = relay_down.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((cause, text)) = relay_down {
            let reason = format!("waiting for the SMTP server: {text}");
            let pause = RELAY_PAUSE_FIRST.as_secs_f64();
            queue::hold_back(&self.pool, self.id, &held, pause, &reason).await?;
            return Err(WorkerError::Relay { cause, text });
        }
        Ok(total)
    }

    /// Sends one email of a batch, if it may still be sent: not while stopping, not with less
    /// than `margin` of its lease left, and only once [`queue::hand_over`] has marked it handed
    /// (a canceled job is not).
    async fn send_one(
        &self,
        mailer: &Mailer,
        stop: &watch::Receiver<bool>,
        margin: chrono::TimeDelta,
        job: &LeasedJob,
        out: &email::Outgoing,
    ) -> Sending {
        if *stop.borrow() || Utc::now() + margin > job.lease_until {
            return Sending::Unstarted;
        }
        let msg = match email::build(mailer.config(), out) {
            Ok(msg) => msg,
            Err(f) => return Sending::Failed(f),
        };
        match queue::hand_over(&self.pool, self.id, job.id).await {
            Ok(true) => {}
            Ok(false) => return Sending::NotHeld,
            // Not marked, so not sent: the job goes back (or its lease runs out).
            Err(e) => {
                log_failure("handing an email over", &WorkerError::Db(e));
                return Sending::Unstarted;
            }
        }
        // A send still going STOP_GRACE after a stop request is abandoned and its job handed
        // back: at worst the email goes twice, never not at all.
        let started = std::time::Instant::now();
        tokio::select! {
            r = mailer.send(&msg) => match r {
                Ok(()) => {
                    crate::metrics::smtp_send(started.elapsed());
                    Sending::Sent
                }
                Err(SendError::Email(f)) => Sending::Failed(f),
                Err(SendError::Relay { cause, text }) => Sending::RelayDown(cause, text),
            },
            () = after_stop(stop.clone(), STOP_GRACE) => Sending::Unstarted,
        }
    }

    async fn record_failure(
        &self,
        device: Device,
        job: &LeasedJob,
        failure: &Failure,
    ) -> Result<(), WorkerError> {
        let w = &self.settings.worker;
        let outcome = queue::fail(
            &self.pool,
            self.id,
            job.id,
            failure,
            w.max_attempts,
            w.backoff_seconds,
        )
        .await?;
        match outcome {
            FailOutcome::Retrying => {
                crate::metrics::retry(device);
                tracing::warn!(job = %job.id, attempt = job.attempts, %failure, "delivery will be retried")
            }
            FailOutcome::Failed => tracing::warn!(job = %job.id, %failure, "delivery failed"),
            FailOutcome::NotHeld => {
                tracing::warn!(job = %job.id, "lease lost before the failure was recorded")
            }
        }
        Ok(())
    }

    /// Sends an error report if one is due; returns whether one was.
    pub async fn error_reports(&self) -> Result<bool, WorkerError> {
        let rules = ReportRules {
            batch_seconds: self.settings.worker.error_batch_seconds,
            every_minutes: self.settings.worker.error_report_minutes,
        };
        let report = error_reports::report_due(&self.pool, &rules, &self.settings.smtp).await?;
        if let Some(id) = report {
            tracing::warn!(report = %id, "dialer errors reported to the error list");
        }
        Ok(report.is_some())
    }

    /// Marks finished messages; returns how many.
    pub async fn finish(&self) -> Result<usize, WorkerError> {
        let done = queue::finish_messages(&self.pool).await?;
        for id in &done {
            tracing::info!(message = %id, "message finished");
        }
        Ok(done.len())
    }
}

/// Runs the worker until `stop` resolves, or until a lane is stuck: then it returns
/// [`WorkerError::Stuck`] (its heartbeat row says why).
pub async fn run(
    pool: PgPool,
    settings: Config,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), WorkerError> {
    let worker = Arc::new(Worker::new(pool, settings).await?);
    tracing::info!(worker = %worker.id(), "worker started");
    let (stop_tx, stop_rx) = watch::channel(false);
    let lanes = Lane::ALL.map(|lane| {
        let (worker, stop) = (worker.clone(), stop_rx.clone());
        let task = match lane {
            Lane::Scheduler => tokio::spawn(scheduler(worker, stop)),
            Lane::Inbox => tokio::spawn(inbox_lane(worker, stop)),
            Lane::Email => tokio::spawn(email_lane(worker, stop)),
            Lane::Phone => tokio::spawn(phone::phone_lane(worker, stop)),
        };
        (lane, task)
    });
    let beat = tokio::spawn(heartbeat(worker.clone(), stop_rx.clone()));
    crate::metrics::install();
    let ops = worker
        .settings
        .ops
        .listen
        .clone()
        .map(|addr| tokio::spawn(ops::serve(addr, worker.clone())));
    let stuck = watch_lanes(&worker, &lanes, stop).await;
    match &stuck {
        None => tracing::info!("stop requested; finishing what is in flight"),
        Some(why) => {
            tracing::error!(reason = %why, "a lane is stuck; stopping so that the supervisor restarts the worker");
            // First the flag (the heartbeat then no longer checks out), then the row, so that
            // the pages say why even if the lanes never stop.
            let _ = worker.stuck.set(why.clone());
            let process = heartbeat::Process::this();
            let marked = tokio::time::timeout(
                STUCK_GRACE,
                heartbeat::mark_stuck(&worker.pool, worker.id, &process, why),
            )
            .await;
            match marked {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log_failure("recording the stuck lane", &WorkerError::Db(e)),
                Err(_) => tracing::error!("recording the stuck lane timed out"),
            }
        }
    }
    let _ = stop_tx.send(true);
    // A stuck lane may never see the stop: the lanes get STUCK_GRACE in all, then are dropped.
    let give_up = tokio::time::Instant::now() + STUCK_GRACE;
    for (lane, mut task) in lanes {
        let joined = match stuck {
            None => Ok((&mut task).await),
            Some(_) => tokio::time::timeout_at(give_up, &mut task).await,
        };
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(lane = lane.as_str(), error = %e, "a worker lane panicked")
            }
            Err(_) => {
                tracing::error!(lane = lane.as_str(), "the lane did not stop; abandoning it");
                task.abort();
            }
        }
    }
    if let Err(e) = beat.await {
        tracing::error!(error = %e, "the heartbeat panicked");
    }
    if let Some(ops) = ops {
        ops.abort();
    }
    match stuck {
        None => {
            tracing::info!("worker stopped");
            Ok(())
        }
        Some(why) => Err(WorkerError::Stuck(why)),
    }
}

/// Waits for `stop`, checking the lanes every [`WATCH_EVERY`]; returns why a lane is stuck if one
/// is first.
async fn watch_lanes(
    worker: &Worker,
    lanes: &[(Lane, tokio::task::JoinHandle<()>)],
    stop: impl std::future::Future<Output = ()>,
) -> Option<String> {
    let deadline = worker.settings.worker.lane_deadline();
    let ended = |lane: Lane| lanes.iter().any(|(l, t)| *l == lane && t.is_finished());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return None,
            () = tokio::time::sleep(WATCH_EVERY) => {
                let now = tokio::time::Instant::now();
                if let Some((_, why)) = liveness::stuck_lane(&worker.clocks, ended, deadline, now) {
                    return Some(why);
                }
            }
        }
    }
}

/// Sleeps for `d` or until stop; returns true when stopping.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = stop.changed() => true,
        () = tokio::time::sleep(d) => *stop.borrow(),
    }
}

/// Resolves `grace` after a stop is requested.
async fn after_stop(mut stop: watch::Receiver<bool>, grace: Duration) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    tokio::time::sleep(grace).await;
}

fn log_failure(what: &str, e: &WorkerError) {
    let mut chain = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    tracing::warn!(error = %e, cause = %chain, "{what} failed; will try again");
}

/// Checks the worker in every [`heartbeat::BEAT_EVERY`] until stop, then checks it out.
async fn heartbeat(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let process = heartbeat::Process::this();
    loop {
        if let Err(e) = heartbeat::beat(&worker.pool, worker.id, &process).await {
            log_failure("checking in", &WorkerError::Db(e));
        }
        if pause(&mut stop, heartbeat::BEAT_EVERY).await {
            break;
        }
    }
    // A stuck worker does not check out: `run` records why on its row instead.
    if worker.stuck.get().is_some() {
        return;
    }
    if let Err(e) = heartbeat::retire(&worker.pool, worker.id).await {
        log_failure("checking out", &WorkerError::Db(e));
    }
}

async fn scheduler(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(worker.settings.worker.poll_ms);
    let mut last_housekeeping: Option<tokio::time::Instant> = None;
    let mut last_error_reports: Option<tokio::time::Instant> = None;
    loop {
        worker.clocks.tick(Lane::Scheduler);
        if let Err(e) = worker.fan_out().await {
            log_failure("fan-out", &e);
        }
        if let Err(e) = worker.finish().await {
            log_failure("finishing messages", &e);
        }
        if last_error_reports.is_none_or(|t| t.elapsed() >= ERROR_REPORTS_EVERY) {
            last_error_reports = Some(tokio::time::Instant::now());
            if let Err(e) = worker.error_reports().await {
                log_failure("sending error reports", &e);
            }
        }
        if last_housekeeping.is_none_or(|t| t.elapsed() >= HOUSEKEEPING_EVERY) {
            last_housekeeping = Some(tokio::time::Instant::now());
            match housekeeping(&worker.pool, &worker.settings).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "removed expired sessions"),
                Err(e) => log_failure("housekeeping", &e),
            }
            match heartbeat::forget_dead(&worker.pool).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(workers = n, "forgot workers silent for a day"),
                Err(e) => log_failure("forgetting dead workers", &WorkerError::Db(e)),
            }
        }
        if pause(&mut stop, poll).await {
            return;
        }
    }
}

async fn inbox_lane(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(worker.settings.worker.poll_ms);
    loop {
        worker.clocks.tick(Lane::Inbox);
        if *stop.borrow() {
            return;
        }
        let idle = match worker.inbox_pass().await {
            Ok(n) => n == 0,
            Err(e) => {
                log_failure("an inbox batch", &e);
                true
            }
        };
        if idle && pause(&mut stop, poll).await {
            return;
        }
    }
}

async fn email_lane(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(worker.settings.worker.poll_ms);
    let mut mailer: Option<(chrono::DateTime<Utc>, Mailer)> = None;
    let mut warned = HashSet::new();
    // After the SMTP server refused email for its own reasons: how long the lane waits next
    // time, and until when it waits now (unless the Email Preferences change meanwhile).
    let mut relay_pause = RELAY_PAUSE_FIRST;
    let mut paused_until: Option<tokio::time::Instant> = None;
    loop {
        worker.clocks.tick(Lane::Email);
        if *stop.borrow() {
            break;
        }
        // The Email Preferences page may change at any time: rebuild the pool when it does.
        let stamp = match email_preferences::saved_at(&worker.pool).await {
            Ok(s) => s,
            Err(e) => {
                log_failure("reading the email settings", &WorkerError::Email(e));
                if pause(&mut stop, poll).await {
                    break;
                }
                continue;
            }
        };
        let changed = mailer.as_ref().is_none_or(|(s, _)| *s != stamp);
        if !changed && paused_until.is_some_and(|t| t > tokio::time::Instant::now()) {
            if pause(&mut stop, poll).await {
                break;
            }
            continue;
        }
        if changed {
            relay_pause = RELAY_PAUSE_FIRST;
            paused_until = None;
            if let Some((_, old)) = mailer.take() {
                old.close().await;
            }
            match email_preferences::smtp_config(
                &worker.pool,
                &worker.settings.smtp,
                &worker.settings.secrets,
            )
            .await
            {
                Ok(config) => {
                    mailer = Some((
                        stamp,
                        Mailer::new(
                            config,
                            worker.settings.worker.smtp_connections,
                            worker.settings.worker.smtp_timeout(),
                        ),
                    ));
                }
                Err(e) => {
                    if warned.insert(stamp) {
                        log_failure("loading the email settings", &WorkerError::Email(e));
                    }
                    if pause(&mut stop, poll).await {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some((_, m)) = &mailer else { continue };
        let idle = match worker.email_pass(m, &stop).await {
            Ok(n) => {
                if n > 0 {
                    relay_pause = RELAY_PAUSE_FIRST;
                }
                n == 0
            }
            Err(e @ WorkerError::Relay { .. }) => {
                tracing::warn!(error = %e, pause = ?relay_pause, "emails wait for the SMTP server");
                paused_until = Some(tokio::time::Instant::now() + relay_pause);
                relay_pause = (relay_pause * 2).min(RELAY_PAUSE_MAX);
                true
            }
            Err(e) => {
                log_failure("an email batch", &e);
                true
            }
        };
        if idle && pause(&mut stop, poll).await {
            break;
        }
    }
    if let Some((_, m)) = mailer {
        m.close().await;
    }
}
