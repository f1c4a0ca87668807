//! Dialer benchmark: calls placed per second against the local voice provider, at several
//! calls-per-second caps, by two workers sharing the cap. Prints, per cap: the calls placed, the
//! rate measured at the provider (first to last call), the busiest second, and how long until
//! every job had its final status from the signed callbacks.
//!
//! Uses the database `herald_bench_dialer` on `DATABASE_URL`'s server, recreated on each run,
//! with a generated 2,000-student district. Run: `cargo bench -p herald-core --bench figures --
//! dialer` (`HERALD_BENCH_CAPS=10,50,100` and `HERALD_BENCH_CALLS=300` to change it; small: 20
//! calls at 50/s in a 300-student district).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveTime, Utc};
use herald_core::config::Config;
use herald_core::dev::district::{self, DemoOptions};
use herald_core::domain::{AudienceKind, CalendarId, ContactReason, Device, DialWindow, MessageId};
use herald_core::messaging::compose::{self, Draft, Sender};
use herald_core::messaging::fanout;
use sqlx::PgPool;

use crate::support::{self, Scale};

pub async fn bench(scale: Scale) -> anyhow::Result<()> {
    let caps: Vec<f64> = std::env::var("HERALD_BENCH_CAPS")
        .ok()
        .filter(|_| !scale.is_small())
        .unwrap_or_else(|| scale.pick("10,50,100", "50").into())
        .split(',')
        .map(|c| c.trim().parse().context("HERALD_BENCH_CAPS: numbers"))
        .collect::<anyhow::Result<_>>()?;
    let calls: i64 = scale.number("HERALD_BENCH_CALLS", 300, 20)?;

    let pool = support::fresh_database(&scale.database("dialer")).await?;
    let dir = tempfile::tempdir()?;
    district::generate(
        &DemoOptions {
            seed: 9,
            schools: 1,
            students: scale.pick(2_000, 300),
        },
        dir.path(),
    )?;
    herald_core::oneroster::import_path(&pool, dir.path(), &|_| {}).await?;
    let sender = support::sender(&pool).await?;
    let calendar = support::busiest_calendar(&pool).await?;

    let mut settings = Config::load_from(|_| None)?;
    settings.worker.poll_ms = 50;
    settings.worker.call_concurrency = 16;
    // The local provider (20 ms a step) and Herald's callback endpoint, as the dialer tests use.
    let first_cap = *caps
        .first()
        .context("HERALD_BENCH_CAPS: at least one cap")?;
    let voice = herald_testing::voice::start(&pool, &settings, 20, first_cap).await;

    println!("dialer: {calls} calls per cap, two workers, local provider on loopback");
    let mut seen = 0;
    for cap in caps {
        sqlx::query("update dialer_settings set calls_per_second = $1, updated_at = now()")
            .bind(cap)
            .execute(&pool)
            .await?;
        let message = phone_message(&pool, calendar, &sender, calls).await?;
        let started = Instant::now();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, settings, mut rx) = (pool.clone(), settings.clone(), rx.clone());
                tokio::spawn(async move {
                    herald_core::worker::run(pool, settings, async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await
                })
            })
            .collect();
        let deadline = Duration::from_secs_f64(calls as f64 / cap * 3.0 + 60.0);
        loop {
            let open: i64 = sqlx::query_scalar(
                "select count(*) from delivery_job where message_id = $1
                 and status not in ('sent', 'failed', 'canceled')",
            )
            .bind(message.0)
            .fetch_one(&pool)
            .await?;
            if open == 0 {
                break;
            }
            if started.elapsed() > deadline {
                bail!("{open} calls still open after {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all_done = started.elapsed();
        stop.send(true)?;
        for w in workers {
            w.await??;
        }
        let received = voice.calls().await;
        let mut at: Vec<DateTime<Utc>> = received[seen..]
            .iter()
            .filter_map(|c| c["received_at"].as_str()?.parse().ok())
            .collect();
        seen = received.len();
        at.sort();
        if at.len() < 2 {
            bail!("only {} calls reached the provider", at.len());
        }
        let span = (at[at.len() - 1] - at[0]).num_milliseconds() as f64 / 1000.0;
        let rate = (at.len() - 1) as f64 / span;
        let busiest = at
            .iter()
            .enumerate()
            .map(|(i, t)| {
                at[i..]
                    .iter()
                    .take_while(|u| **u - *t < chrono::TimeDelta::seconds(1))
                    .count()
            })
            .max()
            .unwrap_or(0);
        println!(
            "  cap {cap:>6.1}/s: {} calls placed at {rate:.1} calls/s (busiest second: {busiest}); all ended after {:.1} s",
            at.len(),
            all_done.as_secs_f64()
        );
    }
    Ok(())
}

/// A phone message fanned out and cut to its first `calls` phone jobs.
async fn phone_message(
    pool: &PgPool,
    calendar: CalendarId,
    sender: &Sender,
    calls: i64,
) -> anyhow::Result<MessageId> {
    let all_day = DialWindow::new(
        NaiveTime::from_hms_opt(0, 0, 0).context("time")?,
        NaiveTime::from_hms_opt(23, 59, 59).context("time")?,
    )?;
    let draft = Draft {
        reason: ContactReason::General,
        subject: "Bench call".into(),
        body_html: "<p>Bench</p>".into(),
        body_text: String::new(),
        inbox_text: String::new(),
        voice_script: "This is {{school}} with a message about {{student}}.".into(),
        audience: AudienceKind::Guardians,
        calendar_id: calendar,
        all_schools: false,
        grade_levels: vec![],
        devices: vec![Device::Phone],
        start_at: None,
        email_at: None,
        dial_window: Some(all_day),
        confirm_to_sender: false,
    };
    let id = compose::create(pool, &draft.compose()?, sender).await?;
    while fanout::fan_out_next(pool).await?.is_some() {}
    let kept: i64 = sqlx::query_scalar(
        "with extra as (
             delete from delivery_job where message_id = $1 and device = 'phone'
               and id > (select id from delivery_job where message_id = $1 and device = 'phone'
                         order by id offset $2 - 1 limit 1)
             returning 1
         )
         update message_tally set total = total - (select count(*) from extra)
         where message_id = $1 and device = 'phone'
         returning total",
    )
    .bind(id.0)
    .bind(calls)
    .fetch_one(pool)
    .await?;
    if kept < calls {
        bail!("the district gives only {kept} phone jobs, fewer than {calls}");
    }
    Ok(id)
}
