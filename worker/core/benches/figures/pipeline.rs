//! Message pipeline benchmark on the generated 100,000-student district (`HERALD_BENCH_STUDENTS`
//! to change it; small: 300 students). Prints:
//! - fan-out time for one district-wide message to every guardian on email, inbox and phone;
//! - inbox jobs/s for one worker;
//! - emails/s into a local SMTP server (maildev, started here, or `HERALD_BENCH_SMTP=host:port`);
//! - with `memory` as argument: the peak RSS of the release `herald-worker` and `herald-server`
//!   binaries (from `/usr/bin/time -v`) while they deliver a send of more than 300,000 jobs and an
//!   admin watches its status page. The small run (always with `memory`) uses the debug binaries
//!   that `./herald.sh test`'s end-to-end step has built.
//!
//! The district is imported once into the database `herald_bench_pipeline` on `DATABASE_URL`'s
//! server and reused by later runs (messages are cleared at the start of each run).
//! Run: `cargo bench -p herald-core --bench figures -- pipeline [memory]`, or `./herald.sh bench`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_core::config::Config;
use herald_core::dev::district::{self, DemoOptions};
use herald_core::domain::{AudienceKind, CalendarId, ContactReason, Device, DialWindow, MessageId};
use herald_core::messaging::compose::{self, Draft, Sender};
use herald_core::messaging::{email, email_preferences, fanout, sent_messages};
use herald_core::worker::Worker;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use crate::support::{self, Proc, Scale};

pub async fn bench(scale: Scale, memory: bool) -> anyhow::Result<()> {
    // HERALD_BENCH_PARTS=fanout,inbox,email runs only those parts.
    let parts = std::env::var("HERALD_BENCH_PARTS")
        .ok()
        .filter(|_| !scale.is_small())
        .unwrap_or_else(|| "fanout,inbox,email".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);
    let students: usize = scale.number("HERALD_BENCH_STUDENTS", 100_000, 300)?;
    let base = support::server_base()?;
    let db = scale.database("pipeline");
    let url = format!("{base}/{db}");
    let pool = district(&base, &db, &url, scale, students).await?;
    let sender = support::sender(&pool).await?;
    let calendar = support::busiest_calendar(&pool).await?;

    let mut settings = Config::load_from(|_| None)?;
    settings.worker.lease_seconds = 120;
    let worker = Worker::new(pool.clone(), settings.clone()).await?;
    if part("fanout") {
        fan_out_bench(&pool, calendar, &sender).await?;
    }
    if part("inbox") {
        inbox_bench(&pool, calendar, &sender, &worker, &settings).await?;
    }
    let (host, port, _sink) = smtp_sink().await?;
    if part("email") {
        email_bench(&pool, calendar, &sender, &worker, &settings, &host, port).await?;
    }
    if memory {
        clear(&pool).await?;
        memory_run(&pool, &url, scale, calendar, &sender, &host, port).await?;
    }
    clear(&pool).await?;
    pool.close().await;
    Ok(())
}

async fn fan_out_bench(pool: &PgPool, calendar: CalendarId, sender: &Sender) -> anyhow::Result<()> {
    // Fan-out: one district-wide message, three devices; three runs.
    let mut runs = Vec::new();
    for _ in 0..3 {
        clear(pool).await?;
        let d = draft(
            calendar,
            &[Device::Email, Device::Inbox, Device::Phone],
            vec![],
        );
        compose::create(pool, &d.compose()?, sender).await?;
        let t = Instant::now();
        let f = fanout::fan_out_next(pool)
            .await?
            .context("a message to fan out")?;
        runs.push((t.elapsed(), f));
    }
    runs.sort_by_key(|(t, _)| *t);
    let (_, f) = &runs[1];
    println!(
        "fan-out, one message to every guardian on 3 devices: {} recipients -> {} jobs ({} email, {} inbox, {} phone), {} unreached rows",
        f.recipients,
        f.email_jobs + f.inbox_jobs + f.phone_jobs,
        f.email_jobs,
        f.inbox_jobs,
        f.phone_jobs,
        f.unreached
    );
    println!(
        "  time: median {:.2} s (runs: {})   target: <= 2 s",
        runs[1].0.as_secs_f64(),
        runs.iter()
            .map(|(t, _)| format!("{:.2}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );

    Ok(())
}

async fn inbox_bench(
    pool: &PgPool,
    calendar: CalendarId,
    sender: &Sender,
    worker: &Worker,
    settings: &Config,
) -> anyhow::Result<()> {
    // Inbox: one worker, inbox-only district-wide message.
    clear(pool).await?;
    let d = draft(calendar, &[Device::Inbox], vec![]);
    compose::create(pool, &d.compose()?, sender).await?;
    fanout::fan_out_next(pool).await?;
    let t = Instant::now();
    let mut delivered = 0;
    loop {
        let n = worker.inbox_pass().await?;
        if n == 0 {
            break;
        }
        delivered += n;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "inbox, one worker: {delivered} notices in {secs:.2} s = {:.0} jobs/s (batch {})   target: >= 10,000 jobs/s",
        delivered as f64 / secs,
        settings.worker.inbox_batch
    );

    Ok(())
}

async fn email_bench(
    pool: &PgPool,
    calendar: CalendarId,
    sender: &Sender,
    worker: &Worker,
    settings: &Config,
    host: &str,
    port: u16,
) -> anyhow::Result<()> {
    // Email: into a real SMTP server on loopback.
    sqlx::query("update email_settings set smtp_host = $1, smtp_port = $2, tls = 'none', updated_at = now()")
        .bind(host)
        .bind(i32::from(port))
        .execute(pool)
        .await?;
    clear(pool).await?;
    let grades: Vec<String> = ["KG", "01", "02"].map(String::from).to_vec();
    let d = draft(calendar, &[Device::Email], grades);
    compose::create(pool, &d.compose()?, sender).await?;
    fanout::fan_out_next(pool).await?;
    let config = email_preferences::smtp_config(pool, &settings.smtp, &settings.secrets).await?;
    let mailer = email::Mailer::new(
        config,
        settings.worker.smtp_connections,
        settings.worker.smtp_timeout(),
    );
    let (_stop_tx, stop) = watch::channel(false);
    let t = Instant::now();
    let mut sent = 0;
    loop {
        let n = worker.email_pass(&mailer, &stop).await?;
        if n == 0 {
            break;
        }
        sent += n;
    }
    let secs = t.elapsed().as_secs_f64();
    mailer.close().await;
    println!(
        "email, one worker, {} SMTP connections with TCP_NODELAY into {}: {sent} emails in {secs:.2} s = {:.0} emails/s   target: >= 1,000 emails/s",
        settings.worker.smtp_connections,
        if std::env::var("HERALD_BENCH_SMTP").is_ok() {
            "HERALD_BENCH_SMTP"
        } else {
            "maildev"
        },
        sent as f64 / secs
    );
    Ok(())
}

/// The bench database `db` with the generated district, imported on first use.
async fn district(
    base: &str,
    db: &str,
    url: &str,
    scale: Scale,
    students: usize,
) -> anyhow::Result<PgPool> {
    let mut admin = PgConnection::connect(&format!("{base}/postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(db)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        sqlx::query(&format!("create database {db}"))
            .execute(&mut admin)
            .await?;
    }
    let pool = PgPoolOptions::new().max_connections(8).connect(url).await?;
    herald_core::db::MIGRATOR.run(&pool).await?;
    let have: i64 = sqlx::query_scalar("select count(*) from person where kind = 'student'")
        .fetch_one(&pool)
        .await?;
    if have as usize != students {
        println!("importing a generated district of {students} students into {db} (once)…");
        let dir = tempfile::tempdir()?;
        district::generate(
            &DemoOptions {
                seed: 7,
                schools: scale.pick(30, 2),
                students,
            },
            dir.path(),
        )?;
        herald_core::oneroster::import_path(&pool, dir.path(), &|_| {}).await?;
    }
    Ok(pool)
}

/// Removes every message and what it made: recipients, unreached rows, jobs, notices and
/// cancellations. `cascade` also empties each table with a foreign key to these (attempts,
/// calls, tallies, and whatever a later migration adds), so a new table cannot break the
/// benchmark as `phone_call` once did.
async fn clear(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("truncate message, message_recipient, message_unreached, delivery_job, portal_notice, cancellation cascade")
        .execute(pool)
        .await?;
    Ok(())
}

fn draft(calendar: CalendarId, devices: &[Device], grades: Vec<String>) -> Draft {
    Draft {
        reason: ContactReason::General,
        subject: "Schools closed tomorrow, {{guardian}}".into(),
        body_html: "<p>Dear {{guardian}},</p><p>{{school}} is closed tomorrow; {{student}} should stay home.</p><p>{{portal_url}}</p>".into(),
        body_text: String::new(),
        inbox_text: String::new(),
        voice_script: "This is {{school}}. Schools are closed tomorrow.".into(),
        audience: AudienceKind::Guardians,
        calendar_id: calendar,
        all_schools: true,
        grade_levels: grades,
        devices: devices.to_vec(),
        start_at: None,
        email_at: None,
        dial_window: devices.contains(&Device::Phone).then(|| {
            DialWindow::new(
                chrono::NaiveTime::from_hms_opt(0, 0, 0).expect("midnight"),
                chrono::NaiveTime::from_hms_opt(23, 59, 0).expect("a minute to midnight"),
            )
            .expect("a valid window")
        }),
        confirm_to_sender: false,
    }
}

/// `HERALD_BENCH_SMTP=host:port`, or a maildev started here.
async fn smtp_sink() -> anyhow::Result<(String, u16, Option<Proc>)> {
    if let Ok(hp) = std::env::var("HERALD_BENCH_SMTP") {
        let (h, p) = hp
            .rsplit_once(':')
            .context("HERALD_BENCH_SMTP is host:port")?;
        return Ok((h.to_string(), p.parse()?, None));
    }
    let bin = support::root().join("end2end/node_modules/.bin/maildev");
    if !bin.exists() {
        bail!(
            "maildev is not installed at {} (run ./herald.sh test once)",
            bin.display()
        );
    }
    let (smtp, web) = (support::free_port()?, support::free_port()?);
    let child = Command::new(bin)
        .args([
            "--smtp",
            &smtp.to_string(),
            "--web",
            &web.to_string(),
            "--ip",
            "127.0.0.1",
            "--web-ip",
            "127.0.0.1",
            "--silent",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let proc = Proc(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", smtp))
            .await
            .is_ok()
        {
            return Ok(("127.0.0.1".into(), smtp, Some(proc)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("maildev did not start")
}

/// Peak RSS in kB from `/usr/bin/time -v` output.
fn peak_rss(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Maximum resident set size (kbytes): ")
            .and_then(|v| v.trim().parse().ok())
    })
}

async fn memory_run(
    pool: &PgPool,
    url: &str,
    scale: Scale,
    calendar: CalendarId,
    sender: &Sender,
    smtp_host: &str,
    smtp_port: u16,
) -> anyhow::Result<()> {
    let (bins, site) = support::built_site(scale)?;
    let (worker_bin, server_bin) = (bins.join("herald-worker"), bins.join("herald-server"));
    // Two district-wide messages on email and inbox: more than 300,000 jobs.
    let mut ids: Vec<MessageId> = Vec::new();
    for reason in [ContactReason::General, ContactReason::Priority] {
        let mut d = draft(calendar, &[Device::Email, Device::Inbox], vec![]);
        d.reason = reason;
        ids.push(compose::create(pool, &d.compose()?, sender).await?);
    }
    let out = support::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let port = support::free_port()?;
    let server = Proc(
        Command::new("/usr/bin/time")
            .arg("-v")
            .arg("-o")
            .arg(out.join("server-time.txt"))
            .arg(&server_bin)
            .env("DATABASE_URL", url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", &site)
            .env("HERALD__SECRETS__KEY", herald_testing::SECRETS_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let worker = Proc(
        Command::new("/usr/bin/time")
            .arg("-v")
            .arg("-o")
            .arg(out.join("worker-time.txt"))
            .arg(&worker_bin)
            .arg("run")
            .env("DATABASE_URL", url)
            .env("HERALD__SMTP__HOST", smtp_host)
            .env("HERALD__SMTP__PORT", smtp_port.to_string())
            .env("HERALD__SECRETS__KEY", herald_testing::SECRETS_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    // An admin signs in and watches the first message's status page while it sends.
    let client = Http { port };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cookie = client
        .sign_in("bench@district.example", "bench-password")
        .await?;
    let t = Instant::now();
    let mut jobs = 0;
    loop {
        client
            .post(&cookie, "/api/load_message_view", &format!("id={}", ids[0]))
            .await?;
        let mut pending = 0;
        let mut total = 0;
        for id in &ids {
            let tallies = sent_messages::tally(pool, *id).await?;
            if tallies.is_empty() {
                pending += 1;
            }
            for t in tallies {
                pending += t.pending();
                total += t.total;
            }
        }
        jobs = jobs.max(total);
        if pending == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(1800) {
            bail!("the send did not finish in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    for mut p in [worker, server] {
        // SIGTERM to the program under `time`, then wait for `time` to write its report.
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &p.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(p.0.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!(
        "memory, a {jobs}-job send (2 district-wide messages, email + inbox) delivered in {secs:.0} s while an admin watched the status page:"
    );
    println!(
        "  herald-worker peak RSS: {} MB   target: < 64 MB",
        peak_rss(&out.join("worker-time.txt"))
            .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    println!(
        "  herald-server peak RSS: {} MB   target: < 128 MB",
        peak_rss(&out.join("server-time.txt"))
            .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    println!(
        "  (full /usr/bin/time -v reports: target/bench/worker-time.txt, target/bench/server-time.txt)"
    );
    Ok(())
}

/// Just enough HTTP/1.1 to sign in and call a server function.
struct Http {
    port: u16,
}

impl Http {
    async fn request(&self, raw: String) -> anyhow::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        s.write_all(raw.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    async fn post(&self, cookie: &str, path: &str, body: &str) -> anyhow::Result<String> {
        self.request(format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await
    }

    async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let reply = self
            .post(
                "",
                "/api/sign_in",
                &format!("email={email}&password={password}"),
            )
            .await?;
        reply
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
            .context("signing in to the bench server")
    }
}
