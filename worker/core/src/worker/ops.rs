//! A worker's ops listener (`HERALD__OPS__LISTEN`): Prometheus `/metrics` (the shared figures of
//! [`crate::metrics`], and how long each lane has been quiet), and `/healthz` for a supervisor
//! or a load balancer's health check.
//!
//! What must stay true: `/healthz` answers 503, naming the lane, exactly when the watchdog would
//! call the worker stuck (a lane quiet past `worker.lane_deadline_seconds`), or once it has; 200
//! otherwise. It reads the same clocks and deadline as the watchdog ([`liveness::stuck_lane`]).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Worker;
use super::liveness::{self, Lane};

/// The ops router of `worker`.
pub fn router(worker: Arc<Worker>) -> axum::Router {
    let w = worker.clone();
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let w = w.clone();
                async move { metrics(&w).await }
            }),
        )
        .route(
            "/healthz",
            axum::routing::get(move || {
                let w = worker.clone();
                async move { healthz(&w) }
            }),
        )
}

/// Why the worker is unhealthy, or `None` when every lane is making progress.
pub fn unhealthy(worker: &Worker) -> Option<String> {
    if let Some(why) = worker.stuck.get() {
        return Some(why.clone());
    }
    let now = tokio::time::Instant::now();
    liveness::stuck_lane(
        &worker.clocks,
        |_| false,
        worker.settings.worker.lane_deadline(),
        now,
    )
    .map(|(_, why)| why)
}

fn healthz(worker: &Worker) -> Response {
    match unhealthy(worker) {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("stuck: {why}\n")).into_response(),
    }
}

async fn metrics(worker: &Worker) -> Response {
    let now = tokio::time::Instant::now();
    let quiet: Vec<_> = Lane::ALL
        .iter()
        .map(|lane| {
            (
                vec![("lane", lane.as_str())],
                worker.clocks.quiet_for(*lane, now).as_secs_f64(),
            )
        })
        .collect();
    match crate::metrics::render(&worker.pool).await {
        Ok(mut text) => {
            crate::metrics::gauge(
                &mut text,
                "herald_lane_quiet_seconds",
                "How long each lane of this worker has shown no progress",
                &quiet,
            );
            let kind = crate::metrics::CONTENT_TYPE;
            ([(axum::http::header::CONTENT_TYPE, kind)], text).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not sample the queue for /metrics");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Serves [`router`] on `addr` until the task is aborted: [`super::run`] does so when the worker
/// has stopped, so a stuck worker answers 503 for as long as it is still there.
pub async fn serve(addr: String, worker: Arc<Worker>) {
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, %addr, "could not bind the ops listener; no /metrics or /healthz");
            return;
        }
    };
    tracing::info!("ops on http://{addr} (/metrics, /healthz)");
    if let Err(e) = axum::serve(listener, router(worker)).await {
        tracing::error!(error = %e, "the ops listener stopped");
    }
}
