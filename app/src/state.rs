//! `AppState`: what the server gives every page render and server function, as Leptos context.

use herald_core::config::Config;
use sqlx::PgPool;
use std::sync::Arc;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Config>,
    /// The bound on concurrent password checks (sign-in).
    pub password_checks: herald_core::accounts::PasswordChecks,
}

impl AppState {
    pub fn new(pool: PgPool, settings: Config) -> Self {
        Self {
            pool,
            password_checks: herald_core::accounts::PasswordChecks::new(&settings.auth),
            settings: Arc::new(settings),
        }
    }
}
