//! The Sent Messages list against a real PostgreSQL: a calendar's messages within a date range,
//! by sender and by type, newest delivery first; test sends are never listed.

use herald_testing::district;

use chrono::{Duration, Utc};
use herald_core::domain::{ContactReason, Device, MessageId};
use herald_core::messaging::sent_messages::{self, ListFilter};
use sqlx::PgPool;

use district::{district, send};

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_list_filters_by_date_range_sender_and_type(pool: PgPool) {
    let d = district(&pool, 10).await;
    let now = Utc::now();
    // Three messages: general 10 days ago by the principal, attendance 3 days ago by the
    // principal, general yesterday by the nurse.
    let mut ids = Vec::new();
    for (days, reason, sender) in [
        (10, ContactReason::General, "principal@district.example"),
        (3, ContactReason::Attendance, "principal@district.example"),
        (1, ContactReason::General, "nurse@district.example"),
    ] {
        let id = send(&pool, &d, reason, &[Device::Inbox]).await;
        sqlx::query!(
            "update message set start_at = $2, sender_email = $3, sender_name = $3 where id = $1",
            id as MessageId,
            now - Duration::days(days),
            sender
        )
        .execute(&pool)
        .await
        .unwrap();
        ids.push(id);
    }
    // A test send (to the sender only) is made, and never listed.
    let (test_send, _) = district::test_send(&pool, &d, &[Device::Email]).await;
    let listed = |filter: ListFilter| {
        let pool = pool.clone();
        async move {
            sent_messages::list(&pool, d.calendar, &filter, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    let all = listed(ListFilter::default()).await;
    assert_eq!(all, [ids[2], ids[1], ids[0]]);
    assert!(!all.contains(&test_send));
    let last_week = ListFilter {
        from: Some(now - Duration::days(7)),
        until: Some(now - Duration::hours(36)),
        ..ListFilter::default()
    };
    assert_eq!(listed(last_week).await, [ids[1]]);
    let principal = ListFilter {
        sender: Some("principal@district.example".into()),
        ..ListFilter::default()
    };
    assert_eq!(listed(principal).await, [ids[1], ids[0]]);
    let general = ListFilter {
        reason: Some(ContactReason::General),
        ..ListFilter::default()
    };
    assert_eq!(listed(general).await, [ids[2], ids[0]]);
    let senders = sent_messages::senders(&pool, d.calendar).await.unwrap();
    assert_eq!(
        senders.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
        ["nurse@district.example", "principal@district.example"]
    );
}
