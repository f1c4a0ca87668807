//! Connecting at start-up against a real PostgreSQL: waiting for one that is not up yet, giving
//! up on one that never comes or refuses, and the web pool's statement deadline.

use std::time::Duration;

use herald_core::config::{Config, DatabaseConfig};
use herald_core::db::{self, DbError, Purpose};
use herald_testing::db::TestDb;
use herald_testing::faulty_link::FaultyLink;
use secrecy::SecretString;

/// The test database's settings, reached through 127.0.0.1:`port`.
fn through_port(db: &TestDb, port: u16, wait_seconds: u64) -> DatabaseConfig {
    let (_, name) = db.url.rsplit_once('/').unwrap();
    let mut settings = Config::load_from(|_| None).unwrap().database;
    settings.url = SecretString::from(format!("postgres://postgres@127.0.0.1:{port}/{name}"));
    settings.start_wait_seconds = wait_seconds;
    settings
}

/// The port of the test PostgreSQL server.
fn server_port(db: &TestDb) -> u16 {
    let options: sqlx::postgres::PgConnectOptions = db.url.parse().unwrap();
    options.get_port()
}

/// A port nothing listens on (for now).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_a_postgres_that_comes_up_late_and_then_connects() {
    let db = TestDb::new().await;
    let port = free_port();
    let settings = through_port(&db, port, 60);
    let connecting =
        tokio::spawn(async move { db::connect_and_migrate(&settings, Purpose::Worker).await });
    // PostgreSQL "comes up" 1.5 s later: a link to the real server starts listening on the port.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!connecting.is_finished(), "start-up is still waiting");
    let _link = FaultyLink::start_on(port, server_port(&db)).await;
    let pool = tokio::time::timeout(Duration::from_secs(30), connecting)
        .await
        .expect("connected once PostgreSQL answered")
        .unwrap()
        .expect("a pool");
    let migrations = sqlx::query_scalar!(r#"select count(*) as "n!" from _sqlx_migrations"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(migrations as usize, db::MIGRATOR.iter().count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_gives_up_after_its_wait_naming_the_server_but_not_the_password() {
    let db = TestDb::new().await;
    let port = free_port();
    let mut settings = through_port(&db, port, 1);
    settings.url = SecretString::from(format!(
        "postgres://postgres:s3cret@127.0.0.1:{port}/herald"
    ));
    let e = db::connect_and_migrate(&settings, Purpose::Worker)
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, DbError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert_eq!(
        text,
        format!("PostgreSQL at 127.0.0.1:{port}/herald did not answer within 1 s")
    );
    assert!(!format!("{e:?}").contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_does_not_wait_for_a_server_that_refuses_the_sign_in() {
    let db = TestDb::new().await;
    let mut settings = through_port(&db, server_port(&db), 600);
    settings.url = SecretString::from(format!(
        "postgres://no_such_role@127.0.0.1:{}/herald",
        server_port(&db)
    ));
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        db::connect_and_migrate(&settings, Purpose::Worker),
    )
    .await
    .expect("a refusal is not waited out")
    .expect_err("no such role");
    assert!(matches!(e, DbError::Refused { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_pool_cancels_a_statement_past_its_deadline_unless_the_transaction_lifts_it() {
    let db = TestDb::new().await;
    let mut settings = through_port(&db, server_port(&db), 5);
    settings.web_statement_timeout_ms = 300;
    let web = db::connect_and_migrate(&settings, Purpose::Web)
        .await
        .unwrap();
    let worker = db::connect_and_migrate(&settings, Purpose::Worker)
        .await
        .unwrap();
    let slow = "select pg_sleep(1)";
    let e = sqlx::query(slow).execute(&web).await.expect_err("canceled");
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("57014"), "query_canceled: {e}");
    sqlx::query(slow)
        .execute(&worker)
        .await
        .expect("the worker's pool has no deadline");
    let mut tx = web.begin().await.unwrap();
    db::no_statement_timeout(&mut tx).await.unwrap();
    sqlx::query(slow)
        .execute(&mut *tx)
        .await
        .expect("lifted for this transaction");
    tx.commit().await.unwrap();
    sqlx::query(slow)
        .execute(&web)
        .await
        .expect_err("and only for it");
}
