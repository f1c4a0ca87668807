//! Sign-in against a real PostgreSQL: sessions, sign-out, expiry and the failed-attempt throttle.
//! Each test gets its own database from `#[sqlx::test]`.

use herald_core::accounts::{self, AccountError, Role};
use herald_core::config::AuthConfig;
use herald_core::domain::EmailAddress;
use secrecy::SecretString;
use sqlx::PgPool;

fn settings() -> AuthConfig {
    // The limits the tests count against; the rest as herald.toml has them.
    AuthConfig {
        max_failures: 3,
        max_failures_per_address: 5,
        max_failures_per_account: 6,
        known_address_days: 90,
        failure_window_minutes: 15,
        ..herald_core::config::Config::load_from(|_| None)
            .expect("default settings load")
            .auth
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

async fn admin(pool: &PgPool) {
    let email = EmailAddress::parse("Ada@District.example").unwrap();
    accounts::create(
        pool,
        &email,
        "Ada Admin",
        &secret("right password"),
        Role::DistrictAdmin,
        None,
    )
    .await
    .unwrap();
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn signing_in_opens_a_session_that_names_the_account(pool: PgPool) {
    admin(&pool).await;
    let (account, token) = accounts::sign_in(
        &pool,
        &settings(),
        " ada@district.EXAMPLE ",
        &secret("right password"),
        herald_testing::HOME,
    )
    .await
    .unwrap();
    assert_eq!(account.role, Role::DistrictAdmin);
    let session = accounts::session_account(&pool, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.account.email, "ada@district.example");
    assert_eq!(session.calendar_id, None);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_database_stores_only_a_hash_of_the_session_token(pool: PgPool) {
    admin(&pool).await;
    let (_, token) = accounts::sign_in(
        &pool,
        &settings(),
        "ada@district.example",
        &secret("right password"),
        herald_testing::HOME,
    )
    .await
    .unwrap();
    let stored: Vec<u8> = sqlx::query_scalar!("select token_hash from auth_session")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Exactly the SHA-256 of the cookie's value, which is not the token nor its decoded bytes.
    use sha2::Digest;
    let expected = sha2::Sha256::digest(token.expose().as_bytes()).to_vec();
    assert_eq!(stored, expected);
    assert_ne!(Some(stored), hex::decode(token.expose()).ok());
    let hash: String = sqlx::query_scalar!("select password_hash from account")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_wrong_password_and_an_unknown_email_are_refused_alike(pool: PgPool) {
    admin(&pool).await;
    let wrong = accounts::sign_in(
        &pool,
        &settings(),
        "ada@district.example",
        &secret("nope"),
        herald_testing::HOME,
    )
    .await;
    assert!(matches!(wrong, Err(AccountError::InvalidCredentials)));
    let unknown = accounts::sign_in(
        &pool,
        &settings(),
        "nobody@district.example",
        &secret("nope"),
        herald_testing::HOME,
    )
    .await;
    assert!(matches!(unknown, Err(AccountError::InvalidCredentials)));
    let sessions: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from auth_session"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn repeated_failures_throttle_the_email_even_with_the_right_password(pool: PgPool) {
    admin(&pool).await;
    for _ in 0..3 {
        let r = accounts::sign_in(
            &pool,
            &settings(),
            "ada@district.example",
            &secret("guess"),
            herald_testing::HOME,
        )
        .await;
        assert!(matches!(r, Err(AccountError::InvalidCredentials)));
    }
    let r = accounts::sign_in(
        &pool,
        &settings(),
        "ada@district.example",
        &secret("right password"),
        herald_testing::HOME,
    )
    .await;
    assert!(
        matches!(r, Err(AccountError::Throttled { minutes: 15 })),
        "{r:?}"
    );
    // Another email is not affected.
    let other = accounts::sign_in(
        &pool,
        &settings(),
        "someone@district.example",
        &secret("x"),
        herald_testing::HOME,
    )
    .await;
    assert!(matches!(other, Err(AccountError::InvalidCredentials)));
}

fn at(address: &str) -> std::net::IpAddr {
    address.parse().unwrap()
}

/// How a sign-in as Ada from `from` ends.
async fn ada(pool: &PgPool, password: &str, from: &str) -> &'static str {
    attempt(pool, "ada@district.example", password, from).await
}

/// How a sign-in as `email` from `from` ends.
async fn attempt(pool: &PgPool, email: &str, password: &str, from: &str) -> &'static str {
    match accounts::sign_in(pool, &settings(), email, &secret(password), at(from)).await {
        Ok(_) => "signed in",
        Err(AccountError::InvalidCredentials) => "wrong password",
        Err(AccountError::Throttled { .. }) => "throttled",
        Err(e) => panic!("{e:?}"),
    }
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn guesses_from_one_address_never_keep_the_owner_out_from_another(pool: PgPool) {
    admin(&pool).await;
    for _ in 0..3 {
        ada(&pool, "guess", "203.0.113.9").await;
    }
    assert_eq!(
        ada(&pool, "right password", "203.0.113.9").await,
        "throttled",
        "the guessing address is held back, even with the right password"
    );
    assert_eq!(
        ada(&pool, "right password", "198.51.100.7").await,
        "signed in",
        "the owner, elsewhere, is not"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn many_addresses_guessing_one_account_hold_back_new_addresses_but_not_one_its_owner_used(
    pool: PgPool,
) {
    admin(&pool).await;
    // The owner signed in from home once.
    assert_eq!(
        ada(&pool, "right password", "192.0.2.50").await,
        "signed in"
    );
    // Two strangers' addresses use up the account's ceiling (6) at 3 guesses each.
    for stranger in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..3 {
            assert_eq!(
                attempt(&pool, "ada@district.example", "guess", stranger).await,
                "wrong password"
            );
        }
    }
    assert_eq!(
        ada(&pool, "guess", "203.0.113.3").await,
        "throttled",
        "a third stranger is held back by the account's ceiling"
    );
    assert_eq!(
        ada(&pool, "right password", "198.51.100.7").await,
        "throttled",
        "so is an address the owner never signed in from"
    );
    assert_eq!(
        ada(&pool, "right password", "192.0.2.50").await,
        "signed in",
        "but not the owner's own address"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn one_address_spraying_many_emails_is_throttled_whatever_the_email(pool: PgPool) {
    admin(&pool).await;
    // Five failures (the address's limit) over five emails, one each.
    for n in 0..5 {
        let email = format!("guess{n}@district.example");
        assert_eq!(
            attempt(&pool, &email, "password1", "203.0.113.9").await,
            "wrong password"
        );
    }
    assert_eq!(
        ada(&pool, "right password", "203.0.113.9").await,
        "throttled",
        "a sixth email from that address is refused before its password is checked"
    );
    assert_eq!(
        ada(&pool, "right password", "198.51.100.7").await,
        "signed in",
        "another address is not affected"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn addresses_in_one_ipv6_64_block_share_one_throttle(pool: PgPool) {
    admin(&pool).await;
    for host in 1..=3 {
        let from = format!("2001:db8:1:2::{host}");
        ada(&pool, "guess", &from).await;
    }
    assert_eq!(
        ada(&pool, "right password", "2001:db8:1:2::ffff").await,
        "throttled"
    );
    assert_eq!(
        ada(&pool, "right password", "2001:db8:1:3::1").await,
        "signed in"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_success_clears_earlier_failures(pool: PgPool) {
    admin(&pool).await;
    let failures = |email: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar!(
                r#"select count(*) as "n!" from sign_in_failure where email = $1"#,
                email
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(ada(&pool, "guess", "192.0.2.1").await, "wrong password");
    assert_eq!(ada(&pool, "guess", "203.0.113.9").await, "wrong password");
    assert_eq!(
        attempt(&pool, "bo@district.example", "guess", "192.0.2.1").await,
        "wrong password"
    );
    assert_eq!(failures("ada@district.example").await, 2);
    assert_eq!(ada(&pool, "right password", "192.0.2.1").await, "signed in");
    assert_eq!(
        failures("ada@district.example").await,
        0,
        "Ada's failures from every address are cleared"
    );
    assert_eq!(
        failures("bo@district.example").await,
        1,
        "another email's are not"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn signing_out_or_expiry_ends_the_session(pool: PgPool) {
    admin(&pool).await;
    let s = settings();
    let (_, a) = accounts::sign_in(
        &pool,
        &s,
        "ada@district.example",
        &secret("right password"),
        herald_testing::HOME,
    )
    .await
    .unwrap();
    let (_, b) = accounts::sign_in(
        &pool,
        &s,
        "ada@district.example",
        &secret("right password"),
        herald_testing::HOME,
    )
    .await
    .unwrap();
    accounts::sign_out(&pool, &a).await.unwrap();
    assert!(
        accounts::session_account(&pool, &a)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        accounts::session_account(&pool, &b)
            .await
            .unwrap()
            .is_some()
    );
    sqlx::query!("update auth_session set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        accounts::session_account(&pool, &b)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(accounts::purge_expired(&pool, &s).await.unwrap(), 1);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_email_can_hold_only_one_account(pool: PgPool) {
    admin(&pool).await;
    let email = EmailAddress::parse("ada@district.example").unwrap();
    let again = accounts::create(
        &pool,
        &email,
        "Ada Again",
        &secret("x"),
        Role::DistrictAdmin,
        None,
    )
    .await;
    assert!(matches!(again, Err(AccountError::EmailTaken(_))));
}

#[test]
fn parallel_guesses_cannot_slip_past_the_throttle_together() {
    // Twelve guesses at once for one email, on a multi-threaded runtime: only max_failures (3)
    // get a password check; the rest are throttled without one.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = herald_testing::db::TestDb::new().await;
        let pool = db.pool.clone();
        admin(&pool).await;
        let guesses = (0..12).map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                accounts::sign_in(
                    &pool,
                    &settings(),
                    "ada@district.example",
                    &secret(&format!("guess {i}")),
                    herald_testing::HOME,
                )
                .await
            })
        });
        let mut checked = 0;
        let mut throttled = 0;
        for g in futures::future::join_all(guesses).await {
            match g.unwrap() {
                Err(AccountError::InvalidCredentials) => checked += 1,
                Err(AccountError::Throttled { .. }) => throttled += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((checked, throttled), (3, 9));
    });
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn purging_forgets_failures_past_the_window_and_addresses_past_their_days_only(pool: PgPool) {
    sqlx::query!(
        "insert into sign_in_failure (email, address, failed_at) values
             ('old@district.example', '192.0.2.1', now() - interval '20 minutes'),
             ('new@district.example', '192.0.2.1', now() - interval '1 minute')"
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query!(
        "insert into sign_in_known_address (email, address, signed_in_at) values
             ('old@district.example', '192.0.2.1', now() - interval '100 days'),
             ('new@district.example', '192.0.2.1', now() - interval '1 day')"
    )
    .execute(&pool)
    .await
    .unwrap();
    accounts::purge_expired(&pool, &settings()).await.unwrap();
    let failures: Vec<String> = sqlx::query_scalar!("select email from sign_in_failure")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(failures, ["new@district.example"], "15-minute window");
    let known: Vec<String> = sqlx::query_scalar!("select email from sign_in_known_address")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(known, ["new@district.example"], "90 days");
}
