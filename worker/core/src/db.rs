//! The PostgreSQL pool and the embedded migrations.
//!
//! PostgreSQL is Herald's one source of truth and its queue. Migrations live in
//! `worker/core/migrations`, numbered, and are never edited once landed; both binaries run
//! [`MIGRATOR`] at start so a fresh database is always brought up to date.
//!
//! What must stay true:
//! - A process that starts while PostgreSQL is down or still starting waits for it
//!   ([`DatabaseConfig::start_wait_seconds`], backing off up to [`MAX_BACKOFF`]), logging each
//!   try with the server's address (never the URL: it may hold a password); it gives up at once
//!   only on what waiting cannot fix (a refused sign-in, a missing database, a malformed URL).
//! - Every connection of a [`Purpose::Web`] pool carries a `statement_timeout`, so one runaway
//!   statement cannot hold a web request (and its pooled connection) for ever; a statement that
//!   is long by design (a roster import) lifts it for its own transaction ([`no_statement_timeout`]).
//! - Migrations run on a connection of their own, with no statement timeout.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::config::DatabaseConfig;

/// The schema, embedded at compile time from `worker/core/migrations`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The first pause between tries to reach PostgreSQL at start-up; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause between tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long one try to connect may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// Which process a pool serves: that decides whether its statements have a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The web server: each statement gets
    /// [`DatabaseConfig::web_statement_timeout_ms`].
    Web,
    /// The worker and the command-line tools: statements run as long as they must.
    Worker,
}

/// Why the database could not be reached or brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The connection URL cannot be read.
    #[error("the database URL is not valid")]
    Url(#[source] sqlx::Error),
    /// PostgreSQL refused the connection for a reason waiting cannot fix (a wrong password, a
    /// missing database).
    #[error("PostgreSQL at {server} refused the connection")]
    Refused {
        /// Host, port and database.
        server: String,
        /// What PostgreSQL said.
        #[source]
        source: sqlx::Error,
    },
    /// PostgreSQL did not answer within the start-up wait.
    #[error("PostgreSQL at {server} did not answer within {wait_seconds} s")]
    Unreachable {
        /// Host, port and database.
        server: String,
        /// How long the process waited ([`DatabaseConfig::start_wait_seconds`]).
        wait_seconds: u64,
        /// The last try's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed, or the database holds migrations this build does not know.
    #[error("could not apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connects (waiting for the server as the settings allow), applies pending migrations, and
/// returns a pool for `purpose`: what every Herald process does first.
pub async fn connect_and_migrate(
    settings: &DatabaseConfig,
    purpose: Purpose,
) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = settings.url.expose_secret().parse().map_err(DbError::Url)?;
    let wait = Duration::from_secs(settings.start_wait_seconds);
    let mut conn = wait_for_server(&options, wait).await?;
    MIGRATOR
        .run_direct(&mut conn)
        .await
        .map_err(DbError::Migrate)?;
    let _ = conn.close().await;
    let options = match purpose {
        Purpose::Web => options.options([(
            "statement_timeout",
            settings.web_statement_timeout_ms.to_string(),
        )]),
        Purpose::Worker => options,
    };
    // `connect_lazy_with`: the server answered a moment ago, and a pool that cannot open a
    // connection later says so on each acquire (after `acquire_timeout`).
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options))
}

/// Lifts the web pool's statement timeout for the rest of the transaction `conn` is in: for
/// work that is long by design, such as a roster import.
pub async fn no_statement_timeout(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!("select set_config('statement_timeout', '0', true)")
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Where `options` point, for log lines and errors: host, port and database, never the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}

/// Opens one connection, trying again with backoff while the failure is one that waiting can
/// fix and `wait` has not run out.
async fn wait_for_server(
    options: &PgConnectOptions,
    wait: Duration,
) -> Result<PgConnection, DbError> {
    let server = describe(options);
    let started = tokio::time::Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let error = match tokio::time::timeout(CONNECT_DEADLINE, options.connect()).await {
            Ok(Ok(conn)) => {
                if tries > 1 {
                    tracing::info!(%server, tries, waited = ?started.elapsed(), "PostgreSQL answers");
                }
                return Ok(conn);
            }
            Ok(Err(e)) => e,
            Err(_) => sqlx::Error::PoolTimedOut,
        };
        if !worth_waiting_for(&error) {
            return Err(DbError::Refused {
                server,
                source: error,
            });
        }
        let waited = started.elapsed();
        if waited + backoff > wait {
            return Err(DbError::Unreachable {
                server,
                wait_seconds: wait.as_secs(),
                source: error,
            });
        }
        tracing::warn!(
            %server, error = %error, retry_in = ?backoff, waited = ?waited, gives_up_after = ?wait,
            "waiting for PostgreSQL"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Whether a failed connection may succeed later: the server is down, starting, restarting or
/// full. A refused password, a missing database or a bad setting will not fix itself.
fn worth_waiting_for(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // cannot_connect_now (starting up or shutting down), too_many_connections,
            // admin_shutdown / crash_shutdown, and the connection_exception class.
            Some("57P03" | "53300" | "57P01" | "57P02" | "08000" | "08001" | "08004" | "08006")
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_described_without_its_password() {
        let options: PgConnectOptions = "postgres://herald:s3cret@db.district.example:6432/herald"
            .parse()
            .unwrap();
        let text = describe(&options);
        assert_eq!(text, "db.district.example:6432/herald");
    }

    #[test]
    fn a_server_that_is_down_is_waited_for_but_a_refused_sign_in_is_not() {
        let down = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(worth_waiting_for(&down));
        assert!(worth_waiting_for(&sqlx::Error::PoolTimedOut));
        assert!(!worth_waiting_for(&sqlx::Error::Configuration(
            "bad".into()
        )));
    }
}
