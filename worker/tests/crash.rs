//! Real worker processes (the `herald-worker` binary) on one message: killed with SIGKILL
//! mid-send and restarted, every job still ends delivered, each portal notice exactly once and no
//! email lost; and two or four workers at once never deliver an email twice.

use herald_testing::district;
use herald_testing::maildev;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use herald_core::domain::{ContactReason, Device, MessageId};
use herald_core::messaging::{fanout, sent_messages};
use sqlx::PgPool;

use district::{district, send, use_smtp};
use maildev::Maildev;

/// The URL of this test's own database (sqlx::test made it; the server is DATABASE_URL's).
async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// A worker process, killed when dropped (so a failing test leaves none behind).
struct Worker(Child);

impl Worker {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_worker(url: &str, lease_seconds: u32) -> Worker {
    Worker(
        Command::new(env!("CARGO_BIN_EXE_herald-worker"))
            .arg("run")
            .env("DATABASE_URL", url)
            .env("HERALD__DATABASE__MAX_CONNECTIONS", "4")
            .env("HERALD__WORKER__LEASE_SECONDS", lease_seconds.to_string())
            .env("HERALD__WORKER__POLL_MS", "50")
            .env("HERALD__WORKER__INBOX_BATCH", "40")
            .env("HERALD__WORKER__EMAIL_BATCH", "40")
            .env("HERALD__WORKER__SMTP_CONNECTIONS", "2")
            // A 2 s lease leaves time to start emails only with short SMTP deadlines.
            .env("HERALD__WORKER__SMTP_TIMEOUT_MS", "500")
            .env("HERALD__SECRETS__KEY", herald_testing::SECRETS_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the worker binary starts"),
    )
}

/// Jobs of the message that have ended (sent, failed or canceled).
async fn ended(pool: &PgPool, id: MessageId) -> i64 {
    let tally = sent_messages::tally(pool, id).await.unwrap();
    tally.iter().map(|t| t.sent + t.failed + t.canceled).sum()
}

/// Jobs of the message leased (by a live worker or a dead one) that run out after `after`.
async fn leased_until_after(
    pool: &PgPool,
    id: MessageId,
    after: chrono::DateTime<chrono::Utc>,
) -> i64 {
    sqlx::query_scalar(
        "select count(*) from delivery_job
         where message_id = $1 and status = 'leased' and due_at > $2",
    )
    .bind(id.0)
    .bind(after)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// The database's clock.
async fn db_now(pool: &PgPool) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("select now()")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Jobs not yet ended; a message not yet fanned out has no tally and counts as pending.
async fn pending(pool: &PgPool, id: MessageId) -> i64 {
    let tally = sent_messages::tally(pool, id).await.unwrap();
    if tally.is_empty() {
        return i64::MAX;
    }
    tally.iter().map(sent_messages::DeviceTally::pending).sum()
}

async fn wait_until_done(pool: &PgPool, id: MessageId, within: Duration) {
    let deadline = Instant::now() + within;
    while pending(pool, id).await > 0 {
        assert!(
            Instant::now() < deadline,
            "jobs still pending after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many times maildev received each Message-ID.
async fn received(smtp: &Maildev, expected: usize) -> HashMap<String, usize> {
    smtp.wait_for(expected, Duration::from_secs(30)).await;
    // Give stragglers (a duplicate in flight) a moment to land; every worker is already killed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut seen = HashMap::new();
    for m in smtp.emails().await.iter() {
        let id = m["headers"]["message-id"].as_str().unwrap().to_string();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

async fn email_message_ids(pool: &PgPool, id: MessageId) -> Vec<String> {
    sqlx::query_scalar!(
        "select '<herald.' || message_id || '.' || id || '@district.example>' as \"mid!\"
         from delivery_job where message_id = $1 and device = 'email'",
        id.0
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn one_notice_per_inbox_job(pool: &PgPool, id: MessageId) {
    let (jobs, notices, recipients): (i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from delivery_job where message_id = $1 and device = 'inbox' and status = 'sent'),
                (select count(*) from portal_notice where message_id = $1),
                (select count(*) from message_recipient where message_id = $1)",
    )
    .bind(id.0)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((jobs, notices), (recipients, recipients));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn killing_the_worker_mid_send_loses_nothing_and_doubles_no_notice(pool: PgPool) {
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 3000).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    let f = fanout::fan_out_next(&pool).await.unwrap().unwrap();
    assert!(
        f.email_jobs + f.inbox_jobs > 2000,
        "a send of a few thousand jobs: {f:?}"
    );
    let url = database_url(&pool).await;

    // Each round's worker is killed only once it has delivered something since the last kill
    // and holds leased jobs: the kill lands mid-send, between deliveries, every time.
    let mut kills = 0;
    let mut leased_at_kills = Vec::new();
    for _ in 0..6 {
        let before = ended(&pool, id).await;
        // A lease this worker takes runs out more than 2 s after it started; a dead one's not.
        let its_own = db_now(&pool).await + chrono::TimeDelta::seconds(2);
        let mut w = spawn_worker(&url, 2);
        let deadline = Instant::now() + Duration::from_secs(60);
        let leased = loop {
            let leased = leased_until_after(&pool, id, its_own).await;
            if ended(&pool, id).await > before && leased > 0 {
                break leased;
            }
            assert!(Instant::now() < deadline, "the worker never got going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if pending(&pool, id).await < 200 {
            break;
        }
        // SIGKILL: no chance to release leases or finish SMTP exchanges.
        w.kill();
        kills += 1;
        leased_at_kills.push(leased);
    }
    assert!(
        kills >= 3,
        "the worker was killed mid-send several times ({kills})"
    );
    let leased_after_kills = leased_until_after(&pool, id, chrono::DateTime::UNIX_EPOCH).await;
    assert!(
        leased_after_kills > 0,
        "the last kill left leases held by a dead worker"
    );
    let mut last = spawn_worker(&url, 2);
    wait_until_done(&pool, id, Duration::from_secs(120)).await;
    last.kill();

    let tally = sent_messages::tally(&pool, id).await.unwrap();
    assert!(tally.iter().all(|t| t.sent == t.total), "{tally:?}");
    one_notice_per_inbox_job(&pool, id).await;
    let expected = email_message_ids(&pool, id).await;
    let seen = received(&smtp, expected.len()).await;
    let missing: Vec<_> = expected.iter().filter(|m| !seen.contains_key(*m)).collect();
    assert!(
        missing.is_empty(),
        "{} emails lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "crash test: {kills} kills holding {leased_at_kills:?} leased jobs, {leased_after_kills} left leased by dead workers, {} emails, {duplicates} resent after a kill",
        expected.len()
    );
}

async fn several_workers_at_once(pool: PgPool, workers: usize) {
    let smtp = Maildev::start().await;
    use_smtp(&pool, smtp.smtp_port).await;
    let d = district(&pool, 800).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    let url = database_url(&pool).await;
    let mut children: Vec<Worker> = (0..workers).map(|_| spawn_worker(&url, 60)).collect();
    wait_until_done(&pool, id, Duration::from_secs(120)).await;
    children.iter_mut().for_each(Worker::kill);
    one_notice_per_inbox_job(&pool, id).await;
    let expected = email_message_ids(&pool, id).await;
    let seen = received(&smtp, expected.len()).await;
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{} emails delivered twice", twice.len());
    assert_eq!(seen.len(), expected.len());
    let by: i64 = sqlx::query_scalar(
        "select count(distinct leased_by) from delivery_job where message_id = $1",
    )
    .bind(id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(by >= 2, "the workers shared the message ({by} delivered)");
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn two_workers_on_one_message_never_deliver_twice(pool: PgPool) {
    several_workers_at_once(pool, 2).await;
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn four_workers_on_one_message_never_deliver_twice(pool: PgPool) {
    several_workers_at_once(pool, 4).await;
}
