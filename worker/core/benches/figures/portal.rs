//! Portal benchmark: how fast a parent's notices page stays when they have 1,000 notices, in a
//! district whose portal holds a million more. Prints p50 / p95 / max over repeated calls of:
//! the newest page, the page at the 980th notice (keyset, no offset), the 15-second poll for
//! newer notices, the unread count, and "Mark all read" over 1,000 unread notices. Also times
//! My contact preferences for a guardian of the demo district, and, for a message with a 200 KB
//! body sent to the demo district's portal, the bytes each notice adds to PostgreSQL (the body is
//! stored once, in the message) and the newest page rendered from it.
//!
//! Uses the database `herald_bench_portal` on `DATABASE_URL`'s server, recreated on each run.
//! Run: `cargo bench -p herald-core --bench figures -- portal` (`HERALD_BENCH_OTHERS=1000000`
//! sets how many other notices the table holds; small: 1,000, and a few rounds).

use std::time::Instant;

use anyhow::Context;
use herald_core::accounts::{self, Role};
use herald_core::contact_preferences;
use herald_core::dev::district::{self, DemoOptions};
use herald_core::domain::{CalendarId, ContactReason, Device, EmailAddress, PersonId};
use herald_core::messaging::notices::{self, Cursor};
use herald_core::messaging::{compose, fanout};
use secrecy::SecretString;

use crate::support::{self, Scale};

/// The parent's notices.
const MINE: i64 = 1_000;
/// The portal's page size.
const PAGE: i64 = 20;
/// What `{{portal_url}}` merges as.
const PORTAL: &str = "https://portal.district.example/portal";

pub async fn bench(scale: Scale) -> anyhow::Result<()> {
    let others: i64 = scale.number("HERALD_BENCH_OTHERS", 1_000_000, 1_000)?;
    let rounds = scale.pick(200, 3);
    let pool = support::fresh_database(&scale.database("portal")).await?;

    let started = Instant::now();
    let parent: PersonId = sqlx::query_scalar("select gen_random_uuid()")
        .fetch_one(&pool)
        .await?;
    // One notice a day-ish for the parent, and `others` notices spread over 10,000 others, on
    // job ids far above those of the real send below (`portal_notice.job_id` is unique).
    sqlx::query(
        "insert into portal_notice (person_id, message_id, job_id, reason, subject, body, body_html, created_at)
         select $1, gen_random_uuid(), 1000000000000 + i, 'general', 'Notice ' || i, 'Body of notice ' || i,
                '<p>Body of notice ' || i || '</p>', now() - make_interval(hours => i::int)
         from generate_series(1, $2::bigint) i",
    )
    .bind(parent)
    .bind(MINE)
    .execute(&pool)
    .await?;
    sqlx::query(
        "insert into portal_notice (person_id, message_id, job_id, reason, subject, body, created_at, read_at)
         select p.id, gen_random_uuid(), 1000000000000 + $1 + i, 'general', 'Notice', 'Body',
                now() - make_interval(mins => i::int), case when i % 3 = 0 then null else now() end
         from generate_series(1, $2::bigint) i
         join (select row_number() over () - 1 as n, gen_random_uuid() as id
               from generate_series(1, 10000)) p on p.n = i % 10000",
    )
    .bind(MINE)
    .bind(others)
    .execute(&pool)
    .await?;
    sqlx::query("analyze portal_notice").execute(&pool).await?;
    println!(
        "portal_notice: {MINE} notices for the parent, {others} for 10,000 others (set up in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let first = notices::page(&pool, parent, None, PAGE, PORTAL).await?;
    let newest = first.newest.context("the parent has notices")?;
    let deep = sqlx::query_as::<_, (chrono::DateTime<chrono::Utc>, uuid::Uuid)>(
        "select created_at, id from portal_notice where person_id = $1
         order by created_at desc, id desc offset 979 limit 1",
    )
    .bind(parent)
    .fetch_one(&pool)
    .await?;
    let deep = Cursor {
        created_at: deep.0,
        id: deep.1,
    };

    support::report(
        "newest page (20 of 1,000)",
        support::time(rounds, || notices::page(&pool, parent, None, PAGE, PORTAL)).await?,
    );
    support::report(
        "page after the 980th notice",
        support::time(rounds, || {
            notices::page(&pool, parent, Some(deep), PAGE, PORTAL)
        })
        .await?,
    );
    support::report(
        "poll: notices newer than the page",
        support::time(rounds, || notices::count_newer(&pool, parent, newest)).await?,
    );
    support::report(
        "unread count",
        support::time(rounds, || notices::unread(&pool, parent)).await?,
    );
    let mut marks = Vec::new();
    for _ in 0..scale.pick(20, 2) {
        sqlx::query("update portal_notice set read_at = null where person_id = $1")
            .bind(parent)
            .execute(&pool)
            .await?;
        let t = Instant::now();
        let n = notices::mark_all_read(&pool, parent).await?;
        marks.push(t.elapsed());
        anyhow::ensure!(n == MINE as u64, "marked {n} of {MINE}");
    }
    support::report("mark all read (1,000 unread)", marks);

    // My contact preferences for a guardian of a generated district.
    let dir = tempfile::tempdir()?;
    district::generate(
        &DemoOptions {
            seed: 11,
            schools: 2,
            students: scale.pick(2_000, 200),
        },
        dir.path(),
    )?;
    herald_core::oneroster::import_path(&pool, dir.path(), &|_| {}).await?;
    let (guardian, _, _) =
        herald_core::directory::person_by_email(&pool, "parent@demo.herald.test")
            .await?
            .context("the demo parent")?;
    support::report(
        "My contact preferences (one guardian)",
        support::time(rounds, || contact_preferences::of_person(&pool, guardian)).await?,
    );

    // A 200 KB message to the guardians of the demo parent's calendar, delivered by the inbox
    // lane: what each notice adds to the database, and the page that renders it.
    let calendar: CalendarId = sqlx::query_scalar(
        "select e.calendar_id from enrollment e
         join guardian_student gs on gs.student_id = e.student_id
         where gs.guardian_id = $1 limit 1",
    )
    .bind(guardian)
    .fetch_one(&pool)
    .await?;
    let email = EmailAddress::parse("bench@district.example")?;
    let account = accounts::create(
        &pool,
        &email,
        "Bench Sender",
        &SecretString::from("bench-password".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await?;
    let mut draft =
        herald_testing::district::draft(calendar, ContactReason::General, &[Device::Inbox]);
    let filler = "<p>Bus routes, lunch menus and the calendar for the year.</p>".repeat(3_400);
    draft.body_html = format!("<p>Dear {{{{guardian}}}},</p>{filler}");
    let body_kb = draft.body_html.len() / 1024;
    let sender = compose::Sender {
        account_id: account,
        name: "Bench Sender".into(),
        email,
    };
    let message = compose::create(&pool, &draft.compose()?, &sender).await?;
    let f = fanout::fan_out_next(&pool)
        .await?
        .context("the message fans out")?;
    let worker =
        herald_core::worker::Worker::new(pool.clone(), herald_testing::district::settings(60))
            .await?;
    let mut delivered = 0;
    while delivered < f.inbox_jobs {
        delivered += worker.inbox_pass().await?;
    }
    // The rows' own bytes (the table's free space would hide them from its size on disk).
    let row_bytes: f64 = sqlx::query_scalar(
        "select avg(pg_column_size(n.*))::float8 from portal_notice n where message_id = $1",
    )
    .bind(message)
    .fetch_one(&pool)
    .await?;
    println!(
        "a {body_kb} KB message to {delivered} portals: {row_bytes:.0} bytes per notice row \
         (plus its 4 index entries); 100,000 recipients: {:.0} MB of rows",
        row_bytes * 100_000.0 / 1e6
    );
    let shown = notices::page(&pool, guardian, None, PAGE, PORTAL).await?;
    let html = shown
        .notices
        .first()
        .and_then(|n| n.body_html.as_deref())
        .unwrap_or_default();
    anyhow::ensure!(
        html.len() > 200_000,
        "the demo parent's newest notice is the 200 KB one"
    );
    support::report(
        "newest page, rendering the 200 KB notice",
        support::time(rounds, || {
            notices::page(&pool, guardian, None, PAGE, PORTAL)
        })
        .await?,
    );
    println!(
        "targets: p95 <= 50 ms for every line; 100,000 recipients of a 200 KB body well under 1 GB"
    );
    Ok(())
}
