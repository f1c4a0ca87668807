//! The Herald web server: axum serving the Leptos pages (server-rendered, then hydrated), the
//! server functions under `/api`, and the compiled site assets.
//!
//! What must stay true: the database is migrated before the first request is served; every
//! state-changing request from another site is refused ([`csrf`]); the server holds no state
//! that a second server would need (sessions live in PostgreSQL).
//!
//! # Layout
//! - [`run`]: connect, migrate, build the router, serve until Ctrl-C / SIGTERM.
//! - [`router`]: the axum router, also used by the integration tests.
//! - [`assets`]: how long browsers keep the compiled bundle (hashed names: a year); pages are
//!   compressed by tower-http's `CompressionLayer` in [`router`].
//! - [`csrf`]: the cross-site request guard.
//! - [`headers`]: the security headers (Content-Security-Policy with the page's nonce, framing,
//!   sniffing, referrer) every answer carries.
//! - [`multipart`]: refuses a multipart server-function call without a boundary.
//! - [`ops`]: request latency by route, and the ops listener's Prometheus `/metrics`.
//! - [`unsubscribe`]: the one-click unsubscribe pages (RFC 8058).
//! - [`exports`]: downloads and extracts (the Delivery Report as CSV, the Utilization Report as
//!   CSV or HTML).
//! - The voice provider's status callbacks are `herald_core::dialer::callback`'s router, mounted
//!   here.
#![recursion_limit = "256"]

pub mod assets;
pub mod csrf;
pub mod exports;
pub mod headers;
pub mod multipart;
pub mod ops;
pub mod unsubscribe;

use anyhow::Context;
use axum::Router;
use herald_app::{App, shell, state::AppState};
use herald_core::config::Config;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

/// Builds the router for `state` and the site `options`.
pub fn router(state: AppState, options: LeptosOptions) -> Router {
    assets::use_options(&options);
    let routes = generate_route_list(App);
    let context_state = state.clone();
    let fn_state = state.clone();
    let unsubscribe = Router::new()
        .route(
            "/unsubscribe/{token}",
            axum::routing::get(unsubscribe::show).post(unsubscribe::apply),
        )
        .route(
            "/unsubscribe/{token}/undo",
            axum::routing::post(unsubscribe::undo),
        )
        .route(
            "/admin/messenger/messages/{id}/delivery.csv",
            axum::routing::get(exports::delivery_csv),
        )
        .route(
            "/admin/messenger/reports/utilization/extract",
            axum::routing::get(exports::utilization),
        )
        .with_state(state.clone());
    let callbacks =
        herald_core::dialer::callback::router(state.pool.clone(), (*state.settings).clone());
    Router::new()
        .merge(unsubscribe)
        .merge(callbacks)
        .route(
            "/api/{*fn_name}",
            axum::routing::post(move |req| {
                let state = fn_state.clone();
                leptos_axum::handle_server_fns_with_context(
                    move || provide_context(state.clone()),
                    req,
                )
            }),
        )
        .leptos_routes_with_context(
            &options,
            routes,
            move || {
                provide_context(context_state.clone());
                headers::set_page_policy();
            },
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .route_layer(axum::middleware::from_fn(ops::track))
        .fallback(leptos_axum::file_and_error_handler(shell))
        .layer(axum::middleware::from_fn(assets::cache_control))
        // Pages and server-function answers, compressed for browsers that accept it; a
        // precompressed asset already says its Content-Encoding and is passed through as it is.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(multipart::require_boundary))
        .layer(axum::middleware::from_fn(csrf::reject_cross_site))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .with_state(options)
}

/// Seals any secret still stored as plain text (one saved before sealing existed).
async fn seal_stored_secrets(pool: &sqlx::PgPool, settings: &Config) -> anyhow::Result<()> {
    let sealed = herald_core::secrets::seal_plaintext(pool, &settings.secrets)
        .await
        .context("sealing stored secrets")?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed stored secrets that were plain text");
    }
    Ok(())
}

/// Runs the server until it is told to stop.
pub async fn run(settings: Config, options: LeptosOptions) -> anyhow::Result<()> {
    settings
        .secrets
        .check()
        .context("checking the key for stored secrets")?;
    let pool =
        herald_core::db::connect_and_migrate(&settings.database, herald_core::db::Purpose::Web)
            .await
            .context("connecting to and migrating PostgreSQL")?;
    seal_stored_secrets(&pool, &settings).await?;
    let addr = options.site_addr;
    herald_core::metrics::install();
    if let Some(ops) = settings.ops.listen.clone() {
        let pool = pool.clone();
        tokio::spawn(async move {
            if let Err(e) = ops::serve(&ops, pool).await {
                tracing::error!(error = format!("{e:#}"), "the ops listener stopped");
            }
        });
    }
    let state = AppState::new(pool, settings);
    let app = router(state, options);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!("Herald is listening on http://{addr}");
    // The peer's address is the sign-in throttle's key (`auth.forwarded_hops` says when a proxy's
    // X-Forwarded-For is to be believed instead).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(herald_core::shutdown::signal())
        .await
        .context("serving HTTP")
}
