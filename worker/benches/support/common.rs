//! What the benchmarks share: their tokio runtime, the PostgreSQL server `DATABASE_URL` names,
//! the bench admin who sends, and the calendar with the most enrollments.

#![allow(dead_code)]

use std::future::Future;

use anyhow::Context;
use herald_core::accounts::{self, Role};
use herald_core::domain::{CalendarId, EmailAddress};
use herald_core::messaging::compose::Sender;
use secrecy::SecretString;
use sqlx::PgPool;

/// Runs a benchmark on a multi-threaded runtime, as the binaries run.
pub fn run(bench: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?
        .block_on(bench)
}

/// `DATABASE_URL` without its database name: where benchmark databases are made.
pub fn server_base() -> anyhow::Result<String> {
    let server =
        std::env::var("DATABASE_URL").context("DATABASE_URL must name a PostgreSQL server")?;
    Ok(server
        .rsplit_once('/')
        .map_or(server.as_str(), |(b, _)| b)
        .to_string())
}

/// The bench admin, created on first use.
pub async fn sender(pool: &PgPool) -> anyhow::Result<Sender> {
    let email = EmailAddress::parse("bench@district.example")?;
    let id = match accounts::create(
        pool,
        &email,
        "Bench Admin",
        &SecretString::from("bench-password".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await
    {
        Ok(id) => id,
        Err(accounts::AccountError::EmailTaken(_)) => {
            sqlx::query_scalar("select id from account where email = $1")
                .bind(email.as_str())
                .fetch_one(pool)
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Sender {
        account_id: id,
        name: "Bench Admin".into(),
        email,
    })
}

/// The calendar with the most enrollments.
pub async fn busiest_calendar(pool: &PgPool) -> anyhow::Result<CalendarId> {
    Ok(sqlx::query_scalar(
        "select calendar_id from enrollment group by calendar_id order by count(*) desc limit 1",
    )
    .fetch_one(pool)
    .await?)
}
