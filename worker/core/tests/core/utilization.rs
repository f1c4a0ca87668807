//! The Utilization Report against a real PostgreSQL: its numbers are the messages' own Delivery
//! Report totals, by the day delivery started and by school; district-wide messages have their
//! own line and test sends are not counted.

use herald_testing::district;

use chrono::{Duration, Utc};
use herald_core::domain::{CalendarId, ContactReason, Device, JobId, MessageId};
use herald_core::messaging::queue::{self, Failure};
use herald_core::messaging::utilization::{self, DISTRICT_WIDE};
use herald_core::messaging::{compose, delivery_report};
use sqlx::PgPool;
use uuid::Uuid;

use district::{MAX_ATTEMPTS, district_of, draft, fan_out_all, send};

/// Delivers some of the message's email jobs (the first `sent` sent, the next one refused) and
/// cancels the rest, so the next message's deliveries are its own.
async fn deliver_some(pool: &PgPool, m: MessageId, sent: usize) {
    let me = Uuid::new_v4();
    let jobs = queue::lease(pool, Device::Email, me, 300, sent as i64 + 1, MAX_ATTEMPTS)
        .await
        .unwrap();
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    queue::mark_sent(pool, me, &ids[..sent]).await.unwrap();
    queue::fail(pool, me, ids[sent], &Failure::Fatal("550 no".into()), 5, 1)
        .await
        .unwrap();
    compose::cancel(pool, m).await.unwrap();
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_report_counts_each_messages_own_totals_by_day_and_school(pool: PgPool) {
    let d = district_of(&pool, 2, 60).await;
    let other_calendar = sqlx::query_scalar!(
        r#"select c.id as "id: CalendarId" from calendar c
           where c.school_id <> (select school_id from calendar where id = $1)
           limit 1"#,
        d.calendar as CalendarId
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let schools = sqlx::query!(
        r#"select c.id as "id: CalendarId", s.name from calendar c join school s on s.id = c.school_id
           where c.id = any($1)"#,
        &[d.calendar, other_calendar] as &[CalendarId]
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let school_of = |c: CalendarId| schools.iter().find(|s| s.id == c).unwrap().name.clone();

    // Today at the first school: 5 sent, 1 failed. Yesterday at the other: 3 sent, 1 failed.
    // Today, district-wide: 2 sent, 1 failed.
    let today = send(&pool, &d, ContactReason::General, &[Device::Email]).await;
    fan_out_all(&pool).await;
    deliver_some(&pool, today, 5).await;
    let mut other = draft(other_calendar, ContactReason::General, &[Device::Email]);
    other.start_at = None;
    let yesterday = compose::create(&pool, &other.compose().unwrap(), &d.sender)
        .await
        .unwrap();
    fan_out_all(&pool).await;
    deliver_some(&pool, yesterday, 3).await;
    sqlx::query!(
        "update message set start_at = start_at - interval '1 day' where id = $1",
        yesterday as MessageId
    )
    .execute(&pool)
    .await
    .unwrap();
    let mut wide = draft(d.calendar, ContactReason::Emergency, &[Device::Email]);
    wide.all_schools = true;
    let wide = compose::create(&pool, &wide.compose().unwrap(), &d.sender)
        .await
        .unwrap();
    fan_out_all(&pool).await;
    deliver_some(&pool, wide, 2).await;

    let tz = herald_core::directory::time_zone(&pool).await.unwrap();
    let now = Utc::now();
    // From three days ago to tomorrow.
    let last_days = |device: Device| {
        let pool = pool.clone();
        async move {
            utilization::rows(
                &pool,
                device,
                now - Duration::days(3),
                now + Duration::days(1),
                tz.name(),
            )
            .await
            .unwrap()
        }
    };
    let rows = last_days(Device::Email).await;
    let counts = |m: MessageId| {
        let pool = pool.clone();
        async move { delivery_report::counts(&pool, m).await.unwrap()[0] }
    };
    let find = |school: &str| rows.iter().find(|r| r.school == school).unwrap().clone();
    for (m, school) in [
        (today, school_of(d.calendar)),
        (yesterday, school_of(other_calendar)),
        (wide, DISTRICT_WIDE.to_string()),
    ] {
        let c = counts(m).await;
        let r = find(&school);
        assert_eq!(
            (
                r.counts.messages,
                r.counts.attempted,
                r.counts.delivered,
                r.counts.failed
            ),
            (1, c.total, c.sent, c.failed),
            "{school}"
        );
    }
    assert_eq!(find(&school_of(d.calendar)).counts.delivered, 5);
    assert_eq!(find(&school_of(other_calendar)).counts.delivered, 3);
    assert_eq!(find(DISTRICT_WIDE).counts.delivered, 2);
    let today_local = now.with_timezone(&tz).date_naive();
    assert_eq!(
        find(&school_of(other_calendar)).day,
        today_local - Duration::days(1)
    );
    let t = utilization::totals(&rows);
    assert_eq!(t.all.delivered, 10);
    assert_eq!(t.by_day.len(), 2);
    // A test send is not counted (the first message, marked as one); nothing is on the phone.
    sqlx::query!(
        "update message set is_test = true where id = $1",
        today as MessageId
    )
    .execute(&pool)
    .await
    .unwrap();
    let without = last_days(Device::Email).await;
    assert_eq!(utilization::totals(&without).all.delivered, 5);
    assert!(last_days(Device::Phone).await.is_empty());
}
