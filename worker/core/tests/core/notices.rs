//! The parent portal's notices against a real PostgreSQL: keyset pages over 1,000 notices, the
//! unread count, no way to read or mark another person's notice, and notices delivered by the
//! inbox lane that store no copy of their message yet read as rendered for their recipient.

use std::collections::HashSet;

use herald_core::domain::{ContactReason, Device, PersonId};
use herald_core::messaging::{compose, fanout, notices};
use herald_testing::district;
use sqlx::PgPool;
use uuid::Uuid;

/// `n` notices for `person`, one a minute apart (several share a timestamp, to test the tie
/// break), the newest now.
async fn notices_for(pool: &PgPool, person: PersonId, n: i32, first_job: i64) {
    sqlx::query!(
        "insert into portal_notice (person_id, message_id, job_id, reason, subject, body, created_at)
         select $1, gen_random_uuid(), $3::bigint + i, 'general', 'Notice ' || i, 'Body ' || i,
                date_trunc('minute', now()) - make_interval(mins => i / 3)
         from generate_series(1, $2) as i",
        person as PersonId,
        n,
        first_job
    )
    .execute(pool)
    .await
    .unwrap();
}

const PORTAL: &str = "https://portal.district.example/portal";

async fn setup(pool: &PgPool) -> (PersonId, PersonId) {
    let (a, b) = (PersonId(Uuid::new_v4()), PersonId(Uuid::new_v4()));
    notices_for(pool, a, 1000, 0).await;
    notices_for(pool, b, 10, 1_000_000).await;
    (a, b)
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_thousand_notices_page_newest_first_with_none_repeated_or_missed(pool: PgPool) {
    let (a, _) = setup(&pool).await;
    let mut seen = HashSet::new();
    let mut last = None;
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = notices::page(&pool, a, after, 20, PORTAL).await.unwrap();
        assert_eq!(page.unread, 1000);
        pages += 1;
        for n in &page.notices {
            assert!(seen.insert(n.id), "no notice twice");
            if let Some((at, id)) = last {
                assert!((n.created_at, n.id) < (at, id), "newest first");
            }
            last = Some((n.created_at, n.id));
        }
        match page.next {
            Some(c) => {
                assert_eq!(page.notices.len(), 20);
                after = Some(c);
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000, "every notice, in {pages} pages");
    assert_eq!(pages, 50);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_parent_cannot_read_or_mark_another_persons_notice(pool: PgPool) {
    let (a, b) = setup(&pool).await;
    let theirs = notices::page(&pool, b, None, 1, PORTAL)
        .await
        .unwrap()
        .notices[0]
        .id;
    assert!(!notices::mark_read(&pool, a, theirs).await.unwrap());
    assert_eq!(
        notices::unread(&pool, b).await.unwrap(),
        10,
        "nothing of theirs changed"
    );
    let page = notices::page(&pool, a, None, 2000, PORTAL).await.unwrap();
    assert!(page.notices.iter().all(|n| n.id != theirs), "never listed");
    let mine = page.notices[0].id;
    assert!(notices::mark_read(&pool, a, mine).await.unwrap());
    assert_eq!(notices::unread(&pool, a).await.unwrap(), 999);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn mark_all_read_marks_only_the_parents_own_notices(pool: PgPool) {
    let (a, b) = setup(&pool).await;
    assert_eq!(notices::mark_all_read(&pool, a).await.unwrap(), 1000);
    assert_eq!(notices::unread(&pool, a).await.unwrap(), 0);
    assert_eq!(notices::unread(&pool, b).await.unwrap(), 10);
    assert_eq!(
        notices::mark_all_read(&pool, a).await.unwrap(),
        0,
        "nothing left to mark"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_open_page_counts_only_the_notices_newer_than_its_newest(pool: PgPool) {
    let (a, _) = setup(&pool).await;
    let page = notices::page(&pool, a, None, 20, PORTAL).await.unwrap();
    let newest = page.newest.unwrap();
    assert_eq!(notices::count_newer(&pool, a, newest).await.unwrap(), 0);
    sqlx::query!(
        "insert into portal_notice (person_id, message_id, job_id, reason, subject, body, created_at)
         values ($1, gen_random_uuid(), 3000000, 'general', 'Fresh', 'New', now() + interval '1 minute')",
        a as PersonId
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(notices::count_newer(&pool, a, newest).await.unwrap(), 1);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_notice_stores_no_copy_of_a_200_kb_body_yet_reads_as_rendered_for_its_recipient(
    pool: PgPool,
) {
    let d = district::district(&pool, 60).await;
    let mut draft = district::draft(d.calendar, ContactReason::General, &[Device::Inbox]);
    let filler = "<p>Bus routes, lunch menus and the calendar for the year.</p>".repeat(3_400);
    draft.body_html = format!("<p>Dear {{{{guardian}}}},</p>{filler}");
    assert!(draft.body_html.len() > 200_000 && draft.body_html.len() <= compose::MAX_BODY_BYTES);
    let composed = draft.compose().unwrap();
    compose::create(&pool, &composed, &d.sender).await.unwrap();
    let f = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    let worker = herald_core::worker::Worker::new(pool.clone(), district::settings(60))
        .await
        .unwrap();
    let mut delivered = 0;
    while delivered < f.inbox_jobs {
        delivered += worker.inbox_pass().await.unwrap();
    }

    // Each notice row holds ids and times, not the 200 KB body.
    let bytes = sqlx::query_scalar!(
        r#"select (sum(pg_column_size(n.*)) / count(*))::int8 as "per_notice!" from portal_notice n"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(bytes < 200, "{bytes} bytes per notice");
    // Ops see them among the jobs ended.
    let metrics = herald_core::metrics::render(&pool).await.unwrap();
    let line = format!("herald_jobs_ended{{device=\"inbox\",outcome=\"sent\"}} {delivered}");
    assert!(metrics.contains(&line), "{line} in {metrics}");

    // A guardian's portal shows the whole body, merged for them.
    let (guardian, name) = sqlx::query!(
        r#"select p.id as "id: PersonId", p.given_name || ' ' || p.family_name as "name!"
           from portal_notice n join person p on p.id = n.person_id
           order by p.sourced_id limit 1"#
    )
    .fetch_one(&pool)
    .await
    .map(|r| (r.id, r.name))
    .unwrap();
    let page = notices::page(&pool, guardian, None, 20, PORTAL)
        .await
        .unwrap();
    let notice = &page.notices[0];
    assert_eq!(notice.subject, format!("Note for {name}"));
    assert!(notice.body.starts_with("About "), "{}", notice.body);
    let html = notice.body_html.as_deref().unwrap();
    let given = name.split(' ').next().unwrap();
    assert!(
        html.starts_with("<p>Dear ") && html[..80].contains(given),
        "{}",
        &html[..80]
    );
    assert!(html.ends_with(&filler), "the whole body is shown");
    assert!(!notice.read);
}
