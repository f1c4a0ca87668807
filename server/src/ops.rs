//! What ops watch on the server: each request's latency by route
//! (`herald_http_request_seconds`, recorded by [`track`]), and the ops listener ([`serve`]) that
//! answers Prometheus' `/metrics` on its own address (`HERALD__OPS__LISTEN`), away from the
//! public site.
//!
//! What must stay true: a route's label is its pattern (`/admin/messenger/messages/{id}`), or the
//! path of a server function that exists, never a raw URL, so a scanner cannot grow the label
//! set: a call to a server function that does not exist is `unmatched`.

use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

/// The paths of the server functions the app registers.
static SERVER_FNS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect()
});

/// Records the request's latency under its route's pattern.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = match req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        // One route serves every server function: label each by its own path, if it exists.
        Some("/api/{*fn_name}") if SERVER_FNS.contains(req.uri().path()) => {
            req.uri().path().to_string()
        }
        Some("/api/{*fn_name}") | None => "unmatched".to_string(),
        Some(p) => p.to_string(),
    };
    let res = next.run(req).await;
    let status = res.status();
    herald_core::metrics::http_request(route, status.as_u16(), started.elapsed());
    res
}

/// The ops router: `/metrics`.
pub fn router(pool: PgPool) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let pool = pool.clone();
            async move { metrics(&pool).await }
        }),
    )
}

async fn metrics(pool: &PgPool) -> Response {
    match herald_core::metrics::render(pool).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                herald_core::metrics::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "could not sample the queue for /metrics");
            axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Serves [`router`] on `addr` until the process ends.
pub async fn serve(addr: &str, pool: PgPool) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the ops listener {addr}"))?;
    tracing::info!("metrics on http://{addr}/metrics");
    axum::serve(listener, router(pool))
        .await
        .context("serving the ops listener")
}
