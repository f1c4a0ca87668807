//! Fault drills (issue 13, point 19) against the built binaries and real parts, each printing
//! what it saw:
//! - **sign-in flood**: `HERALD_BENCH_SIGN_INS` (500; small: 12) sign-in attempts at once with
//!   random emails, first each from its own address (a botnet: the server trusts one proxy's
//!   `X-Forwarded-For` here, so no address throttle applies and every attempt costs a password
//!   check), then all from one address. Prints how each was answered, the server's RSS before and
//!   at its peak (`VmHWM`), and how long an admin page took meanwhile.
//! - **worker kills**: two `herald-worker` processes deliver one send by email and portal inbox
//!   to a district of `HERALD_BENCH_KILL_STUDENTS` (7,000 students, about 20,000 jobs; small:
//!   200) into maildev, while one of them is SIGKILLed `HERALD_BENCH_KILLS` times (20; small: 2),
//!   each time after it delivered since the last kill, and started again. Prints emails lost and
//!   notices doubled (both must be 0) and emails sent twice per kill: a send the SMTP server
//!   accepted whose `sent` the dead worker never wrote goes again once its lease runs out, so
//!   per kill at most the victim's sends in flight (`worker.smtp_connections`).
//!
//! Uses the database `herald_bench_chaos` on `DATABASE_URL`'s server, recreated on each run.
//! Run: `cargo bench -p herald-core --bench figures -- chaos` (the release binaries; small: the
//! debug ones `./herald.sh test` builds).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_core::domain::{ContactReason, Device, MessageId};
use herald_core::messaging::{fanout, sent_messages};
use herald_testing::maildev::Maildev;
use sqlx::PgPool;

use crate::support::{self, Proc, Scale};

pub async fn bench(scale: Scale) -> anyhow::Result<()> {
    let (bins, site) = support::built_site(scale)?;
    let db = scale.database("chaos");
    let pool = support::fresh_database(&db).await?;
    let url = format!("{}/{db}", support::server_base()?);
    sign_in_flood(&pool, &url, &bins, &site, scale).await?;
    worker_kills(&pool, &url, &bins, scale).await?;
    Ok(())
}

/// How the server answered one sign-in attempt.
fn answer(status: u16) -> &'static str {
    match status {
        401 => "checked and refused (401)",
        429 => "throttled before any check (429)",
        503 => "told the server is busy (503)",
        _ => "something else",
    }
}

async fn sign_in_flood(
    pool: &PgPool,
    url: &str,
    bins: &Path,
    site: &Path,
    scale: Scale,
) -> anyhow::Result<()> {
    let attempts: usize = scale.number("HERALD_BENCH_SIGN_INS", 500, 12)?;
    support::sender(pool).await?;
    let port = support::free_port()?;
    let server = Proc::spawn(
        Command::new(bins.join("herald-server"))
            .env("DATABASE_URL", url)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", site)
            .env("HERALD__SECRETS__KEY", herald_testing::SECRETS_KEY)
            .env("HERALD__AUTH__FORWARDED_HOPS", "1")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    support::wait_for_server(&http, &base).await?;
    let cookie = sign_in(
        &http,
        &base,
        "192.0.2.1",
        "bench@district.example",
        "bench-password",
    )
    .await?
    .context("the bench admin signs in")?;
    // Warm up the page once, so the figures below are the flood's, not a first render's.
    admin_page(&http, &base, &cookie).await?;
    let before = rss_kb(pid, "VmRSS")?;

    for (what, one_address) in [
        ("each from its own address", false),
        ("all from one address", true),
    ] {
        let started = Instant::now();
        let flood: Vec<_> = (0..attempts)
            .map(|i| {
                let (http, base) = (http.clone(), base.clone());
                let from = if one_address {
                    "198.51.100.1".to_string()
                } else {
                    format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256)
                };
                tokio::spawn(async move {
                    let email = format!("guess{i}-{}@elsewhere.example", uuid::Uuid::new_v4());
                    sign_in_status(&http, &base, &from, &email, "guess").await
                })
            })
            .collect();
        // An admin keeps using Herald meanwhile.
        let mut page = Vec::new();
        while flood.iter().any(|f| !f.is_finished()) {
            let t = Instant::now();
            admin_page(&http, &base, &cookie).await?;
            page.push(t.elapsed());
        }
        let mut answers: BTreeMap<&str, usize> = BTreeMap::new();
        for f in flood {
            *answers.entry(answer(f.await??)).or_default() += 1;
        }
        let took = started.elapsed().as_secs_f64();
        println!(
            "sign-in flood, {attempts} attempts at once {what}: answered in {took:.1} s: {}",
            answers
                .iter()
                .map(|(a, n)| format!("{n} {a}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        page.sort();
        println!(
            "  an admin page meanwhile: {} loads, p50 {:.0} ms, max {:.0} ms",
            page.len(),
            ms(page.get(page.len() / 2)),
            ms(page.last())
        );
    }
    println!(
        "  herald-server RSS: {:.1} MB before, {:.1} MB at its peak",
        before as f64 / 1024.0,
        rss_kb(pid, "VmHWM")? as f64 / 1024.0
    );
    Ok(())
}

fn ms(d: Option<&Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// One line of `/proc/<pid>/status`, in kB.
fn rss_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} of process {pid}"))
}

async fn sign_in_status(
    http: &reqwest::Client,
    base: &str,
    from: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<u16> {
    Ok(sign_in_reply(http, base, from, email, password)
        .await?
        .status()
        .as_u16())
}

async fn sign_in_reply(
    http: &reqwest::Client,
    base: &str,
    from: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(http
        .post(format!("{base}/api/sign_in"))
        .header("origin", base)
        .header("x-forwarded-for", from)
        .form(&[("email", email), ("password", password)])
        .send()
        .await?)
}

/// Signs in; the session cookie's `name=value`, if one was set.
async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    from: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<Option<String>> {
    let reply = sign_in_reply(http, base, from, email, password).await?;
    Ok(reply
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_string))
}

/// Loads People (rendered on the server) as the admin; fails unless it answers 200.
async fn admin_page(http: &reqwest::Client, base: &str, cookie: &str) -> anyhow::Result<()> {
    let reply = http
        .get(format!("{base}/admin/people"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await?;
    if reply.status() != 200 {
        bail!("the admin page answered {}", reply.status());
    }
    reply.bytes().await?;
    Ok(())
}

async fn worker_kills(pool: &PgPool, url: &str, bins: &Path, scale: Scale) -> anyhow::Result<()> {
    let students: usize = scale.number("HERALD_BENCH_KILL_STUDENTS", 7_000, 200)?;
    let kills: usize = scale.number("HERALD_BENCH_KILLS", 20, 2)?;
    let smtp = Maildev::start().await;
    herald_testing::district::use_smtp(pool, smtp.smtp_port).await;
    let d = herald_testing::district::district(pool, students).await;
    let id = herald_testing::district::send(
        pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    fanout::fan_out_next(pool)
        .await?
        .context("the send fans out")?;
    let total = ended_and_total(pool, id).await?.1;
    let connections = 4;
    let spawn = || {
        Proc::spawn(
            Command::new(bins.join("herald-worker"))
                .arg("run")
                .env("DATABASE_URL", url)
                .env("HERALD__SECRETS__KEY", herald_testing::SECRETS_KEY)
                .env("HERALD__WORKER__LEASE_SECONDS", "10")
                .env("HERALD__WORKER__SMTP_TIMEOUT_MS", "3000")
                .env("HERALD__WORKER__SMTP_CONNECTIONS", connections.to_string())
                .env("HERALD__WORKER__POLL_MS", "100")
                .env("RUST_LOG", "error")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    };
    let started = Instant::now();
    let _steady = spawn()?;
    let mut victim = spawn()?;
    let mut killed = 0;
    for k in 1..=kills {
        // Each kill after the send moved on by its share since the last one.
        let goal = total * k as i64 / (kills as i64 + 1);
        let deadline = Instant::now() + Duration::from_secs(600);
        while ended_and_total(pool, id).await?.0 < goal {
            if Instant::now() > deadline {
                bail!("the send stalled before kill {k}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(victim); // SIGKILL
        killed += 1;
        victim = spawn()?;
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    while ended_and_total(pool, id).await?.0 < total {
        if Instant::now() > deadline {
            bail!("the send did not finish in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(victim);
    let expected: Vec<String> = sqlx::query_scalar(
        "select '<herald.' || message_id || '.' || id || '@district.example>'
         from delivery_job where message_id = $1 and device = 'email'",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    // Every worker has stopped; what maildev holds now is everything that was sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in smtp.emails().await {
        if let Some(mid) = m["headers"]["message-id"].as_str() {
            *seen.entry(mid.to_string()).or_default() += 1;
        }
    }
    let lost = expected.iter().filter(|m| !seen.contains_key(*m)).count();
    let twice: usize = seen.values().map(|n| n - 1).sum();
    let doubled: i64 = sqlx::query_scalar(
        "select count(*) from (select job_id from portal_notice where message_id = $1
                               group by job_id having count(*) > 1) x",
    )
    .bind(id.0)
    .fetch_one(pool)
    .await?;
    let tally = sent_messages::tally(pool, id).await?;
    let failed: i64 = tally.iter().map(|t| t.failed).sum();
    println!(
        "worker kills, a {total}-job send (email + inbox) by two workers, one SIGKILLed {killed} times: done in {secs:.0} s"
    );
    println!(
        "  {} emails: {lost} lost, {twice} sent twice ({:.2} per kill; at most {connections} in flight per kill), {failed} jobs failed; portal notices doubled: {doubled}",
        expected.len(),
        twice as f64 / killed.max(1) as f64
    );
    if lost > 0 || doubled > 0 {
        bail!("the drill lost {lost} emails and doubled {doubled} notices");
    }
    Ok(())
}

/// The send's ended jobs and all its jobs.
async fn ended_and_total(pool: &PgPool, id: MessageId) -> anyhow::Result<(i64, i64)> {
    let tally = sent_messages::tally(pool, id).await?;
    Ok((
        tally.iter().map(|t| t.sent + t.failed + t.canceled).sum(),
        tally.iter().map(|t| t.total).sum(),
    ))
}
