//! Secrets at rest against a real PostgreSQL: the SMTP password and the provider token are stored
//! sealed and open only with the key; a new host or API URL clears a stored secret; secrets stored
//! as plain text before sealing existed are sealed at start-up, once, however many processes race.

use herald_core::config::{DialerOverrides, SecretsConfig, SmtpOverrides};
use herald_core::dialer::preferences::{self as dialer, DialerPreferencesUpdate};
use herald_core::messaging::email_preferences::{
    self as email, EmailPreferencesError, EmailPreferencesUpdate, TlsMode,
};
use herald_core::secrets::{self, SEALED};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

fn email_update(host: &str, password: Option<&str>) -> EmailPreferencesUpdate {
    EmailPreferencesUpdate {
        smtp_host: host.into(),
        smtp_port: 587,
        tls: TlsMode::Starttls,
        username: Some("herald".into()),
        password: password.map(|p| SecretString::from(p.to_string())),
        from_address: "messenger@district.example".into(),
        from_name: "District".into(),
        reply_to: None,
        portal_url: "https://portal.district.example/portal".into(),
    }
}

fn dialer_update(api_url: &str, token: Option<&str>) -> DialerPreferencesUpdate {
    DialerPreferencesUpdate {
        api_url: api_url.into(),
        account_sid: format!("AC{}", "0".repeat(32)),
        auth_token: token.map(|t| SecretString::from(t.to_string())),
        from_number: "+16125550100".into(),
        voice: "Polly.Joanna".into(),
        calls_per_second: 1.0,
        calling_from: "08:00".into(),
        calling_until: "20:00".into(),
        ring_seconds: 30,
        retry_minutes: 15,
        max_calls: 3,
        leave_voicemail: false,
        error_emails: String::new(),
    }
}

fn other_key() -> SecretsConfig {
    SecretsConfig {
        key: Some(SecretString::from(
            "b3RoZXIta2V5LW9mLTMyLWJ5dGVzLWZvci10ZXN0cyE=".to_string(),
        )),
    }
}

async fn stored(pool: &PgPool) -> (Option<String>, Option<String>) {
    let r = sqlx::query!(
        "select (select password from email_settings) as password,
                (select auth_token from dialer_settings) as token"
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (r.password, r.token)
}

/// Saves an SMTP password (`relay-pw`) and a provider token (`provider-tok`) through the pages'
/// save functions.
async fn save_both(pool: &PgPool, key: &SecretsConfig) {
    email::save(
        pool,
        &email_update("smtp.district.example", Some("relay-pw")),
        key,
    )
    .await
    .unwrap();
    dialer::save(
        pool,
        &dialer_update("https://api.twilio.com", Some("provider-tok")),
        key,
    )
    .await
    .unwrap();
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_saved_smtp_password_and_token_are_stored_sealed_and_open_only_with_the_key(
    pool: PgPool,
) {
    let key = herald_testing::secrets();
    save_both(&pool, &key).await;
    let (password, token) = stored(&pool).await;
    for (value, plain) in [(password, "relay-pw"), (token, "provider-tok")] {
        let value = value.unwrap();
        assert!(
            value.starts_with(SEALED) && !value.contains(plain),
            "{value}"
        );
    }

    let smtp = email::smtp_config(&pool, &SmtpOverrides::default(), &key)
        .await
        .unwrap();
    assert_eq!(smtp.password.unwrap().expose_secret(), "relay-pw");
    let account = dialer::account(&pool, &DialerOverrides::default(), &key)
        .await
        .unwrap();
    assert_eq!(account.auth_token.expose_secret(), "provider-tok");

    match email::smtp_config(&pool, &SmtpOverrides::default(), &other_key()).await {
        Err(EmailPreferencesError::Invalid { field, problem }) => {
            assert_eq!(field, "SMTP password");
            assert!(
                problem.contains("different HERALD__SECRETS__KEY"),
                "{problem}"
            );
        }
        other => panic!("opened with another key: {:?}", other.map(|c| c.host)),
    }
    assert!(
        dialer::account(&pool, &DialerOverrides::default(), &other_key())
            .await
            .is_err()
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_new_smtp_host_tls_mode_or_provider_url_saved_without_a_new_secret_clears_the_stored_one(
    pool: PgPool,
) {
    let key = herald_testing::secrets();
    save_both(&pool, &key).await;
    // Saving the same host or URL keeps the secret.
    email::save(&pool, &email_update("smtp.district.example", None), &key)
        .await
        .unwrap();
    dialer::save(&pool, &dialer_update("https://api.twilio.com", None), &key)
        .await
        .unwrap();
    let (password, token) = stored(&pool).await;
    assert!(password.is_some() && token.is_some());

    // Turning TLS off does not send the old password in clear text.
    let mut plain = email_update("smtp.district.example", None);
    plain.tls = TlsMode::None;
    email::save(&pool, &plain, &key).await.unwrap();
    assert!(!email::load(&pool).await.unwrap().password_set);
    email::save(
        &pool,
        &email_update("smtp.district.example", Some("relay-pw")),
        &key,
    )
    .await
    .unwrap();

    // A new host or URL does not get the old secret.
    email::save(&pool, &email_update("smtp.elsewhere.example", None), &key)
        .await
        .unwrap();
    dialer::save(
        &pool,
        &dialer_update("https://api.elsewhere.example", None),
        &key,
    )
    .await
    .unwrap();
    assert_eq!(stored(&pool).await, (None, None));
    assert!(!email::load(&pool).await.unwrap().password_set);

    // A new host with a new secret stores the new one.
    email::save(
        &pool,
        &email_update("smtp.elsewhere.example", Some("new-pw")),
        &key,
    )
    .await
    .unwrap();
    let smtp = email::smtp_config(&pool, &SmtpOverrides::default(), &key)
        .await
        .unwrap();
    assert_eq!(smtp.password.unwrap().expose_secret(), "new-pw");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_stored_as_plain_text_are_sealed_once_at_start_up_when_four_processes_race() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    sqlx::query!("update email_settings set password = 'legacy-pw'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query!("update dialer_settings set auth_token = 'legacy-tok'")
        .execute(&pool)
        .await
        .unwrap();
    let key = herald_testing::secrets();
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let (pool, key) = (pool.clone(), key.clone());
            tokio::spawn(async move { secrets::seal_plaintext(&pool, &key).await.unwrap() })
        })
        .collect();
    let mut sealed = 0;
    for r in racers {
        sealed += r.await.unwrap();
    }
    assert_eq!(sealed, 2, "each secret is sealed once");
    let (password, token) = stored(&pool).await;
    assert!(password.unwrap().starts_with(SEALED) && token.unwrap().starts_with(SEALED));
    let smtp = email::smtp_config(&pool, &SmtpOverrides::default(), &key)
        .await
        .unwrap();
    assert_eq!(smtp.password.unwrap().expose_secret(), "legacy-pw");
    assert_eq!(secrets::seal_plaintext(&pool, &key).await.unwrap(), 0);
}
