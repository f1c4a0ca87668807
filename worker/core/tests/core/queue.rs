//! The delivery queue against a real PostgreSQL: leases never overlap, an expired lease is taken
//! over, retries back off, fatal failures stop, releases cost no attempt, cancel takes every job
//! not yet handed over and leaves the rest to end as their worker says, and an inbox job never
//! makes two notices.

use herald_testing::district;

use std::collections::HashSet;

use herald_core::domain::{ContactReason, Device, JobId, MessageId};
use herald_core::messaging::queue::{self, FailOutcome, Failure};
use herald_core::messaging::{compose, fanout, sent_messages};
use sqlx::PgPool;
use uuid::Uuid;

use district::{MAX_ATTEMPTS, district, send};

async fn inbox_message(pool: &PgPool) -> (MessageId, u64) {
    let d = district(pool, 60).await;
    let id = send(
        pool,
        &d,
        ContactReason::General,
        &[Device::Inbox, Device::Email],
    )
    .await;
    let f = fanout::fan_out_next(pool).await.unwrap().unwrap();
    (id, f.inbox_jobs)
}

fn notices(jobs: &[queue::LeasedJob]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_leasing_at_once_never_hold_the_same_job() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let (_, total) = inbox_message(&pool).await;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let me = Uuid::new_v4();
                let mut mine = Vec::new();
                loop {
                    let jobs = queue::lease(&pool, Device::Inbox, me, 60, 7, MAX_ATTEMPTS)
                        .await
                        .unwrap();
                    if jobs.is_empty() {
                        return mine;
                    }
                    queue::deliver_notices(&pool, me, &notices(&jobs))
                        .await
                        .unwrap();
                    mine.extend(jobs.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut count = 0;
    for w in workers {
        for id in w.await.unwrap() {
            count += 1;
            assert!(seen.insert(id), "job {id} was leased by two workers");
        }
    }
    assert_eq!(count as u64, total);
    let notices: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(notices as u64, total);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_expired_lease_is_taken_over_and_the_old_holder_cannot_mark_it(pool: PgPool) {
    inbox_message(&pool).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let first = queue::lease(&pool, Device::Inbox, a, 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // A's lease ran out long ago (its worker died), so it is the first job due, however long
    // ago fan-out queued the others (a second was not enough on a busy machine).
    sqlx::query!(
        "update delivery_job set due_at = now() - interval '1 hour' where id = $1",
        first[0].id.0
    )
    .execute(&pool)
    .await
    .unwrap();
    let taken = queue::lease(&pool, Device::Inbox, b, 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap();
    assert_eq!(taken[0].id, first[0].id);
    assert_eq!(taken[0].attempts, 2);
    assert_eq!(
        queue::deliver_notices(&pool, a, &notices(&first))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        queue::deliver_notices(&pool, b, &notices(&taken))
            .await
            .unwrap(),
        1
    );
    // Delivering again (a retried statement) adds nothing.
    assert_eq!(
        queue::deliver_notices(&pool, b, &notices(&taken))
            .await
            .unwrap(),
        0
    );
    let n: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn transient_failures_back_off_and_then_fail_for_good(pool: PgPool) {
    let (id, _) = inbox_message(&pool).await;
    let me = Uuid::new_v4();
    let job = queue::lease(&pool, Device::Email, me, 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap()
        .remove(0);
    let busy = Failure::Retryable("451 try again later".into());
    assert_eq!(
        queue::fail(&pool, me, job.id, &busy, 2, 30).await.unwrap(),
        FailOutcome::Retrying
    );
    let (status, wait): (String, f64) = sqlx::query_as(
        "select status::text, extract(epoch from due_at - now())::float8 from delivery_job where id = $1",
    )
    .bind(job.id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "retrying");
    assert!(
        (25.0..=31.0).contains(&wait),
        "first retry after ~30 s, got {wait}"
    );
    // Not due yet: nobody leases it.
    assert!(
        queue::lease(&pool, Device::Email, me, 60, 1000, MAX_ATTEMPTS)
            .await
            .unwrap()
            .iter()
            .all(|j| j.id != job.id)
    );
    sqlx::query("update delivery_job set due_at = now() where id = $1")
        .bind(job.id.0)
        .execute(&pool)
        .await
        .unwrap();
    let again = queue::lease(&pool, Device::Email, me, 60, 1000, MAX_ATTEMPTS)
        .await
        .unwrap();
    let again = again.into_iter().find(|j| j.id == job.id).unwrap();
    assert_eq!(again.attempts, 2);
    assert_eq!(
        queue::fail(&pool, me, job.id, &busy, 2, 30).await.unwrap(),
        FailOutcome::Failed
    );
    let attempts: i64 =
        sqlx::query_scalar("select count(*) from delivery_attempt where job_id = $1")
            .bind(job.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 2);
    let email = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Email)
        .unwrap();
    assert_eq!(email.failed, 1);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_fatal_failure_stops_at_once_and_keeps_the_server_text(pool: PgPool) {
    inbox_message(&pool).await;
    let me = Uuid::new_v4();
    let job = queue::lease(&pool, Device::Email, me, 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap()
        .remove(0);
    let fatal = Failure::Fatal("550 5.1.1 mailbox unavailable".into());
    assert_eq!(
        queue::fail(&pool, me, job.id, &fatal, 6, 30).await.unwrap(),
        FailOutcome::Failed
    );
    let err: Option<String> =
        sqlx::query_scalar("select last_error from delivery_job where id = $1")
            .bind(job.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(err.as_deref(), Some("550 5.1.1 mailbox unavailable"));
    // Another worker cannot fail a job it does not hold.
    let other = queue::lease(&pool, Device::Email, me, 60, 1, MAX_ATTEMPTS)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        queue::fail(&pool, Uuid::new_v4(), other.id, &fatal, 6, 30)
            .await
            .unwrap(),
        FailOutcome::NotHeld
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn released_jobs_are_due_at_once_and_the_lease_costs_no_attempt(pool: PgPool) {
    inbox_message(&pool).await;
    let me = Uuid::new_v4();
    // A fresh job first, then one that failed once and is due again.
    let jobs = queue::lease(&pool, Device::Inbox, me, 60, 5, MAX_ATTEMPTS)
        .await
        .unwrap();
    let ids = notices(&jobs);
    assert_eq!(ids.len(), 5);
    sqlx::query!(
        "update delivery_job set attempts = 2 where id = $1",
        ids[0] as JobId
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "update delivery_job set due_at = now() + interval '1 hour' where id = any($1)",
        &ids as &[JobId]
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(queue::release(&pool, me, &ids).await.unwrap(), 5);
    let rows = sqlx::query!(
        r#"select id as "id: JobId", status::text as "status!", attempts,
                  due_at <= now() as "due!", handed_at is null as "unhanded!"
           from delivery_job where id = any($1) order by id"#,
        &ids as &[JobId]
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for r in &rows {
        let (status, attempts) = if r.id == ids[0] {
            ("retrying", 1)
        } else {
            ("queued", 0)
        };
        assert_eq!(
            (r.status.as_str(), r.attempts, r.due, r.unhanded),
            (status, attempts, true, true),
            "{:?}",
            r.id
        );
    }
    // Due at once: leasing every due job takes them back.
    let again = queue::lease(
        &pool,
        Device::Inbox,
        Uuid::new_v4(),
        60,
        10_000,
        MAX_ATTEMPTS,
    )
    .await
    .unwrap();
    let back: HashSet<JobId> = notices(&again).into_iter().collect();
    assert!(ids.iter().all(|id| back.contains(id)), "{ids:?}");
}

/// A message's jobs by status, and how many of them are handed over.
async fn statuses(pool: &PgPool, id: MessageId) -> Vec<(String, i64, i64)> {
    sqlx::query_as(
        "select status::text, count(*), count(handed_at) from delivery_job
         where message_id = $1 group by status order by status",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn cancel_takes_the_jobs_a_worker_holds_and_leaves_those_already_sent(pool: PgPool) {
    let (id, total) = inbox_message(&pool).await;
    let me = Uuid::new_v4();
    let sent = queue::lease(&pool, Device::Inbox, me, 60, 3, MAX_ATTEMPTS)
        .await
        .unwrap();
    queue::deliver_notices(&pool, me, &notices(&sent))
        .await
        .unwrap();
    let held = queue::lease(&pool, Device::Inbox, me, 60, 2, MAX_ATTEMPTS)
        .await
        .unwrap();
    let canceled = compose::cancel(&pool, id).await.unwrap();
    let email_total = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Email)
        .unwrap()
        .total;
    assert_eq!(canceled, total - 3 + email_total as u64);
    // The held jobs were canceled under the worker: their notices are not written.
    assert_eq!(
        queue::deliver_notices(&pool, me, &notices(&held))
            .await
            .unwrap(),
        0
    );
    let notices: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(notices, 3);
    let inbox = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Inbox)
        .unwrap();
    assert_eq!(
        (inbox.sent, inbox.canceled, inbox.pending()),
        (3, total as i64 - 3, 0)
    );
    assert!(queue::finish_messages(&pool).await.unwrap().contains(&id));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_cancel_leaves_a_job_already_handed_over_to_end_as_its_worker_says(pool: PgPool) {
    let (id, _) = inbox_message(&pool).await;
    let me = Uuid::new_v4();
    let held = queue::lease(&pool, Device::Email, me, 60, 3, MAX_ATTEMPTS)
        .await
        .unwrap();
    assert!(queue::hand_over(&pool, me, held[0].id).await.unwrap());
    compose::cancel(&pool, id).await.unwrap();
    // The two not yet handed over are canceled: the worker may not send them now.
    assert!(!queue::hand_over(&pool, me, held[1].id).await.unwrap());
    assert!(!queue::hand_over(&pool, me, held[2].id).await.unwrap());
    let ids: Vec<JobId> = held.iter().map(|j| j.id).collect();
    assert_eq!(queue::mark_sent(&pool, me, &ids).await.unwrap(), 1);
    let email = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Email)
        .unwrap();
    assert_eq!(
        (email.sent, email.canceled, email.pending()),
        (1, email.total - 1, 0)
    );
    let status: String = sqlx::query_scalar("select status::text from delivery_job where id = $1")
        .bind(held[0].id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "sent");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_cancel_takes_a_dead_workers_expired_leases_and_handing_them_back_keeps_them_canceled(
    pool: PgPool,
) {
    let (id, _) = inbox_message(&pool).await;
    let dead = Uuid::new_v4();
    let stopping = Uuid::new_v4();
    let expired = queue::lease(&pool, Device::Email, dead, 60, 4, MAX_ATTEMPTS)
        .await
        .unwrap();
    assert!(queue::hand_over(&pool, dead, expired[0].id).await.unwrap());
    sqlx::query("update delivery_job set due_at = now() - interval '1 second' where id = any($1)")
        .bind(expired.iter().map(|j| j.id.0).collect::<Vec<_>>())
        .execute(&pool)
        .await
        .unwrap();
    let held = queue::lease(&pool, Device::Inbox, stopping, 60, 5, MAX_ATTEMPTS)
        .await
        .unwrap();
    compose::cancel(&pool, id).await.unwrap();
    // The stopping worker hands back what it held (SIGTERM): nothing of it becomes due again.
    let ids: Vec<JobId> = held.iter().map(|j| j.id).collect();
    assert_eq!(queue::release(&pool, stopping, &ids).await.unwrap(), 0);
    for device in [Device::Email, Device::Inbox] {
        let again = queue::lease(&pool, device, Uuid::new_v4(), 60, 1000, MAX_ATTEMPTS)
            .await
            .unwrap();
        assert!(again.is_empty(), "{device:?}: {again:?}");
    }
    assert_eq!(
        statuses(&pool, id).await,
        vec![("canceled".to_string(), statuses_total(&pool, id).await, 1)],
        "every job canceled, the dead worker's handed one included"
    );
}

/// How many jobs the message has.
async fn statuses_total(pool: &PgPool, id: MessageId) -> i64 {
    sqlx::query_scalar("select count(*) from delivery_job where message_id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_four_workers_handing_over_never_both_delivers_and_cancels_a_job() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let d = district(&pool, 30).await;
    let (mut mixed, mut refused) = (0, 0);
    for round in 0..8u64 {
        let id = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
        fanout::fan_out_next(&pool).await.unwrap().unwrap();
        // Odd rounds stop every worker once it has delivered a batch and leased the next one,
        // so a cancel surely lands mid-send holding leased jobs, whatever the machine's speed.
        let gate = (round % 2 == 1).then(|| std::sync::Arc::new(tokio::sync::Barrier::new(5)));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (pool, gate) = (pool.clone(), gate.clone());
                tokio::spawn(async move {
                    let me = Uuid::new_v4();
                    let (mut delivered, mut refused) = (0u64, 0);
                    let mut paused = false;
                    loop {
                        let jobs = queue::lease(&pool, Device::Email, me, 300, 3, MAX_ATTEMPTS)
                            .await
                            .unwrap();
                        // Every worker arrives once: holding leased jobs after a delivered
                        // batch, or (started late, the others ahead) finding none.
                        let arrive = !paused && (delivered > 0 || jobs.is_empty());
                        if let Some(gate) = gate.as_ref().filter(|_| arrive) {
                            gate.wait().await; // holding leased jobs...
                            gate.wait().await; // ...until the cancel is done.
                            paused = true;
                        }
                        if jobs.is_empty() {
                            return (delivered, refused);
                        }
                        let mut handed = Vec::new();
                        for job in &jobs {
                            tokio::task::yield_now().await;
                            if queue::hand_over(&pool, me, job.id).await.unwrap() {
                                handed.push(job.id);
                            } else {
                                refused += 1;
                            }
                        }
                        delivered += queue::mark_sent(&pool, me, &handed).await.unwrap();
                    }
                })
            })
            .collect();
        if let Some(gate) = &gate {
            gate.wait().await;
        } else {
            // Even rounds cancel at whatever point this many milliseconds reach.
            tokio::time::sleep(std::time::Duration::from_millis(round * 4)).await;
        }
        compose::cancel(&pool, id).await.unwrap();
        if let Some(gate) = &gate {
            gate.wait().await;
        }
        let mut delivered = 0;
        for w in workers {
            let (d, r) = w.await.unwrap();
            delivered += d;
            refused += r;
        }
        let jobs = statuses(&pool, id).await;
        let count = |s: &str| {
            jobs.iter()
                .find(|j| j.0 == s)
                .map_or((0, 0), |j| (j.1, j.2))
        };
        let (sent, canceled) = (count("sent"), count("canceled"));
        assert_eq!(
            sent.0 + canceled.0,
            statuses_total(&pool, id).await,
            "round {round}: every job ended once: {jobs:?}"
        );
        assert_eq!(
            sent.0 as u64, delivered,
            "round {round}: each handed job was delivered"
        );
        assert_eq!(
            sent.1, sent.0,
            "round {round}: nothing was delivered without being handed over"
        );
        assert_eq!(
            canceled.1, 0,
            "round {round}: nothing handed over was canceled"
        );
        let email = sent_messages::tally(&pool, id).await.unwrap()[0];
        assert_eq!(
            (email.sent, email.canceled),
            (sent.0, canceled.0),
            "round {round}"
        );
        if sent.0 > 0 && canceled.0 > 0 {
            mixed += 1;
        }
    }
    assert!(mixed > 0, "some cancel landed mid-send");
    assert!(
        refused > 0,
        "some cancel took jobs the workers held but had not handed over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_racing_workers_never_cancels_a_delivered_job() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let (id, _) = inbox_message(&pool).await;
    // Each of four workers delivers a batch, leases the next and waits there for the cancel:
    // it lands mid-send, with notices written and jobs held.
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(5));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                let me = Uuid::new_v4();
                for round in 0.. {
                    let jobs = queue::lease(&pool, Device::Inbox, me, 60, 3, MAX_ATTEMPTS)
                        .await
                        .unwrap();
                    // Every worker arrives once: after its first batch, or on finding none.
                    if round == 1 || (round == 0 && jobs.is_empty()) {
                        gate.wait().await;
                        gate.wait().await;
                    }
                    if jobs.is_empty() {
                        break;
                    }
                    queue::deliver_notices(&pool, me, &notices(&jobs))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    gate.wait().await;
    let inbox_sent = || async {
        sent_messages::tally(&pool, id)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.device == Device::Inbox)
            .unwrap()
            .sent
    };
    let sent_before = inbox_sent().await;
    compose::cancel(&pool, id).await.unwrap();
    gate.wait().await;
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        inbox_sent().await,
        sent_before,
        "no job held at the cancel was delivered after it"
    );
    let bad: i64 = sqlx::query_scalar(
        "select count(*) from delivery_job j join portal_notice n on n.job_id = j.id where j.status <> 'sent'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(bad, 0);
    let inbox = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Inbox)
        .unwrap();
    let notices: i64 = sqlx::query_scalar("select count(*) from portal_notice")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(inbox.sent, notices);
    assert!(
        inbox.sent > 0 && inbox.canceled > 0,
        "the cancel landed mid-send: {inbox:?}"
    );
    assert_eq!(inbox.pending(), 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_queue_depth_tells_due_jobs_from_later_ones_and_jobs_in_hand(pool: PgPool) {
    let (_, inbox) = inbox_message(&pool).await;
    let inbox = inbox as i64;
    // Five inbox jobs leased by a live worker, two of them then left to run out.
    let worker = Uuid::new_v4();
    let held = queue::lease(&pool, Device::Inbox, worker, 60, 5, MAX_ATTEMPTS)
        .await
        .unwrap();
    assert_eq!(held.len(), 5);
    sqlx::query("update delivery_job set due_at = now() - interval '3 minutes' where id = any($1)")
        .bind(held[..2].iter().map(|j| j.id.0).collect::<Vec<_>>())
        .execute(&pool)
        .await
        .unwrap();
    // Three email jobs held back until tomorrow (a "send emails at" time).
    let later: i64 = sqlx::query_scalar(
        "with l as (update delivery_job set due_at = now() + interval '1 day'
                    where id in (select id from delivery_job where device = 'email' order by id limit 3)
                    returning 1)
         select count(*) from l",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(later, 3);
    let emails: i64 =
        sqlx::query_scalar("select count(*) from delivery_job where device = 'email'")
            .fetch_one(&pool)
            .await
            .unwrap();

    let depth = queue::depth(&pool).await.unwrap();
    let of = |d: Device| depth.iter().find(|x| x.device == d).cloned().unwrap();
    let i = of(Device::Inbox);
    assert_eq!((i.due, i.later, i.in_progress), (inbox - 3, 0, 3));
    let waited = chrono::Utc::now() - i.oldest_due.unwrap();
    assert!(
        waited >= chrono::TimeDelta::minutes(3),
        "the run-out leases waited longest: {waited}"
    );
    let e = of(Device::Email);
    assert_eq!((e.due, e.later, e.in_progress), (emails - 3, 3, 0));
    assert!(
        depth.iter().all(|d| d.device != Device::Phone),
        "no phone jobs, no line"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_job_whose_lease_runs_out_max_attempts_times_fails_saying_so(pool: PgPool) {
    let (id, _) = inbox_message(&pool).await;
    let expire = |job: JobId| {
        let pool = pool.clone();
        async move {
            // Its worker died: the lease ran out long ago, so it is the first job due.
            sqlx::query("update delivery_job set due_at = now() - interval '1 hour' where id = $1")
                .bind(job.0)
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    let job = queue::lease(&pool, Device::Email, Uuid::new_v4(), 60, 1, 3)
        .await
        .unwrap()
        .remove(0);
    for attempt in 2..=3 {
        expire(job.id).await;
        let again = queue::lease(&pool, Device::Email, Uuid::new_v4(), 60, 1, 3)
            .await
            .unwrap();
        assert_eq!((again[0].id, again[0].attempts), (job.id, attempt));
    }
    expire(job.id).await;
    let next = queue::lease(&pool, Device::Email, Uuid::new_v4(), 60, 1, 3)
        .await
        .unwrap();
    assert!(
        next.iter().all(|j| j.id != job.id),
        "a fourth worker does not get it"
    );
    let (status, error): (String, String) =
        sqlx::query_as("select status::text, last_error from delivery_job where id = $1")
            .bind(job.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.starts_with("given up after 3 attempts"), "{error}");
    let recorded: i64 = sqlx::query_scalar(
        "select count(*) from delivery_attempt where job_id = $1 and outcome = 'failed'",
    )
    .bind(job.id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(recorded, 1);
    let email = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Email)
        .unwrap();
    assert_eq!(email.failed, 1);
}
