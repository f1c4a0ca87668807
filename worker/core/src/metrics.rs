//! The numbers ops watch, in Prometheus' text format: every name Herald records, in one place,
//! recorded with the `metrics` crate and rendered by `metrics-exporter-prometheus` (well-kept, no
//! HTTP server of its own: the server and the worker serve [`render`] on their ops listener).
//!
//! What Herald records:
//! - sampled from PostgreSQL when scraped, so every process reports the same cluster-wide figures:
//!   `herald_queue_jobs{device, state}` (`due`, `later`, `in_progress`),
//!   `herald_queue_oldest_due_seconds{device}`, and `herald_jobs_ended{device, outcome}` (`sent`,
//!   `failed`, `canceled`: every message's Delivery Report totals, so only ever growing);
//! - counted by the process: `herald_delivery_retries_total{device}`,
//!   `herald_lease_takeovers_total{device}` (jobs leased from a worker whose lease ran out);
//! - histograms: `herald_smtp_send_seconds`, `herald_provider_request_seconds`,
//!   `herald_fan_out_seconds`, `herald_http_request_seconds{route, status}`;
//! - a worker's `herald_lane_quiet_seconds{lane}` (see `worker::ops`), written like the sampled
//!   figures.
//!
//! What must stay true: the recorder is installed once per process ([`install`]), before the
//! first figure is recorded; recording is cheap and never fails a delivery.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use crate::domain::Device;
use crate::messaging::queue;

/// The `Content-Type` of what [`render`] writes: Prometheus' text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: from a fast SQL round trip to a slow relay's deadline.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the process's recorder (once; later calls return the same handle). `None` when
/// another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Every figure in Prometheus' text format: what this process recorded, then what PostgreSQL
/// says now. The sampled figures are written per scrape, not kept in the recorder, so two scrapes
/// (or two tests in one process) never see each other's samples.
pub async fn render(pool: &PgPool) -> Result<String, sqlx::Error> {
    let mut out = install().map(PrometheusHandle::render).unwrap_or_default();
    let ended = ended(pool).await?;
    let mut rows = Vec::new();
    for device in Device::ALL {
        let e = ended.iter().find(|e| e.device == device);
        for (outcome, n) in [
            ("sent", e.map_or(0, |e| e.sent)),
            ("failed", e.map_or(0, |e| e.failed)),
            ("canceled", e.map_or(0, |e| e.canceled)),
        ] {
            rows.push((
                vec![("device", device.as_str()), ("outcome", outcome)],
                n as f64,
            ));
        }
    }
    gauge(
        &mut out,
        "herald_jobs_ended",
        "Jobs ended, by device and outcome, over every message (the Delivery Reports' totals)",
        &rows,
    );
    let depths = queue::depth(pool).await?;
    let now = chrono::Utc::now();
    let (mut jobs, mut oldest) = (Vec::new(), Vec::new());
    for device in Device::ALL {
        let d = depths.iter().find(|d| d.device == device);
        let label = device.as_str();
        for (state, n) in [
            ("due", d.map_or(0, |d| d.due)),
            ("later", d.map_or(0, |d| d.later)),
            ("in_progress", d.map_or(0, |d| d.in_progress)),
        ] {
            jobs.push((vec![("device", label), ("state", state)], n as f64));
        }
        let age = d
            .and_then(|d| d.oldest_due)
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        oldest.push((vec![("device", label)], age));
    }
    gauge(
        &mut out,
        "herald_queue_jobs",
        "Unended jobs by device and state",
        &jobs,
    );
    gauge(
        &mut out,
        "herald_queue_oldest_due_seconds",
        "How long the longest-waiting due job has waited, by device",
        &oldest,
    );
    Ok(out)
}

/// Appends one gauge family in Prometheus' text format.
pub fn gauge(out: &mut String, name: &str, help: &str, rows: &[(Vec<(&str, &str)>, f64)]) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in rows {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
    }
}

struct Ended {
    device: Device,
    sent: i64,
    failed: i64,
    canceled: i64,
}

/// Every message's ended jobs per device (`message_tally`: one row per message and device).
async fn ended(pool: &PgPool) -> Result<Vec<Ended>, sqlx::Error> {
    sqlx::query_as!(
        Ended,
        r#"select device as "device!: Device", coalesce(sum(sent), 0)::int8 as "sent!",
                  coalesce(sum(failed), 0)::int8 as "failed!",
                  coalesce(sum(canceled), 0)::int8 as "canceled!"
           from message_tally group by device"#
    )
    .fetch_all(pool)
    .await
}

/// A job of `device` failed an attempt and will be tried again.
pub fn retry(device: Device) {
    metrics::counter!("herald_delivery_retries_total", "device" => device.as_str()).increment(1);
}

/// `n` jobs of `device` were taken over from workers whose leases ran out.
pub fn takeovers(device: Device, n: u64) {
    if n > 0 {
        metrics::counter!("herald_lease_takeovers_total", "device" => device.as_str()).increment(n);
    }
}

/// One email's time with the SMTP server, connection included.
pub fn smtp_send(took: Duration) {
    metrics::histogram!("herald_smtp_send_seconds").record(took.as_secs_f64());
}

/// One request to the voice provider (a call, a lookup or a hang-up), answered or not.
pub fn provider_request(took: Duration) {
    metrics::histogram!("herald_provider_request_seconds").record(took.as_secs_f64());
}

/// One message's fan-out.
pub fn fan_out(took: Duration) {
    metrics::histogram!("herald_fan_out_seconds").record(took.as_secs_f64());
}

/// One HTTP request to the server, by its route pattern and status.
pub fn http_request(route: String, status: u16, took: Duration) {
    metrics::histogram!("herald_http_request_seconds", "route" => route, "status" => status.to_string())
        .record(took.as_secs_f64());
}
