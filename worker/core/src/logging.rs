//! Logging for every Herald binary: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`, with sqlx's per-statement logs at `warn`).

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
}
