//! The Delivery Report against a real PostgreSQL: every count on a message with a known mix of
//! outcomes, the recipient pages (keyset, filters, search), and counts that always add up while
//! workers and a cancel race.

use herald_testing::district;

use herald_core::domain::{ContactReason, Device, JobId, MessageId};
use herald_core::messaging::compose;
use herald_core::messaging::delivery_report::{self, DeviceCounts, RecipientQuery, StatusFilter};
use herald_core::messaging::queue::{self, Failure};
use sqlx::PgPool;
use uuid::Uuid;

use district::{District, MAX_ATTEMPTS, district, fan_out_all, send};

async fn fanned_out(pool: &PgPool, d: &District, devices: &[Device]) -> MessageId {
    let id = send(pool, d, ContactReason::General, devices).await;
    fan_out_all(pool).await;
    id
}

fn device(counts: &[DeviceCounts], device: Device) -> DeviceCounts {
    *counts.iter().find(|c| c.device == device).unwrap()
}

/// No count is negative (queued is computed as the remainder, so an over-counted status would
/// show as a negative queued) and together they make the total.
fn adds_up(c: &DeviceCounts) -> bool {
    let parts = by_status(c);
    parts.iter().all(|n| *n >= 0) && parts.iter().sum::<i64>() == c.total
}

/// (sent, failed, canceled, queued, in progress, retrying).
fn by_status(c: &DeviceCounts) -> [i64; 6] {
    [
        c.sent,
        c.failed,
        c.canceled,
        c.queued,
        c.in_progress,
        c.retrying,
    ]
}

/// The report's counts for `c.device` as read from the jobs themselves, not the tally:
/// (sent, failed, canceled, queued, in progress, retrying).
async fn jobs_say(pool: &PgPool, id: MessageId, device: Device) -> [i64; 6] {
    let j = sqlx::query!(
        r#"select count(*) filter (where status = 'sent') as "sent!",
                  count(*) filter (where status = 'failed') as "failed!",
                  count(*) filter (where status = 'canceled') as "canceled!",
                  count(*) filter (where status = 'queued'
                                   or (status = 'leased' and due_at <= now())) as "queued!",
                  count(*) filter (where status = 'calling'
                                   or (status = 'leased' and due_at > now())) as "in_progress!",
                  count(*) filter (where status = 'retrying') as "retrying!"
           from delivery_job where message_id = $1 and device = $2"#,
        id as MessageId,
        device as Device
    )
    .fetch_one(pool)
    .await
    .unwrap();
    [
        j.sent,
        j.failed,
        j.canceled,
        j.queued,
        j.in_progress,
        j.retrying,
    ]
}

/// Each device's report counts equal what its jobs say.
async fn assert_counts_match_the_jobs(pool: &PgPool, id: MessageId, when: &str) {
    for c in delivery_report::counts(pool, id).await.unwrap() {
        let report = by_status(&c);
        assert_eq!(report, jobs_say(pool, id, c.device).await, "{when}: {c:?}");
    }
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn every_count_of_a_message_with_a_known_mix_of_outcomes(pool: PgPool) {
    let d = district(&pool, 40).await;
    let id = fanned_out(&pool, &d, &[Device::Email, Device::Inbox]).await;
    let before = delivery_report::counts(&pool, id).await.unwrap();
    let email = device(&before, Device::Email);
    assert!(email.total > 12, "{email:?}");
    assert_eq!(
        (email.queued, email.sent, email.percent_done()),
        (email.total, 0, 0)
    );

    // One worker takes 12 emails: 5 sent, 2 refused for good, 2 to retry, 3 still in hand.
    let worker = Uuid::new_v4();
    let leased = queue::lease(&pool, Device::Email, worker, 300, 12, MAX_ATTEMPTS)
        .await
        .unwrap();
    let ids: Vec<JobId> = leased.iter().map(|j| j.id).collect();
    queue::mark_sent(&pool, worker, &ids[..5]).await.unwrap();
    for (job, failure) in [
        (ids[5], Failure::Fatal("550 no such user".into())),
        (ids[6], Failure::Fatal("550 no such user".into())),
        (ids[7], Failure::Retryable("421 try later".into())),
        (ids[8], Failure::Retryable("421 try later".into())),
    ] {
        queue::fail(&pool, worker, job, &failure, 5, 600)
            .await
            .unwrap();
    }
    let now = device(
        &delivery_report::counts(&pool, id).await.unwrap(),
        Device::Email,
    );
    assert_eq!(
        (
            now.sent,
            now.failed,
            now.retrying,
            now.in_progress,
            now.queued,
            now.canceled
        ),
        (5, 2, 2, 3, email.total - 12, 0)
    );
    assert!(adds_up(&now));
    assert_eq!(now.percent_done(), ((7 * 100) / email.total) as u8);

    // The recipient list agrees with the counts, status by status.
    for (filter, expected) in [
        (StatusFilter::Sent, 5),
        (StatusFilter::Failed, 2),
        (StatusFilter::Retrying, 2),
        (StatusFilter::InProgress, 3),
        (StatusFilter::Queued, email.total - 12),
    ] {
        let q = RecipientQuery {
            device: Device::Email,
            status: Some(filter),
            search: None,
        };
        let rows = delivery_report::recipients(&pool, id, &q, None, 1000)
            .await
            .unwrap();
        assert_eq!(rows.len() as i64, expected, "{filter:?}");
        assert!(rows.iter().all(|r| StatusFilter::of(r.status) == filter));
    }
    let q = RecipientQuery {
        device: Device::Email,
        status: Some(StatusFilter::Failed),
        search: None,
    };
    let failed = delivery_report::recipients(&pool, id, &q, None, 10)
        .await
        .unwrap();
    assert_eq!(failed[0].error.as_deref(), Some("550 no such user"));
    assert!(
        !failed[0].person.is_empty() && !failed[0].students.is_empty(),
        "{:?}",
        failed[0]
    );

    // Two of the three in hand go to the SMTP server now. Canceling ends what was queued or
    // retrying and the one in hand not handed over; the two handed over are the worker's to finish.
    assert!(queue::hand_over(&pool, worker, ids[9]).await.unwrap());
    assert!(queue::hand_over(&pool, worker, ids[10]).await.unwrap());
    compose::cancel(&pool, id).await.unwrap();
    let after = delivery_report::counts(&pool, id).await.unwrap();
    let email_after = device(&after, Device::Email);
    assert_eq!(email_after.canceled, email.total - 12 + 2 + 1);
    assert_eq!(
        (
            email_after.queued,
            email_after.retrying,
            email_after.in_progress
        ),
        (0, 0, 2)
    );
    assert!(adds_up(&email_after));
    let inbox = device(&after, Device::Inbox);
    assert_eq!((inbox.canceled, inbox.total), (inbox.total, inbox.total));
    assert!(after.iter().all(adds_up));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn recipient_pages_are_keyset_pages_and_search_finds_a_name_or_an_address(pool: PgPool) {
    let d = district(&pool, 40).await;
    // Another message's jobs are written in between; the report never shows them.
    let id = fanned_out(&pool, &d, &[Device::Email]).await;
    fanned_out(&pool, &d, &[Device::Email]).await;
    let all = RecipientQuery {
        device: Device::Email,
        status: None,
        search: None,
    };
    let total = device(
        &delivery_report::counts(&pool, id).await.unwrap(),
        Device::Email,
    )
    .total;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = delivery_report::recipients(&pool, id, &all, after, 7)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.job);
        seen.extend(page.into_iter().map(|r| r.job));
    }
    assert_eq!(seen.len() as i64, total);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in job order, no repeats"
    );
    let theirs: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from delivery_job where message_id = $1 and id = any($2)"#,
        id as MessageId,
        &seen.iter().map(|j| j.0).collect::<Vec<_>>()
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(theirs, total, "every row is this message's");

    let first = delivery_report::recipients(&pool, id, &all, None, 1)
        .await
        .unwrap()
        .remove(0);
    let family = first
        .person
        .split_whitespace()
        .last()
        .unwrap()
        .to_uppercase();
    let by_name = RecipientQuery {
        search: Some(family.clone()),
        ..all.clone()
    };
    let hits = delivery_report::recipients(&pool, id, &by_name, None, 100)
        .await
        .unwrap();
    assert!(hits.iter().any(|r| r.job == first.job));
    assert!(
        hits.iter()
            .all(|r| r.person.to_uppercase().contains(&family)
                || r.target.to_uppercase().contains(&family))
    );
    let domain = first.target.split('@').nth(1).unwrap().to_string();
    let by_address = RecipientQuery {
        search: Some(format!(" {domain} ")),
        ..all.clone()
    };
    assert!(
        !delivery_report::recipients(&pool, id, &by_address, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let nothing = RecipientQuery {
        search: Some("%".into()),
        ..all
    };
    assert!(
        delivery_report::recipients(&pool, id, &nothing, None, 100)
            .await
            .unwrap()
            .is_empty(),
        "% is a literal character, not a wildcard"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_counts_add_up_in_every_snapshot_while_workers_and_a_cancel_race() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let d = district(&pool, 60).await;
    let id = fanned_out(&pool, &d, &[Device::Email, Device::Inbox]).await;
    // After one round, every worker stops holding a fresh email lease until the cancel is done,
    // so the cancel surely lands mid-run with jobs in workers' hands.
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                let me = Uuid::new_v4();
                for round in 0..20 {
                    for device in [Device::Email, Device::Inbox] {
                        let jobs = queue::lease(&pool, device, me, 300, 3, MAX_ATTEMPTS)
                            .await
                            .unwrap();
                        if round == 1 && device == Device::Email {
                            gate.wait().await;
                            gate.wait().await;
                        }
                        let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
                        if let Some((first, rest)) = ids.split_first() {
                            queue::fail(&pool, me, *first, &Failure::Retryable("421".into()), 5, 0)
                                .await
                                .unwrap();
                            queue::mark_sent(&pool, me, rest).await.unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    let reader = {
        let pool = pool.clone();
        tokio::spawn(async move {
            for _ in 0..60 {
                let counts = delivery_report::counts(&pool, id).await.unwrap();
                for c in &counts {
                    assert!(adds_up(c), "{c:?}");
                }
            }
        })
    };
    gate.wait().await;
    let held = delivery_report::counts(&pool, id).await.unwrap();
    let email = device(&held, Device::Email);
    assert!(
        email.sent > 0 && email.in_progress > 0 && email.retrying > 0 && email.queued > 0,
        "mid-run: {email:?}"
    );
    assert_counts_match_the_jobs(&pool, id, "mid-run").await;
    compose::cancel(&pool, id).await.unwrap();
    assert_counts_match_the_jobs(&pool, id, "just after the cancel").await;
    gate.wait().await;
    for w in workers {
        w.await.unwrap();
    }
    reader.await.unwrap();
    // Every job ended exactly once: the tally matches the jobs themselves.
    assert_counts_match_the_jobs(&pool, id, "at the end").await;
    for c in delivery_report::counts(&pool, id).await.unwrap() {
        assert!(adds_up(&c), "{c:?}");
        assert_eq!(c.retrying + c.queued, 0, "a cancel leaves nothing waiting");
        assert!(
            c.sent > 0 && c.canceled > 0,
            "the cancel landed mid-run: {c:?}"
        );
    }
}
