//! `AppState`: what the server gives every page render and server function, as Leptos context.

use herald_core::settings::Settings;
use sqlx::PgPool;
use std::sync::Arc;

use crate::admin::import::ImportRegistry;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub imports: ImportRegistry,
}

impl AppState {
    pub fn new(pool: PgPool, settings: Settings) -> Self {
        Self {
            pool,
            settings: Arc::new(settings),
            imports: ImportRegistry::default(),
        }
    }
}
