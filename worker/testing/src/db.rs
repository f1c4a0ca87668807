//! Fresh, migrated databases on `DATABASE_URL`'s server: one per test ([`TestDb`], dropped with
//! it) and one per benchmark ([`named`], kept afterwards so its figures can be looked into).
//!
//! What must stay true: every database is migrated with [`herald_core::db::MIGRATOR`], the same
//! migrations production runs, and a test never sees another test's rows.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// `DATABASE_URL` without its database name: the server test and benchmark databases live on.
///
/// # Panics
/// When `DATABASE_URL` is unset: the tests need a PostgreSQL server (`./herald.sh test` starts
/// one).
pub fn server_url() -> String {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL server");
    url.rsplit_once('/')
        .map_or(url.clone(), |(base, _)| base.to_string())
}

/// Creates database `name` (dropping an earlier one of that name) and migrates it.
async fn create(name: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let server = server_url();
    let mut admin = PgConnection::connect(&format!("{server}/postgres")).await?;
    sqlx::query(&format!("drop database if exists {name} with (force)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(&format!("{server}/{name}"))
        .await?;
    herald_core::db::MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// A benchmark's database `name`, new and migrated; it stays after the run.
pub async fn named(name: &str) -> Result<PgPool, sqlx::Error> {
    create(name, 10).await
}

/// A test's own database, dropped when this is.
pub struct TestDb {
    /// A pool on it.
    pub pool: PgPool,
    /// Its URL, for processes the test starts (a worker binary, say).
    pub url: String,
    name: String,
}

impl TestDb {
    /// Creates and migrates a database of its own, under a unique name.
    ///
    /// # Panics
    /// When the server cannot be reached or the migrations fail: the test cannot run.
    pub async fn new() -> Self {
        let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
        let pool = create(&name, 8)
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
        let url = format!("{}/{name}", server_url());
        Self { pool, url, name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (format!("{}/postgres", server_url()), self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}
