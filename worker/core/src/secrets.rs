//! Secrets at rest: the SMTP password and the voice provider's auth token are stored sealed
//! (ChaCha20-Poly1305, `ring`) with a key that lives only in the environment
//! (`HERALD__SECRETS__KEY`, 32 random bytes in base64), so a copy of the database, a backup or a
//! read-only SQL session does not give away the credentials.
//!
//! What must stay true:
//! - Every secret Herald writes is sealed ([`SecretsConfig::seal`]); it is opened only where it is
//!   used (the worker's SMTP pool and provider client, the server's callback check), into a
//!   [`SecretString`], and never `Debug`-printed or sent to a browser.
//! - A sealed value names what it is for (its [`Field`], as associated data): a sealed SMTP
//!   password copied into the token column does not open.
//! - A value stored before sealing existed (plain text, no [`SEALED`] prefix) still opens, and
//!   [`seal_plaintext`], run when the server and the worker start, seals it in place.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

pub use crate::config::SecretsConfig;

/// The prefix of a sealed value: version 1 is ChaCha20-Poly1305, a 12-byte random nonce, then
/// the ciphertext and its tag, in base64.
pub const SEALED: &str = "sealed:v1:";

/// Which secret a value is: sealed with its name as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `email_settings.password`.
    SmtpPassword,
    /// `dialer_settings.auth_token`.
    ProviderToken,
}

impl Field {
    fn aad(self) -> &'static [u8] {
        match self {
            Self::SmtpPassword => b"email_settings.password",
            Self::ProviderToken => b"dialer_settings.auth_token",
        }
    }
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// No key is configured.
    #[error(
        "Herald has no key to protect stored secrets: set HERALD__SECRETS__KEY to 32 random bytes in base64 (openssl rand -base64 32)"
    )]
    NoKey,
    /// The configured key is not 32 bytes of base64.
    #[error("HERALD__SECRETS__KEY must be 32 bytes in base64 (openssl rand -base64 32): {0}")]
    BadKey(String),
    /// A sealed value does not open with this key: it was sealed with another key, or altered.
    #[error(
        "the stored value was sealed with a different HERALD__SECRETS__KEY, or altered: enter it again"
    )]
    WrongKey,
    /// The system's random number generator failed.
    #[error("no randomness for a nonce")]
    Random,
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
}

/// The key, ready to seal and open.
struct Key(LessSafeKey);

impl SecretsConfig {
    fn key(&self) -> Result<Key, SecretsError> {
        let encoded = self.key.as_ref().ok_or(SecretsError::NoKey)?;
        let bytes = STANDARD
            .decode(encoded.expose_secret().trim())
            .map_err(|e| SecretsError::BadKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(SecretsError::BadKey(format!(
                "it decodes to {} bytes",
                bytes.len()
            )));
        }
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| SecretsError::BadKey("not a key".into()))?;
        Ok(Key(LessSafeKey::new(unbound)))
    }

    /// Checks that a usable key is configured: the server and the worker refuse to start without
    /// one, so an admin never meets the problem on a form.
    pub fn check(&self) -> Result<(), SecretsError> {
        self.key().map(|_| ())
    }

    /// `plain` sealed for storage as `field`.
    pub fn seal(&self, field: Field, plain: &str) -> Result<String, SecretsError> {
        let key = self.key()?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretsError::Random)?;
        let mut sealed = plain.as_bytes().to_vec();
        key.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(field.aad()),
                &mut sealed,
            )
            .map_err(|_| SecretsError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", STANDARD.encode(out)))
    }

    /// The secret a stored `field` value holds: opened when sealed, as is when stored before
    /// sealing existed.
    pub fn open(&self, field: Field, stored: &str) -> Result<SecretString, SecretsError> {
        let Some(encoded) = stored.strip_prefix(SEALED) else {
            return Ok(SecretString::from(stored.to_string()));
        };
        let key = self.key()?;
        let mut bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretsError::WrongKey)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretsError::WrongKey);
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| SecretsError::WrongKey)?;
        let plain = key
            .0
            .open_in_place(nonce, Aad::from(field.aad()), &mut sealed)
            .map_err(|_| SecretsError::WrongKey)?;
        let plain = std::str::from_utf8(plain).map_err(|_| SecretsError::WrongKey)?;
        Ok(SecretString::from(plain.to_string()))
    }
}

/// Seals, in place, every secret still stored as plain text; returns how many. Safe to run on
/// several processes at once: each update applies only while the value is the plain text read.
pub async fn seal_plaintext(pool: &PgPool, config: &SecretsConfig) -> Result<u64, SecretsError> {
    let mut sealed = 0;
    if let Some(plain) = stored::smtp_password(pool).await?
        && !plain.starts_with(SEALED)
    {
        let value = config.seal(Field::SmtpPassword, &plain)?;
        sealed += stored::replace_smtp_password(pool, &plain, &value).await?;
    }
    if let Some(plain) = stored::provider_token(pool).await?
        && !plain.starts_with(SEALED)
    {
        let value = config.seal(Field::ProviderToken, &plain)?;
        sealed += stored::replace_provider_token(pool, &plain, &value).await?;
    }
    Ok(sealed)
}

mod stored {
    use sqlx::PgPool;

    pub async fn smtp_password(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
        Ok(sqlx::query_scalar!("select password from email_settings")
            .fetch_optional(pool)
            .await?
            .flatten())
    }

    pub async fn replace_smtp_password(
        pool: &PgPool,
        old: &str,
        new: &str,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query!(
            "update email_settings set password = $2 where password = $1",
            old,
            new
        )
        .execute(pool)
        .await?
        .rows_affected())
    }

    pub async fn provider_token(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
        Ok(
            sqlx::query_scalar!("select auth_token from dialer_settings")
                .fetch_optional(pool)
                .await?
                .flatten(),
        )
    }

    pub async fn replace_provider_token(
        pool: &PgPool,
        old: &str,
        new: &str,
    ) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query!(
            "update dialer_settings set auth_token = $2 where auth_token = $1",
            old,
            new
        )
        .execute(pool)
        .await?
        .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: &str) -> SecretsConfig {
        SecretsConfig {
            key: Some(SecretString::from(key.to_string())),
        }
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER: &str = "HxwdHhscGRoXGBUWExQREg8QDQ4LDAkKBwgFBgMEAQI=";

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_does_not_show_in_what_is_stored() {
        let c = config(KEY);
        let stored = c.seal(Field::SmtpPassword, "hunter2-relay").unwrap();
        assert!(stored.starts_with(SEALED) && !stored.contains("hunter2"));
        let opened = c.open(Field::SmtpPassword, &stored).unwrap();
        assert_eq!(opened.expose_secret(), "hunter2-relay");
        assert_ne!(
            stored,
            c.seal(Field::SmtpPassword, "hunter2-relay").unwrap(),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn a_sealed_secret_does_not_open_with_another_key_as_another_field_or_altered() {
        let stored = config(KEY).seal(Field::SmtpPassword, "pw").unwrap();
        assert!(matches!(
            config(OTHER).open(Field::SmtpPassword, &stored),
            Err(SecretsError::WrongKey)
        ));
        assert!(matches!(
            config(KEY).open(Field::ProviderToken, &stored),
            Err(SecretsError::WrongKey)
        ));
        let mut altered = stored.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(config(KEY).open(Field::SmtpPassword, &altered).is_err());
    }

    #[test]
    fn a_value_stored_before_sealing_opens_as_it_is() {
        let opened = SecretsConfig::default()
            .open(Field::ProviderToken, "plain-token")
            .unwrap();
        assert_eq!(opened.expose_secret(), "plain-token");
    }

    #[test]
    fn a_missing_or_malformed_key_is_refused_saying_how_to_make_one() {
        assert!(matches!(
            SecretsConfig::default().seal(Field::SmtpPassword, "pw"),
            Err(SecretsError::NoKey)
        ));
        let e = config("c2hvcnQ=").check().unwrap_err();
        assert!(e.to_string().contains("decodes to 5 bytes"), "{e}");
        assert!(
            SecretsError::NoKey
                .to_string()
                .contains("openssl rand -base64 32")
        );
    }
}
