//! Dialer Activity against a real PostgreSQL: a day's messages by sender, all or only active,
//! and canceling selected or all active messages on record, racing workers that deliver.

use herald_testing::district;

use chrono::{Duration, Utc};
use herald_core::domain::{ContactReason, Device, JobId, MessageId};
use herald_core::messaging::cancel::{self, CancelScope, Canceler};
use herald_core::messaging::dialer_activity::{self, ActivityQuery};
use herald_core::messaging::{delivery_report, queue};
use sqlx::PgPool;
use uuid::Uuid;

use district::{District, MAX_ATTEMPTS, district, fan_out_all, send};

fn canceler(d: &District) -> Canceler {
    Canceler {
        account: d.sender.account_id,
        email: d.sender.email.as_str().to_string(),
    }
}

fn today(d: &District) -> ActivityQuery {
    let now = Utc::now();
    ActivityQuery {
        calendar: d.calendar,
        from: now - Duration::hours(12),
        until: now + Duration::hours(12),
        active_only: false,
        senders: Vec::new(),
    }
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_report_lists_a_days_messages_by_sender_and_active_only_leaves_out_finished_ones(
    pool: PgPool,
) {
    let d = district(&pool, 10).await;
    let finished = send(&pool, &d, ContactReason::General, &[Device::Inbox]).await;
    let active = send(&pool, &d, ContactReason::Attendance, &[Device::Inbox]).await;
    let other_day = send(&pool, &d, ContactReason::General, &[Device::Inbox]).await;
    sqlx::query!(
        "update message set finished_at = now(), fanned_out_at = now() where id = $1",
        finished as MessageId
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "update message set start_at = now() + interval '3 days' where id = $1",
        other_day as MessageId
    )
    .execute(&pool)
    .await
    .unwrap();
    let ids = |rows: Vec<dialer_activity::ActivityRow>| {
        rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(dialer_activity::list(&pool, &today(&d)).await.unwrap()),
        [finished, active]
    );
    let active_only = ActivityQuery {
        active_only: true,
        ..today(&d)
    };
    assert_eq!(
        ids(dialer_activity::list(&pool, &active_only).await.unwrap()),
        [active]
    );
    let nobody = ActivityQuery {
        senders: vec!["nurse@district.example".into()],
        ..today(&d)
    };
    assert!(
        dialer_activity::list(&pool, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
    let principal = ActivityQuery {
        senders: vec![d.sender.email.as_str().into()],
        ..today(&d)
    };
    assert_eq!(
        dialer_activity::list(&pool, &principal)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn cancel_selected_skips_finished_messages_and_records_the_jobs_it_canceled(pool: PgPool) {
    let d = district(&pool, 20).await;
    let a = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    let b = send(&pool, &d, ContactReason::General, &[Device::Inbox]).await;
    fan_out_all(&pool).await;
    sqlx::query!(
        "update message set finished_at = now() where id = $1",
        b as MessageId
    )
    .execute(&pool)
    .await
    .unwrap();
    let total: i64 = delivery_report::counts(&pool, a)
        .await
        .unwrap()
        .iter()
        .map(|c| c.total)
        .sum();
    let done = cancel::cancel(&pool, &canceler(&d), CancelScope::Selected, &[a, b])
        .await
        .unwrap();
    assert_eq!(done.messages, [a], "a finished message is not canceled");
    assert_eq!(done.jobs, total);
    let again = cancel::cancel(&pool, &canceler(&d), CancelScope::AllActive, &[a, b])
        .await
        .unwrap();
    assert_eq!((again.messages.len(), again.jobs), (0, 0), "nothing twice");
    let recorded = cancel::recent_cancellations(&pool, 10).await.unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        (recorded[1].scope, recorded[1].jobs, recorded[1].by.as_str()),
        (CancelScope::Selected, total, "principal@district.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_workers_never_both_delivers_and_cancels_a_job() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let d = district(&pool, 30).await;
    let mut mixed = 0;
    for round in 0..12u64 {
        let id = send(
            &pool,
            &d,
            ContactReason::General,
            &[Device::Email, Device::Inbox],
        )
        .await;
        fan_out_all(&pool).await;
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let me = Uuid::new_v4();
                    let mut delivered = 0u64;
                    loop {
                        let mut any = false;
                        for device in [Device::Email, Device::Inbox] {
                            let jobs = queue::lease(&pool, device, me, 300, 4, MAX_ATTEMPTS)
                                .await
                                .unwrap();
                            any |= !jobs.is_empty();
                            let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
                            tokio::task::yield_now().await;
                            delivered += queue::mark_sent(&pool, me, &ids).await.unwrap();
                        }
                        if !any {
                            return delivered;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(round * 3)).await;
        let canceled = cancel::cancel(&pool, &canceler(&d), CancelScope::AllActive, &[id])
            .await
            .unwrap();
        let mut delivered = 0;
        for w in workers {
            delivered += w.await.unwrap();
        }
        let jobs = sqlx::query!(
            r#"select count(*) as "all!", count(*) filter (where status = 'sent') as "sent!",
                      count(*) filter (where status = 'canceled') as "canceled!"
               from delivery_job where message_id = $1 and kind = 'message'"#,
            id as MessageId
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            jobs.sent + jobs.canceled,
            jobs.all,
            "round {round}: every job ended once"
        );
        assert_eq!(jobs.sent as u64, delivered, "round {round}");
        assert_eq!(
            jobs.canceled, canceled.jobs,
            "round {round}: the record counts what was canceled"
        );
        for c in delivery_report::counts(&pool, id).await.unwrap() {
            assert_eq!(c.sent + c.canceled, c.total, "round {round}: {c:?}");
        }
        let tally: (i64, i64) = sqlx::query_as(
            "select sum(sent)::bigint, sum(canceled)::bigint from message_tally where message_id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(tally, (jobs.sent, jobs.canceled), "round {round}");
        if jobs.sent > 0 && jobs.canceled > 0 {
            mixed += 1;
        }
    }
    assert!(mixed > 0, "some rounds caught the workers mid-way");
}
