//! The delivery queue against a real PostgreSQL: leases never overlap, an expired lease is taken
//! over, retries back off, fatal failures stop, releases cost no attempt, cancel leaves sent jobs
//! alone, and an inbox job never makes two notices.

use herald_testing::district;

use std::collections::HashSet;

use herald_core::domain::{ContactReason, Device, JobId, MessageId};
use herald_core::messaging::queue::{self, FailOutcome, Failure, Notice};
use herald_core::messaging::{compose, fanout, sent_messages};
use sqlx::PgPool;
use uuid::Uuid;

use district::{district, send};

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

fn notices(jobs: &[queue::LeasedJob]) -> Vec<Notice> {
    jobs.iter()
        .map(|j| Notice {
            job: j.id,
            subject: "s".into(),
            body: "b".into(),
            body_html: "<p>b</p>".into(),
        })
        .collect()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn four_workers_leasing_at_once_never_hold_the_same_job(pool: PgPool) {
    let (_, total) = inbox_message(&pool).await;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let me = Uuid::new_v4();
                let mut mine = Vec::new();
                loop {
                    let jobs = queue::lease(&pool, Device::Inbox, me, 60, 7).await.unwrap();
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
    let first = queue::lease(&pool, Device::Inbox, a, 60, 1).await.unwrap();
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
    let taken = queue::lease(&pool, Device::Inbox, b, 60, 1).await.unwrap();
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
    let job = queue::lease(&pool, Device::Email, me, 60, 1)
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
        queue::lease(&pool, Device::Email, me, 60, 1000)
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
    let again = queue::lease(&pool, Device::Email, me, 60, 1000)
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
    let job = queue::lease(&pool, Device::Email, me, 60, 1)
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
    let other = queue::lease(&pool, Device::Email, me, 60, 1)
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
    let jobs = queue::lease(&pool, Device::Inbox, me, 60, 5).await.unwrap();
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    assert_eq!(queue::release(&pool, me, &ids).await.unwrap(), 5);
    let again = queue::lease(&pool, Device::Inbox, Uuid::new_v4(), 60, 5)
        .await
        .unwrap();
    assert!(again.iter().all(|j| j.attempts == 1));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn cancel_skips_jobs_already_sent_or_in_a_workers_hands(pool: PgPool) {
    let (id, total) = inbox_message(&pool).await;
    let me = Uuid::new_v4();
    let sent = queue::lease(&pool, Device::Inbox, me, 60, 3).await.unwrap();
    queue::deliver_notices(&pool, me, &notices(&sent))
        .await
        .unwrap();
    let held = queue::lease(&pool, Device::Inbox, me, 60, 2).await.unwrap();
    let canceled = compose::cancel(&pool, id).await.unwrap();
    let email_total = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Email)
        .unwrap()
        .total;
    assert_eq!(canceled, total - 5 + email_total as u64);
    // The held jobs still complete.
    assert_eq!(
        queue::deliver_notices(&pool, me, &notices(&held))
            .await
            .unwrap(),
        2
    );
    let inbox = sent_messages::tally(&pool, id)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.device == Device::Inbox)
        .unwrap();
    assert_eq!(
        (inbox.sent, inbox.canceled, inbox.pending()),
        (5, total as i64 - 5, 0)
    );
    assert!(queue::finish_messages(&pool).await.unwrap().contains(&id));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn cancel_racing_workers_never_cancels_a_delivered_job(pool: PgPool) {
    let (id, _) = inbox_message(&pool).await;
    let worker = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let me = Uuid::new_v4();
            loop {
                let jobs = queue::lease(&pool, Device::Inbox, me, 60, 3).await.unwrap();
                if jobs.is_empty() {
                    break;
                }
                queue::deliver_notices(&pool, me, &notices(&jobs))
                    .await
                    .unwrap();
            }
        })
    };
    tokio::task::yield_now().await;
    compose::cancel(&pool, id).await.unwrap();
    worker.await.unwrap();
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
    assert_eq!(inbox.pending(), 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_queue_depth_tells_due_jobs_from_later_ones_and_jobs_in_hand(pool: PgPool) {
    let (_, inbox) = inbox_message(&pool).await;
    let inbox = inbox as i64;
    // Five inbox jobs leased by a live worker, two of them then left to run out.
    let worker = Uuid::new_v4();
    let held = queue::lease(&pool, Device::Inbox, worker, 60, 5)
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
