//! Reports benchmark: the Delivery Report of a 250,000-job message, in a queue that holds a
//! million jobs of other messages. Prints p50 / p95 / max of the counts (a finished message, and
//! one mid-send), the first and a deep recipient page, a status filter and a search, and the CSV
//! export's rate.
//!
//! Uses the database `herald_bench_reports` on `DATABASE_URL`'s server, recreated on each run.
//! Run: `cargo bench -p herald-core --bench figures -- reports` (`HERALD_BENCH_JOBS=250000` sets
//! the message's size; small: 2,000 jobs among 4,000 others, a month of sends, a few rounds).

use std::time::Instant;

use herald_core::domain::{Device, JobId, MessageId};
use herald_core::messaging::delivery_report::{self, RecipientQuery, StatusFilter};
use sqlx::PgPool;

use crate::support::{self, Scale};

pub async fn bench(scale: Scale) -> anyhow::Result<()> {
    let jobs: i64 = scale.number("HERALD_BENCH_JOBS", 250_000, 2_000)?;
    let others = scale.pick(500_000, 2_000);
    let rounds = scale.pick(200, 3);
    let pool = support::fresh_database(&scale.database("reports")).await?;

    let started = Instant::now();
    let (finished, sending) = setup(&pool, jobs, others).await?;
    println!(
        "delivery_job: two messages of {jobs} email jobs each among {} others (set up in {:.1} s)",
        others * 2,
        started.elapsed().as_secs_f64()
    );

    support::report(
        "counts, finished message",
        support::time(rounds, || delivery_report::counts(&pool, finished)).await?,
    );
    support::report(
        "counts, message mid-send",
        support::time(rounds, || delivery_report::counts(&pool, sending)).await?,
    );
    let all = RecipientQuery {
        device: Device::Email,
        status: None,
        search: None,
    };
    support::report(
        "first recipient page (50)",
        support::time(rounds, || {
            delivery_report::recipients(&pool, finished, &all, None, 50)
        })
        .await?,
    );
    let deep: i64 =
        sqlx::query_scalar("select first_job + $2 from message_tally where message_id = $1")
            .bind(finished)
            .bind(jobs * 4 / 5)
            .fetch_one(&pool)
            .await?;
    support::report(
        "recipient page at 80%",
        support::time(rounds, || {
            delivery_report::recipients(&pool, finished, &all, Some(JobId(deep)), 50)
        })
        .await?,
    );
    let failed = RecipientQuery {
        status: Some(StatusFilter::Failed),
        ..all.clone()
    };
    support::report(
        "failed only, first page",
        support::time(rounds, || {
            delivery_report::recipients(&pool, finished, &failed, None, 50)
        })
        .await?,
    );
    // A family name shared by 550 of 250,000 recipients, then one parent by full name and by
    // email: the last two read the whole job range for their one row.
    let one = 4242.min(jobs / 2);
    for (what, query) in [
        (
            "search, a family name (Family123…)",
            "Family123 ".to_string(),
        ),
        (
            "search, one parent by name",
            format!("Given{one} Family{}", one % 5000),
        ),
        (
            "search, one parent by email",
            format!("given{one}@example.org"),
        ),
    ] {
        let search = RecipientQuery {
            search: Some(query),
            ..all.clone()
        };
        let hits = delivery_report::recipients(&pool, finished, &search, None, 50).await?;
        anyhow::ensure!(!hits.is_empty(), "{what}: nothing found");
        support::report(
            what,
            support::time(rounds, || {
                delivery_report::recipients(&pool, finished, &search, None, 50)
            })
            .await?,
        );
    }

    // The CSV export as the server streams it: pages of 2,000, encoded.
    let tz = herald_core::directory::time_zone(&pool).await?;
    let t = Instant::now();
    let (mut after, mut lines, mut bytes) = (None, 0usize, 0usize);
    loop {
        let rows = delivery_report::recipients(&pool, finished, &all, after, 2_000).await?;
        if rows.is_empty() {
            break;
        }
        after = rows.last().map(|r| r.job);
        lines += rows.len();
        bytes += delivery_report::csv_lines(Device::Email, &rows, tz).len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "CSV export: {lines} lines, {:.1} MB in {secs:.2} s = {:.0} lines/s",
        bytes as f64 / 1e6,
        lines as f64 / secs
    );
    println!("targets: counts and the first page p95 <= 50 ms on a {jobs}-job message");

    utilization(&pool, scale, tz).await
}

/// The Utilization Report over a year: 40 messages a day at 30 schools, email and phone.
async fn utilization(pool: &PgPool, scale: Scale, tz: chrono_tz::Tz) -> anyhow::Result<()> {
    let t = Instant::now();
    let messages = year_of_messages(pool, scale.pick(365, 30)).await?;
    println!(
        "a year of sends: {messages} messages at 30 schools (set up in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let until = chrono::Utc::now() + chrono::Duration::days(1);
    let from = until - chrono::Duration::days(366);
    let zone = tz.name();
    let rows =
        herald_core::messaging::utilization::rows(pool, Device::Email, from, until, zone).await?;
    support::report(
        &format!("utilization, a year of email ({} lines)", rows.len()),
        support::time(scale.pick(50, 3), || {
            herald_core::messaging::utilization::rows(pool, Device::Email, from, until, zone)
        })
        .await?,
    );
    println!("target: a year's utilization p95 <= 1 s");
    Ok(())
}

/// 40 messages a day for `days` days, each on email and phone with a tally, spread over 30
/// schools' calendars. Returns how many messages.
async fn year_of_messages(pool: &PgPool, days: i64) -> anyhow::Result<i64> {
    sqlx::query(
        "with d as (select id from district limit 1),
              s as (insert into school (sourced_id, district_id, name)
                    select 'y-' || i, d.id, 'School ' || i from d, generate_series(1, 30) i
                    returning id, sourced_id)
         insert into calendar (school_id, school_year, name, start_date, end_date)
         select id, 2027, '2026-27', '2026-08-20', '2027-06-01' from s",
    )
    .execute(pool)
    .await?;
    let n: i64 = sqlx::query_scalar(
        "with cal as (select id, row_number() over (order by id) - 1 as n from calendar),
              m as (
                  insert into message (sender_name, sender_email, reason, subject, body_html, body_text,
                                       inbox_text, voice_script, audience, calendar_id, devices, start_at,
                                       fanned_out_at, finished_at)
                  select 'Bench', 'bench@district.example', 'general', 'Year ' || i, '<p>x</p>', 'x', 'x', 'x',
                         'guardians', cal.id, '{email,phone}',
                         now() - make_interval(mins => (i * 13)::int), now(), now()
                  from generate_series(1, $1::bigint * 40) i
                  join cal on cal.n = i % (select count(*) from cal)
                  returning id),
              t as (
                  insert into message_tally (message_id, device, total, sent, failed, canceled)
                  select m.id, d.device::delivery_device, 500, 480, 15, 5
                  from m cross join (values ('email'), ('phone')) d(device)
                  returning 1)
         select count(*) from m",
    )
    .bind(days)
    .fetch_one(pool)
    .await?;
    sqlx::query("analyze").execute(pool).await?;
    Ok(n)
}

/// Guardians with an email each, one finished and one sending message of `jobs` email jobs each,
/// with `others` jobs of other messages before each. Returns (finished, sending).
async fn setup(pool: &PgPool, jobs: i64, others: i64) -> anyhow::Result<(MessageId, MessageId)> {
    sqlx::query(
        "with p as (insert into person (sourced_id, kind, given_name, family_name)
                    select 'g-' || i, 'guardian', 'Given' || i, 'Family' || (i % 5000)
                    from generate_series(1, $1::bigint) i
                    returning id, given_name)
         insert into contact_method (person_id, email)
         select id, lower(given_name) || '@example.org' from p",
    )
    .bind(jobs)
    .execute(pool)
    .await?;
    let calendar: uuid::Uuid = sqlx::query_scalar(
        "with d as (insert into district (sourced_id, name) values ('d', 'Bench') returning id),
              s as (insert into school (sourced_id, district_id, name) select 's', id, 'Bench High' from d returning id)
         insert into calendar (school_id, school_year, name, start_date, end_date)
         select id, 2027, '2026-27', '2026-08-20', '2027-06-01' from s returning id",
    )
    .fetch_one(pool)
    .await?;
    let mut ids = Vec::new();
    for (n, sending) in [(0, false), (1, true)] {
        other_jobs(pool, others).await?;
        let id: MessageId = sqlx::query_scalar(
            "insert into message (sender_name, sender_email, reason, subject, body_html, body_text,
                                  inbox_text, voice_script, audience, calendar_id, devices, start_at,
                                  fanned_out_at, finished_at)
             values ('Bench', 'bench@district.example', 'general', $1, '<p>x</p>', 'x', 'x', '',
                     'guardians', $2, '{email}', now(), now(), case when $3 then null else now() end)
             returning id",
        )
        .bind(format!("Bench message {n}"))
        .bind(calendar)
        .bind(sending)
        .fetch_one(pool)
        .await?;
        // Finished: 97% sent, 2% failed, 1% canceled. Sending: 60% sent, 1% failed, 30% queued,
        // 5% in a worker's hands, 4% retrying.
        sqlx::query(
            "with j as (
                 insert into delivery_job (message_id, device, person_id, target, status, due_at,
                                           attempts, leased_at, sent_at, failed_at, canceled_at,
                                           last_error)
                 select $1, 'email', p.id, lower(p.given_name) || '@example.org', s.status::job_status,
                        now(), 1, now(), case when s.status = 'sent' then now() end,
                        case when s.status = 'failed' then now() end,
                        case when s.status = 'canceled' then now() end,
                        case when s.status in ('failed', 'retrying') then '550 no such user' end
                 from person p
                 cross join lateral (select case
                     when not $2 then case when p.sourced_id::text like '%00' then 'failed'
                                           when p.sourced_id::text like '%50' then 'canceled'
                                           else 'sent' end
                     else case (hashtext(p.sourced_id) & 255) % 100
                         when 0 then 'failed'
                         else case when (hashtext(p.sourced_id) & 255) % 100 < 61 then 'sent'
                                   when (hashtext(p.sourced_id) & 255) % 100 < 91 then 'queued'
                                   when (hashtext(p.sourced_id) & 255) % 100 < 96 then 'leased'
                                   else 'retrying' end end end as status) s
                 order by p.id
                 returning id, status)
             insert into message_tally (message_id, device, total, sent, failed, canceled, first_job, last_job)
             select $1, 'email', count(*), count(*) filter (where status = 'sent'),
                    count(*) filter (where status = 'failed'), count(*) filter (where status = 'canceled'),
                    min(id), max(id)
             from j",
        )
        .bind(id)
        .bind(sending)
        .execute(pool)
        .await?;
        sqlx::query(
            "insert into message_recipient (message_id, person_id) select $1, id from person",
        )
        .bind(id)
        .execute(pool)
        .await?;
        ids.push(id);
    }
    other_jobs(pool, 0).await?;
    sqlx::query("analyze").execute(pool).await?;
    Ok((ids[0], ids[1]))
}

/// `n` sent jobs of some other message.
async fn other_jobs(pool: &PgPool, n: i64) -> anyhow::Result<()> {
    sqlx::query(
        "insert into delivery_job (message_id, device, target, status, due_at, sent_at)
         select gen_random_uuid(), 'email', 'x@example.org', 'sent', now(), now()
         from generate_series(1, $1::bigint)",
    )
    .bind(n)
    .execute(pool)
    .await?;
    Ok(())
}
