//! The phone lane: leases phone jobs, places their calls through the voice provider under the
//! dial window and the calls-per-second cap, hangs up calls whose jobs were canceled, and looks
//! up calls whose final status callback never came.
//!
//! What must stay true:
//! - A call is placed only if, at the moment of placing (after waiting for its pacing slot), it
//!   is inside the dial window and the job's lease has more than the provider request timeout
//!   plus five seconds left; otherwise the job is handed back (deferred to the next opening, or
//!   released).
//! - A job leased again after its worker stopped mid-call follows the call that worker placed
//!   (when a callback has made it known) instead of calling the number a second time.
//! - A provider refusal of the call fails the job at once with the provider's words; credentials,
//!   caller-id and outage errors are retried with backoff and recorded for the error report;
//!   429 backs that job off and pauses every worker's dialing for the provider's `Retry-After`
//!   (through the shared pace row), without being reported.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use tokio::sync::watch;

use super::liveness::Lane;
use super::{Worker, WorkerError, after_stop, log_failure, pause};
use crate::dialer::callback;
use crate::dialer::calls::{self, CallUpdate, Placed};
use crate::dialer::preferences::{self as dialer_preferences, DialerConfig, voice_language};
use crate::dialer::provider::{
    self, CallState, CallStatus, MAX_TWIML, OutboundCall, ProviderError, REQUEST_TIMEOUT,
    TwilioVoice, VoiceProvider,
};
use crate::dialer::window::{CallTime, when_to_call};
use crate::directory;
use crate::domain::{Device, DialWindow, JobId, MessageId, PersonId, PhoneNumber};
use crate::messaging::delivery::{self, Recipient};
use crate::messaging::email_preferences;
use crate::messaging::error_reports::{self, Cause};
use crate::messaging::queue::{self, Failure, LeasedJob};

/// How long after placing a call its final status is looked up if no callback brought it: the
/// ring time plus this.
const LOOKUP_AFTER: std::time::Duration = std::time::Duration::from_secs(300);

/// How long a taken hang-up is held before it is tried again (a failure, or a worker that died).
const HANGUP_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// How often an overdue call is looked up again while the provider says it is still going.
const LOOKUP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How long after placing a call Herald stops waiting to learn how it ended (the provider never
/// confirmed it, or keeps saying it is still going): the call is then failed, saying so. A
/// recorded message plays for minutes, not hours.
const LOOKUP_GIVE_UP: TimeDelta = TimeDelta::hours(2);

/// How long after a cancel Herald stops trying to hang its call up (the provider keeps failing):
/// by then the call has long ended on its own.
const HANGUP_GIVE_UP: TimeDelta = TimeDelta::hours(1);

/// How long every worker pauses dialing after a 429 without `Retry-After`.
const RATE_LIMIT_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest pause a `Retry-After` can impose.
const MAX_RATE_LIMIT_PAUSE: std::time::Duration = std::time::Duration::from_secs(60);

/// What happened to one job of a batch.
enum Outcome {
    Placed(Placed),
    /// Not started (stopping, or the lease too short): handed back.
    Unstarted,
    /// The window closed while it waited for its slot.
    Deferred(DateTime<Utc>),
    /// No longer this worker's (canceled, or its lease taken over): not called.
    NotHeld,
    Provider(ProviderError),
}

/// Lease headroom a call needs: the provider request may take REQUEST_TIMEOUT.
fn call_margin() -> TimeDelta {
    TimeDelta::from_std(REQUEST_TIMEOUT).unwrap_or(TimeDelta::seconds(10)) + TimeDelta::seconds(5)
}

/// What every job of one phone batch shares while it is prepared and placed.
struct Pass<'a, P> {
    cfg: &'a DialerConfig,
    provider: &'a P,
    stop: &'a watch::Receiver<bool>,
    tz: Tz,
    portal_url: String,
    /// Where the provider's status callbacks go.
    origin: String,
    people: HashMap<(MessageId, PersonId), Recipient>,
    /// Lease headroom a call needs: [`call_margin`].
    margin: TimeDelta,
}

/// A leased job once its message is loaded and its call checked.
enum Prepared {
    /// Inside the dial window now: the call to place, and the message's own dial window.
    Ready(Option<DialWindow>, OutboundCall),
    /// Outside the dial window: the job waits until it opens.
    WaitUntil(DateTime<Utc>),
    /// The job can never be called: it fails with these words.
    Fail(String),
}

/// The settled outcomes of a batch so far.
#[derive(Default)]
struct Settled {
    placed: u64,
    /// Jobs to hand back.
    unstarted: Vec<JobId>,
}

/// `target` as a number that can be called, or why it cannot be.
fn callable_number(target: &str) -> Result<PhoneNumber, String> {
    match PhoneNumber::parse(target) {
        Ok(n) if n.as_str() == target => Ok(n),
        Ok(n) => Err(format!("'{target}' is not in E.164 form (it would be {n})")),
        Err(e) => Err(format!("not a phone number Herald can call: {e}")),
    }
}

/// Why a message whose dial window never meets the calling hours is not called.
fn never_in_calling_hours(dial_window: Option<DialWindow>, calling_hours: DialWindow) -> String {
    format!(
        "the message's dial window ({}) lies outside the district's calling hours ({}–{})",
        dial_window.map_or_else(String::new, |d| format!(
            "{}–{}",
            d.from().format("%H:%M"),
            d.until().format("%H:%M")
        )),
        calling_hours.from().format("%H:%M"),
        calling_hours.until().format("%H:%M"),
    )
}

impl Worker {
    /// One batch of phone jobs through `provider`. Returns how many calls were placed.
    ///
    /// Jobs are prepared one by one (those that can never be called fail at once, those outside
    /// the dial window are deferred), then placed up to `call_concurrency` at a time, each
    /// outcome settled as it arrives.
    pub async fn phone_pass<P: VoiceProvider>(
        &self,
        cfg: &DialerConfig,
        provider: &P,
        stop: &watch::Receiver<bool>,
    ) -> Result<u64, WorkerError> {
        let w = &self.settings.worker;
        // A batch must be placeable well within its lease at the cap.
        let placeable = (cfg.calls_per_second * w.lease_seconds as f64 / 4.0).floor() as i64;
        let limit = w.phone_batch.min(placeable.max(1));
        let jobs = queue::lease(
            &self.pool,
            Device::Phone,
            self.id,
            w.lease_seconds,
            limit,
            w.max_attempts,
        )
        .await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let tz = directory::time_zone(&self.pool).await?;
        let portal_url = email_preferences::portal_url(&self.pool, &self.settings.smtp).await?;
        let origin = email_preferences::origin(&portal_url).to_string();
        let people = delivery::recipients(&self.pool, &jobs).await?;
        let pass = Pass {
            cfg,
            provider,
            stop,
            tz,
            portal_url,
            origin,
            people,
            margin: call_margin(),
        };
        let ready = self.prepare_batch(&pass, jobs).await?;
        let mut results = futures::stream::iter(ready)
            .map(|(job, window, call)| self.place_job(&pass, job, window, call))
            .buffer_unordered(self.settings.worker.call_concurrency.max(1));
        let mut settled = Settled::default();
        while let Some((job, outcome)) = results.next().await {
            self.settle(&mut settled, &job, outcome).await?;
        }
        if !settled.unstarted.is_empty() {
            queue::release(&self.pool, self.id, &settled.unstarted).await?;
        }
        Ok(settled.placed)
    }

    /// Prepares every leased job in turn, failing those that can never be called, then defers
    /// those outside the dial window (one statement per opening); returns those ready to dial.
    async fn prepare_batch<P>(
        &self,
        pass: &Pass<'_, P>,
        jobs: Vec<LeasedJob>,
    ) -> Result<Vec<(LeasedJob, Option<DialWindow>, OutboundCall)>, WorkerError> {
        let mut ready = Vec::with_capacity(jobs.len());
        let mut waiting: BTreeMap<DateTime<Utc>, Vec<JobId>> = BTreeMap::new();
        for job in jobs {
            match self.prepare(pass, &job).await? {
                Prepared::Ready(window, call) => ready.push((job, window, call)),
                Prepared::WaitUntil(t) => waiting.entry(t).or_default().push(job.id),
                Prepared::Fail(f) => {
                    self.record_failure(Device::Phone, &job, &Failure::Fatal(f))
                        .await?
                }
            }
        }
        for (until, ids) in &waiting {
            let n = calls::defer(&self.pool, self.id, ids, *until).await?;
            tracing::info!(jobs = n, until = %until, "outside the dial window; calls wait for it to open");
        }
        Ok(ready)
    }

    /// Loads a leased job's message and checks its number, the dial window and the merged call
    /// instructions.
    async fn prepare<P>(
        &self,
        pass: &Pass<'_, P>,
        job: &LeasedJob,
    ) -> Result<Prepared, WorkerError> {
        let cfg = pass.cfg;
        let m = self.cache.get(&self.pool, job.message_id).await?;
        let to = match callable_number(&job.target) {
            Ok(n) => n,
            Err(f) => return Ok(Prepared::Fail(f)),
        };
        match when_to_call(Utc::now(), pass.tz, cfg.calling_hours, m.dial_window) {
            CallTime::Now => {}
            CallTime::WaitUntil(t) => return Ok(Prepared::WaitUntil(t)),
            CallTime::Never => {
                let f = never_in_calling_hours(m.dial_window, cfg.calling_hours);
                return Ok(Prepared::Fail(f));
            }
        }
        let r = job
            .person_id
            .and_then(|p| pass.people.get(&(job.message_id, p)));
        let script = delivery::voice(&m, r, &pass.portal_url);
        let twiml = provider::twiml(&script, &cfg.voice, voice_language(&cfg.voice));
        let chars = twiml.chars().count();
        if chars > MAX_TWIML {
            return Ok(Prepared::Fail(format!(
                "the call's instructions are {chars} characters once merged; the provider takes {MAX_TWIML}"
            )));
        }
        let call = OutboundCall {
            to,
            from: cfg.from.clone(),
            twiml,
            status_callback: String::new(),
            ring_seconds: cfg.ring_seconds,
            leave_voicemail: cfg.leave_voicemail,
        };
        Ok(Prepared::Ready(m.dial_window, call))
    }

    /// Places one prepared call; the job comes back with what happened to it.
    async fn place_job<P: VoiceProvider>(
        &self,
        pass: &Pass<'_, P>,
        job: LeasedJob,
        window: Option<DialWindow>,
        mut call: OutboundCall,
    ) -> (LeasedJob, Result<Outcome, WorkerError>) {
        let outcome = self.place_call(pass, &job, window, &mut call).await;
        (job, outcome)
    }

    /// Follows an earlier attempt's call if there is one; else waits for a pacing slot,
    /// re-checks the lease and the dial window, and dials.
    async fn place_call<P: VoiceProvider>(
        &self,
        pass: &Pass<'_, P>,
        job: &LeasedJob,
        window: Option<DialWindow>,
        call: &mut OutboundCall,
    ) -> Result<Outcome, WorkerError> {
        if *pass.stop.borrow() || Utc::now() + pass.margin > job.lease_until {
            return Ok(Outcome::Unstarted);
        }
        let check = std::time::Duration::from_secs(u64::from(pass.cfg.ring_seconds)) + LOOKUP_AFTER;
        // A call already with the provider needs no slot and no window: follow it.
        if job.attempts > 1
            && let Some(a) = calls::adopt_earlier_call(&self.pool, job.id, job.attempts).await?
        {
            return self.follow_earlier_call(job, a, check).await;
        }
        if !self.wait_for_slot(pass).await? || Utc::now() + pass.margin > job.lease_until {
            return Ok(Outcome::Unstarted);
        }
        match when_to_call(Utc::now(), pass.tz, pass.cfg.calling_hours, window) {
            CallTime::Now => {}
            CallTime::WaitUntil(t) => return Ok(Outcome::Deferred(t)),
            CallTime::Never => return Ok(Outcome::Unstarted),
        }
        self.dial(pass, job, call, check).await
    }

    /// Makes an earlier attempt's call, still with the provider, this attempt's.
    async fn follow_earlier_call(
        &self,
        job: &LeasedJob,
        a: calls::Adopted,
        check: std::time::Duration,
    ) -> Result<Outcome, WorkerError> {
        let state = CallState {
            status: CallStatus::parse(&a.status).unwrap_or(CallStatus::Queued),
            sid: a.sid,
            answered_by: None,
            duration_seconds: None,
        };
        tracing::info!(job = %job.id, call = %state.sid,
            "an earlier attempt's call is still with the provider; following it instead of calling again");
        let placed =
            calls::mark_calling(&self.pool, self.id, job.id, a.call, &state, check).await?;
        Ok(Outcome::Placed(placed))
    }

    /// Waits for this call's pacing slot; `false` if a stop request came first.
    async fn wait_for_slot<P>(&self, pass: &Pass<'_, P>) -> Result<bool, WorkerError> {
        let wait = calls::reserve_slot(&self.pool, pass.cfg.calls_per_second).await?;
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(true),
            () = after_stop(pass.stop.clone(), std::time::Duration::ZERO) => Ok(false),
        }
    }

    /// Records the call, asks the provider to place it, and records what the provider said.
    async fn dial<P: VoiceProvider>(
        &self,
        pass: &Pass<'_, P>,
        job: &LeasedJob,
        call: &mut OutboundCall,
        check: std::time::Duration,
    ) -> Result<Outcome, WorkerError> {
        if !queue::hand_over(&self.pool, self.id, job.id).await? {
            return Ok(Outcome::NotHeld);
        }
        let id = calls::start_call(&self.pool, job.id, job.attempts).await?;
        call.status_callback = callback::url(&pass.origin, id);
        match pass.provider.place(call).await {
            Ok(state) => {
                let placed =
                    calls::mark_calling(&self.pool, self.id, job.id, id, &state, check).await?;
                Ok(Outcome::Placed(placed))
            }
            Err(e) => {
                calls::not_placed(&self.pool, id, &e.to_string()).await?;
                Ok(Outcome::Provider(e))
            }
        }
    }

    /// Settles one job's outcome: counts a placed call, keeps an unstarted job to hand back,
    /// defers one whose window closed, and fails or retries one the provider turned down.
    async fn settle(
        &self,
        settled: &mut Settled,
        job: &LeasedJob,
        outcome: Result<Outcome, WorkerError>,
    ) -> Result<(), WorkerError> {
        self.clocks.tick(Lane::Phone);
        match outcome {
            Ok(Outcome::Placed(p)) => {
                settled.placed += 1;
                if p == Placed::Canceled {
                    tracing::info!(job = %job.id, "message canceled while its call was placed; hanging up");
                }
            }
            Ok(Outcome::Unstarted) => settled.unstarted.push(job.id),
            Ok(Outcome::NotHeld) => {}
            Ok(Outcome::Deferred(t)) => {
                calls::defer(&self.pool, self.id, &[job.id], t).await?;
            }
            Ok(Outcome::Provider(e)) => self.provider_failure(job, e).await?,
            Err(e) => log_failure("placing a call", &e),
        }
        Ok(())
    }

    async fn provider_failure(&self, job: &LeasedJob, e: ProviderError) -> Result<(), WorkerError> {
        let detail = e.to_string();
        let report = match &e {
            ProviderError::Refused(_) => {
                return self
                    .record_failure(Device::Phone, job, &Failure::Fatal(detail))
                    .await;
            }
            ProviderError::Credentials(_) => Some(Cause::Credentials),
            ProviderError::Configuration(_) | ProviderError::NoSuchCall(_) => {
                Some(Cause::Configuration)
            }
            ProviderError::Unavailable(_) => Some(Cause::Outage),
            ProviderError::RateLimited { retry_after, .. } => {
                let pause = retry_after
                    .unwrap_or(RATE_LIMIT_PAUSE)
                    .min(MAX_RATE_LIMIT_PAUSE);
                calls::pause_pacing(&self.pool, pause).await?;
                tracing::warn!(pause = ?pause, "the provider is rate limiting; all workers pause dialing");
                None
            }
        };
        if let Some(cause) = report {
            error_reports::record(&self.pool, Device::Phone, cause, &detail, Some(job.id)).await?;
        }
        self.record_failure(Device::Phone, job, &Failure::Retryable(detail))
            .await
    }

    /// Hangs up calls whose jobs were canceled. Returns how many the provider ended.
    pub async fn hangup_pass<P: VoiceProvider>(&self, provider: &P) -> Result<u64, WorkerError> {
        let mut n = 0;
        for h in calls::take_hangups(&self.pool, 50, HANGUP_RETRY).await? {
            let Some(sid) = h.sid else {
                // The provider never confirmed the call: nothing to hang up.
                calls::hangup_done(&self.pool, h.call).await?;
                continue;
            };
            match provider.hang_up(&sid, h.answered).await {
                Ok(state) => {
                    n += 1;
                    calls::hangup_done(&self.pool, h.call).await?;
                    tracing::info!(call = %sid, status = state.status.as_str(), "canceled call hung up");
                }
                // The call had already ended: nothing left to hang up.
                Err(ProviderError::Refused(_) | ProviderError::NoSuchCall(_)) => {
                    calls::hangup_done(&self.pool, h.call).await?;
                }
                Err(e) if Utc::now() - h.requested_at > HANGUP_GIVE_UP => {
                    calls::hangup_done(&self.pool, h.call).await?;
                    tracing::warn!(call = %sid, error = %e, "gave up hanging up a canceled call after an hour of failures; it has ended on its own since");
                }
                Err(e) => {
                    tracing::warn!(call = %sid, error = %e, retry_in = ?HANGUP_RETRY, "hanging up failed; will try again");
                }
            }
        }
        Ok(n)
    }

    /// Looks up calls whose final status is overdue and applies what the provider says.
    pub async fn lookup_pass<P: VoiceProvider>(&self, provider: &P) -> Result<u64, WorkerError> {
        let mut n = 0;
        for l in calls::due_lookups(&self.pool, 50, LOOKUP_EVERY).await? {
            let given_up = Utc::now() - l.placed_at > LOOKUP_GIVE_UP;
            let failed = |sid: String| CallState {
                sid,
                status: CallStatus::Failed,
                answered_by: None,
                duration_seconds: None,
            };
            let stopped_waiting = |why: &str| {
                Some(format!(
                    "{why} within {} hours of placing the call; Herald stopped waiting",
                    LOOKUP_GIVE_UP.num_hours()
                ))
            };
            let (state, reason) = match l.sid {
                None if given_up => (
                    failed(String::new()),
                    stopped_waiting("the provider never confirmed the call"),
                ),
                None => continue,
                Some(sid) => match provider.fetch(&sid).await {
                    Ok(s) if s.status.is_final() => (s, None),
                    Ok(_) if given_up => (
                        failed(sid),
                        stopped_waiting("the provider never said how the call ended"),
                    ),
                    Ok(_) => continue,
                    Err(ProviderError::NoSuchCall(_)) => (failed(sid), None),
                    Err(e) => {
                        tracing::warn!(call = %sid, error = %e, "looking a call up failed; will try again");
                        continue;
                    }
                },
            };
            let update = CallUpdate {
                call: l.call,
                state,
                sequence: None,
                reason,
            };
            let applied = calls::apply_status(&self.pool, &update).await?;
            tracing::info!(job = %l.job, call = ?update.state.sid, ?applied, reason = ?update.reason, "overdue call looked up");
            n += 1;
        }
        Ok(n)
    }
}

/// The loaded configuration and a client for it.
struct Dialer {
    config: DialerConfig,
    provider: TwilioVoice,
}

async fn load(worker: &Worker) -> Result<Dialer, String> {
    let config = dialer_preferences::config(
        &worker.pool,
        &worker.settings.dialer,
        &worker.settings.secrets,
    )
    .await
    .map_err(|e| e.to_string())?;
    let provider = TwilioVoice::new(config.account.clone()).map_err(|e| e.to_string())?;
    Ok(Dialer { config, provider })
}

pub(super) async fn phone_lane(worker: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let poll = std::time::Duration::from_millis(worker.settings.worker.poll_ms);
    let mut dialer: Option<(DateTime<Utc>, Result<Dialer, String>)> = None;
    loop {
        worker.clocks.tick(Lane::Phone);
        if *stop.borrow() {
            return;
        }
        // The Dialer Preferences page may change at any time: reload when it does.
        match dialer_preferences::saved_at(&worker.pool).await {
            Ok(stamp) if dialer.as_ref().is_none_or(|(s, _)| *s != stamp) => {
                let loaded = load(&worker).await;
                if let Err(e) = &loaded {
                    tracing::warn!(error = %e, "phone jobs wait until the dialer is set up");
                }
                dialer = Some((stamp, loaded));
            }
            Ok(_) => {}
            Err(e) => log_failure("reading the dialer settings", &WorkerError::Dialer(e)),
        }
        let mut idle = true;
        if let Some((_, Ok(d))) = &dialer {
            if let Err(e) = worker.hangup_pass(&d.provider).await {
                log_failure("hanging up canceled calls", &e);
            }
            if let Err(e) = worker.lookup_pass(&d.provider).await {
                log_failure("looking up overdue calls", &e);
            }
            match worker.phone_pass(&d.config, &d.provider, &stop).await {
                Ok(n) => idle = n == 0,
                Err(e) => log_failure("a phone batch", &e),
            }
        }
        if idle && pause(&mut stop, poll).await {
            return;
        }
    }
}
