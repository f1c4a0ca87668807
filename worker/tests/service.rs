//! The worker loop against a real PostgreSQL.

use std::time::Duration;

use herald_core::accounts::{self, Role};
use herald_core::domain::EmailAddress;
use herald_core::settings::Settings;
use secrecy::SecretString;
use sqlx::PgPool;

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_worker_removes_expired_sessions_and_stops_when_asked(pool: PgPool) {
    let settings = Settings::load_from(|_| None).unwrap();
    let email = EmailAddress::parse("ada@district.example").unwrap();
    let pw = SecretString::from("pw".to_string());
    accounts::create(&pool, &email, "Ada", &pw, Role::DistrictAdmin, None)
        .await
        .unwrap();
    let (_, live) = accounts::sign_in(&pool, &settings.auth, "ada@district.example", &pw)
        .await
        .unwrap();
    let (_, old) = accounts::sign_in(&pool, &settings.auth, "ada@district.example", &pw)
        .await
        .unwrap();
    sqlx::query!(
        "update auth_session set expires_at = now() - interval '1 minute' where token_hash = (select token_hash from auth_session order by created_at desc limit 1)"
    )
    .execute(&pool)
    .await
    .unwrap();
    let stop = tokio::time::sleep(Duration::from_millis(300));
    herald_core::service::run(pool.clone(), settings, stop)
        .await
        .unwrap();
    let remaining = sqlx::query_scalar!(r#"select count(*) as "n!" from auth_session"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(remaining, 1);
    let live_ok = accounts::session_account(&pool, &live)
        .await
        .unwrap()
        .is_some();
    let old_ok = accounts::session_account(&pool, &old)
        .await
        .unwrap()
        .is_some();
    assert!(live_ok ^ old_ok, "exactly the expired one is gone");
}
