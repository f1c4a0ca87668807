//! The long-running worker process: the loop `herald-worker run` executes until it is told to
//! stop.
//!
//! Today it keeps the sign-in tables tidy (expired sessions, failed attempts older than the
//! throttle window); the message pipeline adds leasing and delivering jobs to the same loop.
//! What must stay true: any number of workers can run at once (every statement is safe to run
//! concurrently), and a stop request ends the loop between two passes, never inside one.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;

use crate::accounts;
use crate::settings::Settings;

/// Why the worker loop stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("housekeeping failed")]
    Housekeeping(#[source] accounts::AccountError),
}

/// One pass of housekeeping; returns how many expired sessions were removed.
pub async fn housekeeping(pool: &PgPool, settings: &Settings) -> Result<u64, ServiceError> {
    accounts::purge_expired(pool, &settings.auth)
        .await
        .map_err(ServiceError::Housekeeping)
}

/// Runs passes every `every` until `stop` resolves. A failed pass is logged and retried on the
/// next tick: the database being briefly unreachable must not kill the worker.
pub async fn run(
    pool: PgPool,
    settings: Settings,
    every: Duration,
    stop: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => {
                tracing::info!("stop requested; worker exiting");
                return Ok(());
            }
            _ = tick.tick() => {
                match housekeeping(&pool, &settings).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sessions = n, "removed expired sessions"),
                    Err(e) => tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "housekeeping pass failed"),
                }
            }
        }
    }
}
