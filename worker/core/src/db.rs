//! The PostgreSQL pool and the embedded migrations.
//!
//! PostgreSQL is Herald's one source of truth and its queue. Migrations live in
//! `worker/core/migrations`, numbered, and are never edited once landed; both binaries run
//! [`MIGRATOR`] at start so a fresh database is always brought up to date.

use secrecy::ExposeSecret;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

use crate::config::DatabaseConfig;

/// The schema, embedded at compile time from `worker/core/migrations`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the database could not be reached or brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The pool could not open a connection (wrong URL, server down, or no connection within 10
    /// seconds).
    #[error("could not connect to PostgreSQL")]
    Connect(#[source] sqlx::Error),
    /// A migration failed, or the database holds migrations this build does not know.
    #[error("could not apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connects a pool sized by the settings.
pub async fn connect(settings: &DatabaseConfig) -> Result<PgPool, DbError> {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(settings.url.expose_secret())
        .await
        .map_err(DbError::Connect)
}

/// Applies every migration not yet applied.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await.map_err(DbError::Migrate)
}

/// Connects and applies pending migrations: what every Herald process does first.
pub async fn connect_and_migrate(settings: &DatabaseConfig) -> Result<PgPool, DbError> {
    let pool = connect(settings).await?;
    migrate(&pool).await?;
    Ok(pool)
}
