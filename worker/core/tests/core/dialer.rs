//! The phone dialer against a real PostgreSQL, the local voice provider (Twilio's call API) and
//! Herald's own status-callback endpoint: every call outcome, the dial window, pacing across two
//! workers, retries, callback signatures, cancels, and error reports.

use herald_testing::district;
use herald_testing::maildev;
use herald_testing::voice;

use std::time::Duration;

use chrono::{NaiveTime, TimeDelta, Timelike, Utc};
use herald_core::dialer::calls::{self, Placed};
use herald_core::dialer::preferences::ProviderAccount;
use herald_core::dialer::provider::{self, CallStatus, OutboundCall, TwilioVoice, VoiceProvider};
use herald_core::domain::{ContactReason, Device, DialWindow, JobId, MessageId, PhoneNumber};
use herald_core::messaging::{compose, fanout, queue};
use secrecy::SecretString;
use sqlx::PgPool;
use uuid::Uuid;

use district::{District, MAX_ATTEMPTS, district};
use voice::{CALLER_ID, SID, TOKEN, Voice, dial_only, phone_jobs, run_until, statuses};

/// A phone message to the district's guardians, dialable all day, fanned out.
async fn phone_message(pool: &PgPool, d: &District) -> MessageId {
    let mut draft = district::draft(d.calendar, ContactReason::General, &[Device::Phone]);
    draft.dial_window = Some(
        DialWindow::new(
            NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(23, 59, 59).unwrap(),
        )
        .unwrap(),
    );
    let id = compose::create(pool, &draft.compose().unwrap(), &d.sender)
        .await
        .unwrap();
    fanout::fan_out_next(pool).await.unwrap().unwrap();
    id
}

async fn setup(pool: &PgPool, numbers: &[&str]) -> (Voice, MessageId, Vec<JobId>) {
    let d = district(pool, 40).await;
    let settings = voice::settings();
    let v = voice::start(pool, &settings, 20, 50.0).await;
    let m = phone_message(pool, &d).await;
    let jobs = dial_only(pool, m, numbers).await;
    (v, m, jobs)
}

/// Callbacks go to a closed port: the worker never hears how a call ended.
async fn lose_callbacks(pool: &PgPool) {
    sqlx::query!("update email_settings set portal_url = 'http://127.0.0.1:9/portal'")
        .execute(pool)
        .await
        .unwrap();
}

/// The time a message's phone jobs wait for (a retry, a lookup) has come.
async fn due_now(pool: &PgPool, m: MessageId) {
    sqlx::query!(
        "update delivery_job set due_at = now() where message_id = $1",
        m.0
    )
    .execute(pool)
    .await
    .unwrap();
}

/// A call to `to` from the test caller ID saying "Hello", reporting to `status_callback`.
fn outbound(to: &str, status_callback: String) -> OutboundCall {
    OutboundCall {
        to: PhoneNumber::parse(to).unwrap(),
        from: PhoneNumber::parse(CALLER_ID).unwrap(),
        twiml: provider::twiml("Hello", "Polly.Joanna", "en-US"),
        status_callback,
        ring_seconds: 30,
        leave_voicemail: false,
    }
}

async fn all_ended(pool: &PgPool, m: MessageId) -> bool {
    statuses(pool, m)
        .await
        .iter()
        .all(|s| matches!(s.as_str(), "sent" | "failed" | "canceled"))
}

fn form(call: &serde_json::Value, key: &str) -> String {
    call[key].as_str().unwrap_or_default().to_string()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_answered_call_says_the_merged_voice_script_and_marks_the_job_sent(pool: PgPool) {
    let (v, m, jobs) = setup(&pool, &["+15555550123"]).await;
    let s = voice::settings();
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    assert_eq!(statuses(&pool, m).await, ["sent"]);
    let calls = v.calls().await;
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(form(c, "to"), "+15555550123");
    assert_eq!(form(c, "from"), CALLER_ID);
    assert_eq!(c["timeout"], 30);
    assert_eq!(form(c, "machine_detection"), "DetectMessageEnd");
    assert!(form(c, "status_callback").starts_with(&format!("{}/dialer/status?call=", v.origin)));
    assert_eq!(
        c["events"],
        serde_json::json!(["initiated", "ringing", "answered", "completed"])
    );
    let twiml = form(c, "twiml");
    let school: String = sqlx::query_scalar!("select name from school limit 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        twiml.contains(&format!("This is {school} calling about ")),
        "the script is merged per recipient: {twiml}"
    );
    assert!(
        twiml.contains(r#"<Say voice="Polly.Joanna" language="en-US">"#),
        "{twiml}"
    );
    let row = sqlx::query!(
        "select status, answered_by, call_sid, ended_at is not null as \"ended!\" from phone_call where job_id = $1",
        jobs[0].0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (row.status.as_str(), row.answered_by.as_deref()),
        ("completed", Some("human"))
    );
    assert_eq!(row.call_sid.as_deref(), Some(form(c, "sid").as_str()));
    let tally = sqlx::query!(
        "select total, sent, answered_by_person, answered_by_machine from message_tally
         where message_id = $1 and device = 'phone'",
        m.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (
            tally.total,
            tally.sent,
            tally.answered_by_person,
            tally.answered_by_machine
        ),
        (1, 1, 1, 0)
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_answering_machine_gets_the_message_after_the_beep(pool: PgPool) {
    let (_v, m, jobs) = setup(&pool, &["+15555558001"]).await;
    let s = voice::settings();
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    assert_eq!(statuses(&pool, m).await, ["sent"]);
    let row = sqlx::query!(
        "select answered_by, detail from phone_call where job_id = $1",
        jobs[0].0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.answered_by.as_deref(), Some("machine_end_beep"));
    assert_eq!(
        row.detail.as_deref(),
        Some("message left on an answering machine")
    );
    // The Delivery Report says so on the recipient's line.
    let lines = herald_core::messaging::delivery_report::recipients(
        &pool,
        m,
        &herald_core::messaging::delivery_report::RecipientQuery {
            device: herald_core::domain::Device::Phone,
            status: None,
            search: None,
        },
        None,
        10,
    )
    .await
    .unwrap();
    let call = lines[0].call.as_deref().unwrap_or_default();
    assert!(
        call.starts_with("Message left on an answering machine"),
        "{call}"
    );
    // And counts it so.
    let counts = herald_core::messaging::delivery_report::counts(&pool, m)
        .await
        .unwrap();
    assert_eq!(
        (
            counts[0].sent,
            counts[0].answered_by_person,
            counts[0].answered_by_machine
        ),
        (1, 0, 1)
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn busy_and_unanswered_numbers_are_called_again_after_the_interval_until_max_calls(
    pool: PgPool,
) {
    let (v, m, jobs) = setup(&pool, &["+15555558002", "+15555558003"]).await;
    sqlx::query!("update dialer_settings set max_calls = 2, retry_minutes = 7")
        .execute(&pool)
        .await
        .unwrap();
    let s = voice::settings();
    let retrying = || async { statuses(&pool, m).await.iter().all(|s| s == "retrying") };
    assert!(run_until(&pool, &s, 1, Duration::from_secs(20), retrying).await);
    for j in phone_jobs(&pool, m).await {
        let wait = j.due_at - Utc::now();
        assert!(
            wait > TimeDelta::minutes(6) && wait <= TimeDelta::minutes(7),
            "called again after the Dialer Preferences interval, not before: {wait}"
        );
    }
    let errors: Vec<Option<String>> = phone_jobs(&pool, m)
        .await
        .into_iter()
        .map(|j| j.last_error)
        .collect();
    assert_eq!(
        errors,
        [
            Some("the line was busy".into()),
            Some("no one answered".into())
        ]
    );
    // The interval passes.
    due_now(&pool, m).await;
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    assert_eq!(statuses(&pool, m).await, ["failed", "failed"]);
    assert_eq!(
        v.calls().await.len(),
        4,
        "each number was called max_calls = 2 times"
    );
    for j in &jobs {
        let attempts = sqlx::query_scalar!(
            r#"select count(*) as "n!" from delivery_attempt where job_id = $1"#,
            j.0
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(attempts, 2);
    }
    let failed = sqlx::query_scalar!(
        "select failed from message_tally where message_id = $1 and device = 'phone'",
        m.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(failed, 2);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_call_that_cannot_be_connected_fails_its_job(pool: PgPool) {
    let (_v, m, _) = setup(&pool, &["+15555558004"]).await;
    let s = voice::settings();
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    let j = &phone_jobs(&pool, m).await[0];
    assert_eq!(j.status, "failed");
    assert_eq!(
        j.last_error.as_deref(),
        Some("the call could not be connected")
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_number_that_is_not_e164_fails_at_once_without_a_call(pool: PgPool) {
    let (v, m, _) = setup(&pool, &["555-0123", "+15555550123"]).await;
    let s = voice::settings();
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    let jobs = phone_jobs(&pool, m).await;
    assert_eq!(jobs[0].status, "failed");
    assert_eq!(jobs[0].attempts, 1, "failed at once, not retried");
    let reason = jobs[0].last_error.clone().unwrap();
    assert!(
        reason.contains("not a phone number Herald can call") && reason.contains("555-0123"),
        "{reason}"
    );
    assert_eq!(jobs[1].status, "sent");
    assert_eq!(v.calls().await.len(), 1, "only the good number was called");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn rate_limits_and_outages_back_off_and_only_outages_are_reported(pool: PgPool) {
    let (_v, m, jobs) = setup(&pool, &["+15555558429", "+15555558503"]).await;
    let s = voice::settings();
    let retrying = || async { statuses(&pool, m).await.iter().all(|s| s == "retrying") };
    assert!(run_until(&pool, &s, 1, Duration::from_secs(20), retrying).await);
    for j in phone_jobs(&pool, m).await {
        assert!(
            j.due_at - Utc::now() > TimeDelta::seconds(50),
            "backed off by backoff_seconds"
        );
    }
    let reported = sqlx::query!("select cause, job_id from delivery_error")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(reported.len(), 1);
    assert_eq!(
        (reported[0].cause.as_str(), reported[0].job_id),
        ("outage", Some(jobs[1].0))
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn wrong_credentials_make_one_error_report_per_address_not_one_per_call(pool: PgPool) {
    let (_v, m, _) = setup(
        &pool,
        &[
            "+15555550101",
            "+15555550102",
            "+15555550103",
            "+15555550104",
            "+15555550105",
        ],
    )
    .await;
    let mail = maildev::Maildev::start().await;
    district::use_smtp(&pool, mail.smtp_port).await;
    sqlx::query!(
        "update dialer_settings set auth_token = 'wrong-token',
             error_emails = '{ops@district.example,it@district.example}', updated_at = now()"
    )
    .execute(&pool)
    .await
    .unwrap();
    let s = voice::settings();
    let reported = || async {
        sqlx::query_scalar!(r#"select count(*) as "n!" from delivery_job where kind = 'error_report' and status = 'sent'"#)
            .fetch_one(&pool)
            .await
            .unwrap()
            == 2
    };
    assert!(run_until(&pool, &s, 2, Duration::from_secs(30), reported).await);
    assert!(
        statuses(&pool, m).await.iter().all(|s| s == "retrying"),
        "credentials errors are retried"
    );
    let errors = sqlx::query_scalar!(r#"select count(*) as "n!" from delivery_error where cause = 'credentials' and reported_at is not null"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(errors, 5);
    let emails = mail.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(emails.len(), 2, "one report per address");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert_eq!(subject, "Herald dialer: 5 calls could not be placed");
    let text = emails[0]["text"].as_str().unwrap();
    assert!(
        text.contains("refused the account SID and auth token"),
        "{text}"
    );
    let reports = sqlx::query_scalar!(r#"select count(*) as "n!" from error_report"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reports, 1, "two workers sent one report");
}

/// Sets the district's time zone to one where it is now between 06:00 and 18:00, and returns the
/// local time there.
async fn daytime_zone(pool: &PgPool) -> NaiveTime {
    for offset in -12i32..=14 {
        // Etc/GMT+5 is UTC-5.
        let name = match offset {
            0 => "Etc/GMT".to_string(),
            o if o > 0 => format!("Etc/GMT-{o}"),
            o => format!("Etc/GMT+{}", -o),
        };
        let tz: chrono_tz::Tz = name.parse().unwrap();
        let local = Utc::now().with_timezone(&tz).time();
        if (6..18).contains(&local.hour()) {
            sqlx::query!("update district set time_zone = $1", name)
                .execute(pool)
                .await
                .unwrap();
            return local;
        }
    }
    unreachable!("some offset has daytime now");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_job_a_minute_before_calling_hours_end_is_called_and_one_a_minute_after_waits(
    pool: PgPool,
) {
    let (v, m, _) = setup(&pool, &["+15555550123"]).await;
    let now = daytime_zone(&pool).await;
    let s = voice::settings();
    // 21:01 against calling hours that ended at 21:00: it waits for tomorrow's opening.
    let ended = now - TimeDelta::minutes(1);
    let from = NaiveTime::from_hms_opt(1, 0, 0).unwrap();
    sqlx::query!(
        "update dialer_settings set calling_from = $1, calling_until = $2, updated_at = now()",
        from,
        ended
    )
    .execute(&pool)
    .await
    .unwrap();
    let deferred =
        || async { phone_jobs(&pool, m).await[0].due_at > Utc::now() + TimeDelta::hours(1) };
    assert!(run_until(&pool, &s, 1, Duration::from_secs(10), deferred).await);
    let j = &phone_jobs(&pool, m).await[0];
    assert_eq!(
        (j.status.as_str(), j.attempts),
        ("queued", 0),
        "waiting costs no attempt"
    );
    let expected_wait = TimeDelta::hours(24) - (now - from);
    let wait = j.due_at - Utc::now();
    assert!(
        (wait - expected_wait).abs() < TimeDelta::seconds(30),
        "opens at 01:00 tomorrow: {wait} vs {expected_wait}"
    );
    assert!(v.calls().await.is_empty());
    // 20:59 against calling hours that end at 21:00: called now.
    sqlx::query!(
        "update dialer_settings set calling_until = $1, updated_at = now()",
        now + TimeDelta::minutes(1)
    )
    .execute(&pool)
    .await
    .unwrap();
    due_now(&pool, m).await;
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    assert_eq!(statuses(&pool, m).await, ["sent"]);
    assert_eq!(v.calls().await.len(), 1);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn two_workers_together_never_exceed_the_calls_per_second_cap(pool: PgPool) {
    let d = district(&pool, 120).await;
    let mut s = voice::settings();
    // Small batches, so that both workers hold jobs at once.
    s.worker.phone_batch = 4;
    let v = voice::start(&pool, &s, 20, 5.0).await;
    let m = phone_message(&pool, &d).await;
    let numbers: Vec<String> = (0..20)
        .map(|i| format!("+1555555{:04}", 1000 + i))
        .collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    dial_only(&pool, m, &refs).await;
    let placed = || async { v.calls().await.len() == 20 };
    assert!(run_until(&pool, &s, 2, Duration::from_secs(30), placed).await);
    let mut at: Vec<chrono::DateTime<Utc>> = v
        .calls()
        .await
        .iter()
        .map(|c| c["received_at"].as_str().unwrap().parse().unwrap())
        .collect();
    at.sort();
    // Any 6 consecutive calls span at least a second at 5 a second (less a few ms of jitter
    // between placing and arriving).
    for w in at.windows(6) {
        let span = w[5] - w[0];
        assert!(
            span >= TimeDelta::milliseconds(980),
            "6 calls within {span}"
        );
    }
    let overall = (at[19] - at[0]).num_milliseconds() as f64 / 1000.0;
    let rate = 19.0 / overall;
    println!("20 calls by two workers at a cap of 5/s: {rate:.2} calls/s over {overall:.2} s");
    assert!(rate <= 5.0, "rate {rate}");
    let mut to: Vec<String> = v.calls().await.iter().map(|c| form(c, "to")).collect();
    assert_eq!(to.len(), 20, "20 calls were placed, no more");
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 20, "no number was called twice");
    let ids = sqlx::query_scalar!(
        r#"select count(distinct leased_by) as "n!" from delivery_job where message_id = $1"#,
        m.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ids, 2, "both workers placed calls");
}

/// Leases the one phone job and places its call as a worker would, without the worker loop.
async fn placed_call(pool: &PgPool, v: &Voice) -> (JobId, Uuid, String, Uuid) {
    let worker = Uuid::new_v4();
    let job = queue::lease(pool, Device::Phone, worker, 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap()
        .remove(0);
    // As the phone lane does: handed over, then the call is recorded and placed.
    assert!(queue::hand_over(pool, worker, job.id).await.unwrap());
    let call = calls::start_call(pool, job.id, job.attempts).await.unwrap();
    let provider = provider_client(v);
    let state = provider
        .place(&outbound(&job.target, format!("{}/nowhere", v.origin)))
        .await
        .unwrap();
    (job.id, call, state.sid, worker)
}

fn provider_client(v: &Voice) -> TwilioVoice {
    TwilioVoice::new(ProviderAccount {
        api_url: v.api_url.clone(),
        account_sid: SID.into(),
        auth_token: SecretString::from(TOKEN),
    })
    .unwrap()
}

async fn post_callback(
    v: &Voice,
    call: Uuid,
    params: &[(&str, &str)],
    sign_with: Option<&str>,
) -> u16 {
    let url = format!("{}/dialer/status?call={call}", v.origin);
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut req = reqwest::Client::new().post(&url).form(&owned);
    if let Some(token) = sign_with {
        req = req.header(
            "X-Twilio-Signature",
            provider::signature(token, &url, &owned),
        );
    }
    req.send().await.unwrap().status().as_u16()
}

async fn job_row(pool: &PgPool, id: JobId) -> (String, i32, chrono::DateTime<Utc>, i64) {
    let r = sqlx::query!(
        r#"select status::text as "status!", attempts, due_at,
                  (select count(*) from delivery_attempt a where a.job_id = j.id) as "attempts_logged!"
           from delivery_job j where id = $1"#,
        id.0
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (r.status, r.attempts, r.due_at, r.attempts_logged)
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn callbacks_change_nothing_unless_signed_and_a_replay_changes_nothing_twice(pool: PgPool) {
    // The slow number: the provider's own callbacks go nowhere, and the test posts its own.
    let (v, _m, _) = setup(&pool, &["+15555558005"]).await;
    let (job, call, sid, worker) = placed_call(&pool, &v).await;
    let state = provider::CallState {
        sid: sid.clone(),
        status: CallStatus::Queued,
        answered_by: None,
        duration_seconds: None,
    };
    let placed = calls::mark_calling(&pool, worker, job, call, &state, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(placed, Placed::Calling);
    let busy = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "busy"),
        ("SequenceNumber", "2"),
        ("AccountSid", SID),
    ];
    let before = job_row(&pool, job).await;
    assert_eq!(post_callback(&v, call, &busy, None).await, 403, "unsigned");
    assert_eq!(
        post_callback(&v, call, &busy, Some("another-token")).await,
        403,
        "signed with the wrong token"
    );
    let completed = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "completed"),
        ("SequenceNumber", "2"),
        ("AccountSid", SID),
    ];
    let url = format!("{}/dialer/status?call={call}", v.origin);
    let owned: Vec<(String, String)> = busy
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stolen = provider::signature(TOKEN, &url, &owned);
    let forged = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", stolen)
        .form(&completed)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(forged, 403, "a valid signature of other parameters");
    assert_eq!(
        job_row(&pool, job).await,
        before,
        "refused callbacks changed nothing"
    );
    assert_eq!(post_callback(&v, call, &busy, Some(TOKEN)).await, 204);
    let after = job_row(&pool, job).await;
    assert_eq!((after.0.as_str(), after.3), ("retrying", 1));
    assert_eq!(
        post_callback(&v, call, &busy, Some(TOKEN)).await,
        204,
        "a replay is acknowledged"
    );
    assert_eq!(job_row(&pool, job).await, after, "and changes nothing");
    let late = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "completed"),
        ("SequenceNumber", "3"),
        ("AccountSid", SID),
    ];
    assert_eq!(post_callback(&v, call, &late, Some(TOKEN)).await, 204);
    assert_eq!(
        job_row(&pool, job).await,
        after,
        "an ended call's job is not ended again"
    );
    let other_sid = [
        ("CallSid", "CA00000000000000000000000000000000"),
        ("CallStatus", "completed"),
        ("SequenceNumber", "9"),
    ];
    assert_eq!(post_callback(&v, call, &other_sid, Some(TOKEN)).await, 204);
    assert_eq!(
        job_row(&pool, job).await,
        after,
        "a callback for another call sid is ignored"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn canceling_a_message_hangs_up_its_call_at_the_provider(pool: PgPool) {
    let (v, m, _) = setup(&pool, &["+15555558005"]).await;
    let s = voice::settings();
    let answered = || async {
        v.calls()
            .await
            .first()
            .is_some_and(|c| c["status"] == "in-progress")
    };
    let pool2 = pool.clone();
    let canceler = async {
        // Wait for the call to be answered, then cancel the message.
        let start = std::time::Instant::now();
        while !answered().await && start.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        compose::cancel(&pool2, m).await.unwrap()
    };
    let hung_up = || async {
        v.calls()
            .await
            .first()
            .is_some_and(|c| c["hung_up_with"] == "completed")
    };
    let (canceled, held) = tokio::join!(
        canceler,
        run_until(&pool, &s, 1, Duration::from_secs(20), hung_up)
    );
    assert!(
        held,
        "the provider was asked to hang up: {:?}",
        v.calls().await
    );
    assert_eq!(canceled, 1);
    assert_eq!(statuses(&pool, m).await, ["canceled"]);
    let c = &v.calls().await[0];
    assert_eq!(c["status"], "completed", "the call ended at the provider");
    let tally = sqlx::query!(
        "select canceled, sent from message_tally where message_id = $1 and device = 'phone'",
        m.0
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (tally.canceled, tally.sent),
        (1, 0),
        "the ended call did not also count as sent"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_cancel_racing_the_placing_of_a_call_always_ends_canceled_with_the_call_hung_up(
    pool: PgPool,
) {
    let d = district(&pool, 40).await;
    let s = voice::settings();
    let v = voice::start(&pool, &s, 20, 50.0).await;
    let (mut cancel_first, mut placing_first) = (0, 0);
    for round in 0..12 {
        let m = phone_message(&pool, &d).await;
        dial_only(&pool, m, &["+15555558005"]).await;
        let (job, call, sid, worker) = placed_call(&pool, &v).await;
        let state = provider::CallState {
            sid,
            status: CallStatus::Queued,
            answered_by: None,
            duration_seconds: None,
        };
        let mark = calls::mark_calling(&pool, worker, job, call, &state, Duration::from_secs(600));
        // A third of the rounds race; the rest take each order in turn, so that both
        // outcomes are met whatever the interleaving of the races.
        let (placed, canceled) = match round % 3 {
            0 => tokio::join!(mark, compose::cancel(&pool, m)),
            1 => {
                let placed = mark.await;
                (placed, compose::cancel(&pool, m).await)
            }
            _ => {
                let canceled = compose::cancel(&pool, m).await;
                (mark.await, canceled)
            }
        };
        let placed = placed.unwrap();
        let canceled = canceled.unwrap();
        if canceled == 1 {
            cancel_first += 1;
        } else {
            placing_first += 1;
        }
        let r = sqlx::query!(
            r#"select j.status::text as "status!", c.hangup_requested_at is not null as "hangup!",
                      t.canceled
               from delivery_job j join phone_call c on c.job_id = j.id
               join message_tally t on t.message_id = j.message_id and t.device = 'phone'
               where j.id = $1"#,
            job.0
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            r.status, "canceled",
            "round {round}: {placed:?}, cancel counted {canceled}"
        );
        assert!(r.hangup, "round {round}: the call is to be hung up");
        assert_eq!(r.canceled, 1, "round {round}: counted once");
        // Whichever won, exactly one of them canceled the job.
        assert_eq!(
            (placed == Placed::Canceled) as u64 + canceled,
            1,
            "round {round}"
        );
    }
    assert!(
        cancel_first > 0 && placing_first > 0,
        "both sides won some rounds: the cancel {cancel_first}, the placing {placing_first}"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_call_whose_final_callback_never_came_is_looked_up_at_the_provider(pool: PgPool) {
    let (v, m, _) = setup(&pool, &["+15555550123"]).await;
    lose_callbacks(&pool).await;
    let s = voice::settings();
    let calling = || async {
        statuses(&pool, m).await == ["calling"]
            && v.calls()
                .await
                .first()
                .is_some_and(|c| c["status"] == "completed")
    };
    assert!(run_until(&pool, &s, 1, Duration::from_secs(20), calling).await);
    // The lookup time comes.
    due_now(&pool, m).await;
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    assert_eq!(statuses(&pool, m).await, ["sent"]);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_provider_client_reads_the_local_providers_refusals_like_twilios(pool: PgPool) {
    let (v, _, _) = setup(&pool, &["+15555550123"]).await;
    let p = provider_client(&v);
    let call = |to: &str| OutboundCall {
        to: PhoneNumber::parse(to).unwrap(),
        from: PhoneNumber::parse(CALLER_ID).unwrap(),
        twiml: provider::twiml("Hi", "man", "en-US"),
        status_callback: format!("{}/dialer/status", v.origin),
        ring_seconds: 30,
        leave_voicemail: true,
    };
    let long = OutboundCall {
        twiml: format!("<Response><Say>{}</Say></Response>", "a".repeat(4000)),
        ..call("+15555550123")
    };
    match p.place(&long).await {
        Err(provider::ProviderError::Refused(d)) => assert!(d.contains("4000"), "{d}"),
        other => panic!("{other:?}"),
    }
    let wrong = TwilioVoice::new(ProviderAccount {
        api_url: v.api_url.clone(),
        account_sid: SID.into(),
        auth_token: SecretString::from("nope"),
    })
    .unwrap();
    assert!(matches!(
        wrong.place(&call("+15555550123")).await,
        Err(provider::ProviderError::Credentials(_))
    ));
    let placed = p.place(&call("+15555550123")).await.unwrap();
    assert!(placed.sid.starts_with("CA") && placed.sid.len() == 34);
    assert_eq!(placed.status, CallStatus::Queued);
    assert!(matches!(
        p.fetch("CA0").await,
        Err(provider::ProviderError::NoSuchCall(_))
    ));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_rate_limit_pause_holds_back_the_next_slot_of_every_worker(pool: PgPool) {
    let first = calls::reserve_slot(&pool, 2.0).await.unwrap();
    assert!(first < Duration::from_millis(50));
    calls::pause_pacing(&pool, Duration::from_secs(2))
        .await
        .unwrap();
    let next = calls::reserve_slot(&pool, 2.0).await.unwrap();
    assert!(
        next > Duration::from_millis(1900) && next <= Duration::from_secs(2),
        "{next:?}"
    );
    // The slot after that follows it by the spacing (at 2/s, 0.51 s), not sooner. Slot instants
    // are measured on this side, so allow the few milliseconds a query takes.
    let next_at = std::time::Instant::now() + next;
    let after = calls::reserve_slot(&pool, 2.0).await.unwrap();
    let after_at = std::time::Instant::now() + after;
    let gap = after_at - next_at;
    assert!(
        gap > Duration::from_millis(450),
        "slots stay in order behind the pause: {gap:?}"
    );
}

/// Places the message's phone calls one by one, as the worker would, and marks them calling.
async fn calling_jobs(pool: &PgPool, v: &Voice, n: usize) -> Vec<JobId> {
    let mut jobs = Vec::new();
    for _ in 0..n {
        let (job, call, sid, worker) = placed_call(pool, v).await;
        let state = provider::CallState {
            sid,
            status: CallStatus::Queued,
            answered_by: None,
            duration_seconds: None,
        };
        calls::mark_calling(pool, worker, job, call, &state, Duration::ZERO)
            .await
            .unwrap();
        jobs.push(job);
    }
    jobs
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn two_workers_looking_up_overdue_calls_or_hanging_up_never_take_the_same_call(pool: PgPool) {
    let numbers: Vec<String> = (0..8).map(|i| format!("+1555555{:04}", 2000 + i)).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let (v, _m, _) = setup(&pool, &refs).await;
    let jobs = calling_jobs(&pool, &v, 8).await;
    let (a, b) = tokio::join!(
        calls::due_lookups(&pool, 5, Duration::from_secs(60)),
        calls::due_lookups(&pool, 5, Duration::from_secs(60)),
    );
    let mut looked: Vec<i64> = a
        .unwrap()
        .iter()
        .chain(b.unwrap().iter())
        .map(|l| l.job.0)
        .collect();
    looked.sort();
    let mut all: Vec<i64> = jobs.iter().map(|j| j.0).collect();
    all.sort();
    assert_eq!(looked, all, "every overdue call taken once, none twice");
    sqlx::query!("update phone_call set hangup_requested_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        calls::take_hangups(&pool, 5, Duration::from_secs(30)),
        calls::take_hangups(&pool, 5, Duration::from_secs(30))
    );
    let mut taken: Vec<Uuid> = a
        .unwrap()
        .iter()
        .chain(b.unwrap().iter())
        .map(|h| h.call)
        .collect();
    taken.sort();
    assert_eq!(taken.len(), 8, "every hang-up taken, none twice");
    taken.dedup();
    assert_eq!(taken.len(), 8, "every hang-up taken exactly once");
    assert!(
        calls::take_hangups(&pool, 10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty(),
        "taken hang-ups are held"
    );
    // A hang-up not confirmed in time (a failure, a worker that died) is taken again.
    sqlx::query!("update phone_call set hangup_due_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    calls::hangup_done(&pool, taken[0]).await.unwrap();
    assert_eq!(
        calls::take_hangups(&pool, 10, Duration::from_secs(30))
            .await
            .unwrap()
            .len(),
        7
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_call_placed_by_a_worker_that_died_is_followed_not_placed_again(pool: PgPool) {
    let (v, m, _) = setup(&pool, &["+15555558005"]).await;
    // A worker leases the job, records and places the call, and dies before marking the job.
    let job = queue::lease(&pool, Device::Phone, Uuid::new_v4(), 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap()
        .remove(0);
    let call = calls::start_call(&pool, job.id, job.attempts)
        .await
        .unwrap();
    provider_client(&v)
        .place(&outbound(
            &job.target,
            herald_core::dialer::callback::url(&v.origin, call),
        ))
        .await
        .unwrap();
    // The provider's first callback makes the call known; then the dead worker's lease runs out.
    let start = std::time::Instant::now();
    while sqlx::query_scalar!("select call_sid from phone_call where id = $1", call)
        .fetch_one(&pool)
        .await
        .unwrap()
        .is_none()
    {
        assert!(start.elapsed() < Duration::from_secs(5), "no callback came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query!(
        "update delivery_job set due_at = now() where id = $1",
        job.id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    let s = voice::settings();
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await
    );
    assert_eq!(statuses(&pool, m).await, ["sent"]);
    assert_eq!(v.calls().await.len(), 1, "the number was called once");
    let rows = sqlx::query!(
        "select attempt, status from phone_call where job_id = $1",
        job.id.0
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].attempt, rows[0].status.as_str()), (2, "completed"));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_call_the_provider_never_confirmed_is_failed_after_two_hours_saying_why(pool: PgPool) {
    let (v, m, _) = setup(&pool, &["+15555550123"]).await;
    lose_callbacks(&pool).await;
    let s = voice::settings();
    let calling =
        || async { statuses(&pool, m).await == ["calling"] && !v.calls().await.is_empty() };
    assert!(run_until(&pool, &s, 1, Duration::from_secs(20), calling).await);
    // As if the provider had never confirmed the call (no SID to look up), three hours ago.
    sqlx::query!("update phone_call set call_sid = null, placed_at = now() - interval '3 hours'")
        .execute(&pool)
        .await
        .unwrap();
    due_now(&pool, m).await;
    assert!(
        run_until(&pool, &s, 1, Duration::from_secs(20), || all_ended(
            &pool, m
        ))
        .await,
        "the lookup stops waiting"
    );
    let job = phone_jobs(&pool, m).await.remove(0);
    assert_eq!(job.status, "failed");
    assert_eq!(
        job.last_error.as_deref(),
        Some(
            "the provider never confirmed the call within 2 hours of placing the call; Herald stopped waiting"
        )
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_hang_up_the_provider_keeps_failing_is_given_up_an_hour_after_the_cancel(pool: PgPool) {
    let (v, _, _) = setup(&pool, &["+15555550123", "+15555550124"]).await;
    calling_jobs(&pool, &v, 2).await;
    // Both calls were canceled: one two hours ago, one just now.
    sqlx::query!(
        "update phone_call set hangup_requested_at = now() - case when id = (select id from phone_call order by job_id limit 1)
                                                              then interval '2 hours' else interval '0' end"
    )
    .execute(&pool)
    .await
    .unwrap();
    // The provider cannot be reached at all.
    let down = TwilioVoice::new(ProviderAccount {
        api_url: "http://127.0.0.1:9".into(),
        account_sid: SID.into(),
        auth_token: SecretString::from(TOKEN),
    })
    .unwrap();
    let worker = herald_core::worker::Worker::new(pool.clone(), voice::settings())
        .await
        .unwrap();
    assert_eq!(worker.hangup_pass(&down).await.unwrap(), 0);
    let done = sqlx::query_scalar!(
        r#"select hangup_done_at is not null as "done!" from phone_call
           order by hangup_requested_at"#
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(done, [true, false], "only the hour-old request is given up");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_dialer_missing_its_token_or_caller_id_names_exactly_what_is_missing(pool: PgPool) {
    use herald_core::config::DialerOverrides;
    use herald_core::dialer::preferences;
    let s = voice::settings();
    voice::start(&pool, &s, 20, 50.0).await;
    let missing = |pool: PgPool| async move {
        match preferences::config(
            &pool,
            &DialerOverrides::default(),
            &herald_testing::secrets(),
        )
        .await
        {
            Err(preferences::DialerPreferencesError::NotConfigured(m)) => m,
            other => panic!("{other:?}"),
        }
    };
    sqlx::query!("update dialer_settings set from_number = null")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(missing(pool.clone()).await, ["Caller ID"]);
    sqlx::query!("update dialer_settings set auth_token = null")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(missing(pool.clone()).await, ["Auth token", "Caller ID"]);
}
