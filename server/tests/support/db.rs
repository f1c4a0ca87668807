//! A fresh, migrated database per test, for tests that run on a multi-threaded tokio runtime
//! like the real server (`#[sqlx::test]` runs each test on a current-thread runtime, where
//! Leptos' SSR was seen to stall a page render about once in a dozen full runs; the server never
//! runs that way).
//!
//! The database is created on `DATABASE_URL`'s server under a unique name and dropped when the
//! [`TestDb`] is.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

pub struct TestDb {
    pub pool: PgPool,
    admin_url: String,
    name: String,
}

fn server_url() -> String {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL server");
    url.rsplit_once('/')
        .map_or(url.clone(), |(base, _)| base.to_string())
}

/// Creates and migrates a database of its own.
pub async fn fresh_db() -> TestDb {
    let admin_url = format!("{}/postgres", server_url());
    let name = format!("herald_srv_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("create database {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&format!("{}/{name}", server_url()))
        .await
        .unwrap();
    herald_core::db::MIGRATOR.run(&pool).await.unwrap();
    TestDb {
        pool,
        admin_url,
        name,
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
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
