//! A local voice provider and Herald's status-callback endpoint, both served in-process on
//! ephemeral ports, with a test database pointed at them; and helpers to run workers until a
//! condition holds.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use herald_core::config::Config;
use herald_core::dev::voice_provider::{self, LocalAccount};
use herald_core::domain::{JobId, MessageId};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub const SID: &str = voice_provider::DEMO_ACCOUNT_SID;
pub const TOKEN: &str = "test-auth-token";
pub const CALLER_ID: &str = "+15555550199";

pub struct Voice {
    /// The provider's base URL.
    pub api_url: String,
    /// Herald's origin as the provider calls it back.
    pub origin: String,
    http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Voice {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the provider (one simulated step = `step_ms`) and the callback endpoint, and sets the
/// Dialer Preferences to call through them with calling hours all day, at `cps` calls a second.
pub async fn start(pool: &PgPool, settings: &Config, step_ms: u64, cps: f64) -> Voice {
    let provider = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", provider.local_addr().unwrap());
    let account = LocalAccount {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        step: Duration::from_millis(step_ms),
    };
    let callbacks = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", callbacks.local_addr().unwrap());
    let router: axum::Router =
        herald_core::dialer::callback::router(pool.clone(), settings.clone());
    let tasks = vec![
        tokio::spawn(async move {
            let _ = voice_provider::serve(provider, account).await;
        }),
        tokio::spawn(async move {
            let _ = axum::serve(callbacks, router).await;
        }),
    ];
    herald_core::messaging::email_preferences::save_portal_url(pool, &format!("{origin}/portal"))
        .await
        .unwrap();
    sqlx::query!(
        "update dialer_settings set api_url = $1, account_sid = $2, auth_token = $3,
             from_number = $4, calling_from = '00:00', calling_until = '23:59:59',
             calls_per_second = $5, updated_at = now()",
        api_url,
        SID,
        TOKEN,
        CALLER_ID,
        cps,
    )
    .execute(pool)
    .await
    .unwrap();
    Voice {
        api_url,
        origin,
        http: reqwest::Client::new(),
        tasks,
    }
}

impl Voice {
    /// Every call the provider received, in order.
    pub async fn calls(&self) -> Vec<serde_json::Value> {
        self.http
            .get(format!("{}/local/calls", self.api_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Config for a dialing test worker.
pub fn settings() -> Config {
    let mut s = Config::load_from(|_| None).unwrap();
    s.secrets = crate::secrets();
    s.worker.lease_seconds = 60;
    s.worker.poll_ms = 50;
    s.worker.backoff_seconds = 60;
    s.worker.error_batch_seconds = 0;
    s
}

/// Runs `workers` worker processes until `done` holds (checked every 100 ms) or `within` passes;
/// returns whether it held.
pub async fn run_until<F, Fut>(
    pool: &PgPool,
    settings: &Config,
    workers: usize,
    within: Duration,
    done: F,
) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let pool = pool.clone();
            let settings = settings.clone();
            let mut rx = rx.clone();
            tokio::spawn(async move {
                herald_core::worker::run(pool, settings, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
                .unwrap();
            })
        })
        .collect();
    let start = Instant::now();
    let mut held = false;
    while start.elapsed() < within {
        if done().await {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tx.send(true).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    held
}

/// A phone job's state.
#[derive(Debug, Clone)]
pub struct PhoneJob {
    pub id: JobId,
    pub target: String,
    pub status: String,
    pub attempts: i32,
    pub due_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

pub async fn phone_jobs(pool: &PgPool, message: MessageId) -> Vec<PhoneJob> {
    sqlx::query_as!(
        PhoneJob,
        r#"select id as "id: JobId", target, status::text as "status!", attempts, due_at, last_error
           from delivery_job where message_id = $1 and device = 'phone' order by id"#,
        message as MessageId
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Keeps the first `n` phone jobs of a message (the rest are deleted with their tally) and gives
/// them these numbers, so a test chooses each call's outcome.
pub async fn dial_only(pool: &PgPool, message: MessageId, numbers: &[&str]) -> Vec<JobId> {
    let ids: Vec<JobId> = phone_jobs(pool, message)
        .await
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert!(
        ids.len() >= numbers.len(),
        "the message has enough phone jobs"
    );
    let keep = &ids[..numbers.len()];
    for (id, n) in keep.iter().zip(numbers) {
        sqlx::query!(
            "update delivery_job set target = $2 where id = $1",
            id.0,
            *n
        )
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query!(
        "delete from delivery_job where message_id = $1 and device = 'phone' and not (id = any($2))",
        message as MessageId,
        keep as &[JobId]
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query!(
        "update message_tally set total = $2 where message_id = $1 and device = 'phone'",
        message as MessageId,
        keep.len() as i64
    )
    .execute(pool)
    .await
    .unwrap();
    keep.to_vec()
}

/// The statuses of a message's phone jobs, by job order.
pub async fn statuses(pool: &PgPool, message: MessageId) -> Vec<String> {
    phone_jobs(pool, message)
        .await
        .into_iter()
        .map(|j| j.status)
        .collect()
}
