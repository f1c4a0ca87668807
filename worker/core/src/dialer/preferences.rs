//! The Dialer Preferences page (one `dialer_settings` row) and the configuration a worker dials
//! with: the stored preferences with ops overrides ([`DialerOverrides`]) applied.
//!
//! What must stay true:
//! - The auth token is write-only: [`DialerPreferences`] only says whether one is set, and
//!   [`DialerConfig`] keeps it in a `SecretString`. It is stored sealed ([`crate::secrets`]) and
//!   cleared when the API URL changes, so a saved token only ever goes to the provider it was
//!   entered for.
//! - Saving checks every field and names the one at fault; nothing is saved when one is wrong.
//! - A [`DialerConfig`] is complete: without an account SID, token and caller id there is none,
//!   and phone jobs wait.

use chrono::NaiveTime;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::config::{DialerOverrides, SecretsConfig};
use crate::domain::{DialWindow, EmailAddress, PhoneNumber};
use crate::secrets::Field;

/// The `<Say>` voices offered: provider voice name, what the page shows, its language.
pub const VOICES: &[(&str, &str, &str)] = &[
    ("Polly.Joanna", "Joanna — US English, female", "en-US"),
    ("Polly.Matthew", "Matthew — US English, male", "en-US"),
    ("Polly.Lupe", "Lupe — US Spanish, female", "es-US"),
    ("Polly.Pedro", "Pedro — US Spanish, male", "es-US"),
    ("woman", "Basic — English, female", "en-US"),
    ("man", "Basic — English, male", "en-US"),
];

/// The language that goes with a voice.
pub fn voice_language(voice: &str) -> &'static str {
    VOICES
        .iter()
        .find(|(v, _, _)| *v == voice)
        .map_or("en-US", |(_, _, l)| l)
}

/// The Dialer Preferences page, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DialerPreferences {
    /// Base URL of the voice provider's REST API, without a trailing `/`.
    pub api_url: String,
    /// The provider account id (`AC` and 32 hex digits); `None` until one is saved.
    pub account_sid: Option<String>,
    /// Whether an auth token is stored; the token itself is never read out.
    pub auth_token_set: bool,
    /// The caller ID calls come from, E.164; `None` until one is saved.
    pub from_number: Option<String>,
    /// The `<Say>` voice, one of [`VOICES`].
    pub voice: String,
    /// Calls started per second, held across all workers together.
    pub calls_per_second: f64,
    /// When the district's calling hours start each day, local time.
    pub calling_from: NaiveTime,
    /// When they end (exclusive), local time.
    pub calling_until: NaiveTime,
    /// How long a call rings before it counts as no answer, in seconds.
    pub ring_seconds: i32,
    /// How long after a busy line or no answer the number is called again, in minutes.
    pub retry_minutes: i32,
    /// Calls per number (per job) before a busy line or no answer is final.
    pub max_calls: i32,
    /// Wait for an answering machine's beep and leave the message.
    pub leave_voicemail: bool,
    /// Who gets an error report email when calls cannot be placed for a reason a person must fix.
    pub error_emails: Vec<String>,
}

/// What an admin saves. `auth_token`: `None` keeps the stored one; `Some("")` clears it.
/// `error_emails`: one address per line (commas and semicolons also separate).
#[derive(Debug, Clone)]
pub struct DialerPreferencesUpdate {
    /// Base URL of the voice provider's REST API; `http://` or `https://` and a host.
    pub api_url: String,
    /// The provider account id: blank, or `AC` and 32 hex digits.
    pub account_sid: String,
    /// The new token: `None` keeps the stored one, `Some("")` clears it.
    pub auth_token: Option<SecretString>,
    /// The caller ID: blank, or a phone number (stored as E.164).
    pub from_number: String,
    /// The `<Say>` voice; must be one of [`VOICES`].
    pub voice: String,
    /// Calls started per second: more than 0, at most 100.
    pub calls_per_second: f64,
    /// Calling hours start, `HH:MM` (or `HH:MM:SS`).
    pub calling_from: String,
    /// Calling hours end, `HH:MM` (or `HH:MM:SS`); after the start, the same day.
    pub calling_until: String,
    /// Ring time, 5 to 120 seconds.
    pub ring_seconds: i32,
    /// Minutes before calling a busy or unanswered number again, 1 to 1440.
    pub retry_minutes: i32,
    /// Calls per number, 1 to 10.
    pub max_calls: i32,
    /// Wait for an answering machine's beep and leave the message.
    pub leave_voicemail: bool,
    /// The error report addresses as typed.
    pub error_emails: String,
}

/// Errors of this module, naming the field at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DialerPreferencesError {
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// A stored, overridden or submitted value is not usable.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field, by the name the page shows (e.g. `Ring time`).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Phone jobs wait until these are filled in.
    #[error("the dialer is not set up: {} missing on Dialer Preferences", .0.join(", "))]
    NotConfigured(Vec<&'static str>),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> DialerPreferencesError {
    DialerPreferencesError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Reads the stored preferences.
pub async fn load(pool: &PgPool) -> Result<DialerPreferences, DialerPreferencesError> {
    let r = sqlx::query!(
        r#"select api_url, account_sid, auth_token is not null as "auth_token_set!", from_number,
                  voice, calls_per_second, calling_from, calling_until, ring_seconds,
                  retry_minutes, max_calls, leave_voicemail, error_emails
           from dialer_settings"#
    )
    .fetch_one(pool)
    .await?;
    Ok(DialerPreferences {
        api_url: r.api_url,
        account_sid: r.account_sid,
        auth_token_set: r.auth_token_set,
        from_number: r.from_number,
        voice: r.voice,
        calls_per_second: r.calls_per_second,
        calling_from: r.calling_from,
        calling_until: r.calling_until,
        ring_seconds: r.ring_seconds,
        retry_minutes: r.retry_minutes,
        max_calls: r.max_calls,
        leave_voicemail: r.leave_voicemail,
        error_emails: r.error_emails,
    })
}

fn check_api_url(url: &str) -> Result<(), DialerPreferencesError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("API URL", "must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(invalid(
            "API URL",
            "must name a host, like https://api.twilio.com",
        ));
    }
    Ok(())
}

fn parse_time(field: &'static str, s: &str) -> Result<NaiveTime, DialerPreferencesError> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M:%S"))
        .map_err(|_| invalid(field, format!("'{}' is not a time like 08:00", s.trim())))
}

/// Splits and checks the error list: every address must parse.
pub fn parse_error_emails(raw: &str) -> Result<Vec<EmailAddress>, DialerPreferencesError> {
    raw.split(['\n', ',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| {
            EmailAddress::parse(s).map_err(|e| {
                invalid(
                    "Error email list",
                    format!("address {} ('{s}'): {e}", i + 1),
                )
            })
        })
        .collect()
}

/// Checks and saves the preferences. A new token is stored sealed; the stored one is cleared
/// when the API URL changes and no new one is given.
pub async fn save(
    pool: &PgPool,
    u: &DialerPreferencesUpdate,
    secrets: &SecretsConfig,
) -> Result<(), DialerPreferencesError> {
    let api_url = u.api_url.trim().trim_end_matches('/');
    check_api_url(api_url)?;
    let sid = u.account_sid.trim();
    let well_formed = sid.is_empty()
        || (sid.len() == 34
            && sid.starts_with("AC")
            && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return Err(invalid(
            "Account SID",
            "is 'AC' followed by 32 hexadecimal characters, as the provider's console shows it",
        ));
    }
    let from = match u.from_number.trim() {
        "" => None,
        f => Some(
            PhoneNumber::parse(f)
                .map_err(|e| invalid("Caller ID", e.to_string()))?
                .to_string(),
        ),
    };
    if !VOICES.iter().any(|(v, _, _)| *v == u.voice) {
        return Err(invalid(
            "Voice",
            format!("'{}' is not one of the offered voices", u.voice),
        ));
    }
    if !(u.calls_per_second > 0.0 && u.calls_per_second <= 100.0) {
        return Err(invalid(
            "Calls per second",
            "must be more than 0 and at most 100",
        ));
    }
    let from_t = parse_time("Calling hours from", &u.calling_from)?;
    let until_t = parse_time("Calling hours until", &u.calling_until)?;
    DialWindow::new(from_t, until_t).map_err(|_| {
        invalid(
            "Calling hours",
            "must end after they start, on the same day",
        )
    })?;
    if !(5..=120).contains(&u.ring_seconds) {
        return Err(invalid("Ring time", "must be between 5 and 120 seconds"));
    }
    if !(1..=1440).contains(&u.retry_minutes) {
        return Err(invalid(
            "Call again after",
            "must be between 1 and 1440 minutes",
        ));
    }
    if !(1..=10).contains(&u.max_calls) {
        return Err(invalid("Calls per number", "must be between 1 and 10"));
    }
    let emails: Vec<String> = parse_error_emails(&u.error_emails)?
        .into_iter()
        .map(EmailAddress::into_inner)
        .collect();
    // A new token is sealed; "" clears; none keeps the stored one, unless the API URL changes:
    // a token is for one provider, and keeping it would let a new URL receive it.
    let token = match u.auth_token.as_ref().map(|t| t.expose_secret().trim()) {
        Some("") => Some(String::new()),
        Some(t) => Some(
            secrets
                .seal(Field::ProviderToken, t)
                .map_err(|e| invalid("Auth token", e.to_string()))?,
        ),
        None => None,
    };
    sqlx::query!(
        "update dialer_settings set api_url = $1, account_sid = $2,
             auth_token = case when $3::text is null
                               then case when dialer_settings.api_url = $1 then auth_token end
                               when $3 = '' then null else $3 end,
             from_number = $4, voice = $5, calls_per_second = $6, calling_from = $7,
             calling_until = $8, ring_seconds = $9, retry_minutes = $10, max_calls = $11,
             leave_voicemail = $12, error_emails = $13, updated_at = now()",
        api_url,
        Some(sid).filter(|s| !s.is_empty()),
        token,
        from,
        u.voice,
        u.calls_per_second,
        from_t,
        until_t,
        u.ring_seconds,
        u.retry_minutes,
        u.max_calls,
        u.leave_voicemail,
        &emails,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// When the Dialer Preferences were last saved: a worker reloads its configuration when this
/// changes.
pub async fn saved_at(
    pool: &PgPool,
) -> Result<chrono::DateTime<chrono::Utc>, DialerPreferencesError> {
    Ok(
        sqlx::query_scalar!("select updated_at from dialer_settings")
            .fetch_one(pool)
            .await?,
    )
}

/// The provider account calls are placed with.
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    /// Without a trailing slash, e.g. `https://api.twilio.com`.
    pub api_url: String,
    /// The provider account id (Twilio's Account SID).
    pub account_sid: String,
    /// The auth token, for HTTP basic auth and callback signatures.
    pub auth_token: SecretString,
}

/// What a worker dials with.
#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// The provider account.
    pub account: ProviderAccount,
    /// The caller ID calls come from.
    pub from: PhoneNumber,
    /// The `<Say>` voice.
    pub voice: String,
    /// Calls started per second, across all workers.
    pub calls_per_second: f64,
    /// The district's calling hours, local time; a message's dial window narrows them.
    pub calling_hours: DialWindow,
    /// How long a call rings before it counts as no answer, in seconds.
    pub ring_seconds: u32,
    /// Wait for an answering machine's beep and leave the message.
    pub leave_voicemail: bool,
}

/// The provider account with overrides applied, or what is missing. The server needs only this
/// (to check callback signatures).
pub async fn account(
    pool: &PgPool,
    o: &DialerOverrides,
    secrets: &SecretsConfig,
) -> Result<ProviderAccount, DialerPreferencesError> {
    let r = sqlx::query!("select api_url, account_sid, auth_token from dialer_settings")
        .fetch_one(pool)
        .await?;
    account_from(o, secrets, r.api_url, r.account_sid, r.auth_token)
}

fn account_from(
    o: &DialerOverrides,
    secrets: &SecretsConfig,
    api_url: String,
    sid: Option<String>,
    token: Option<String>,
) -> Result<ProviderAccount, DialerPreferencesError> {
    let sid = o.account_sid.clone().or(sid);
    let token = match (&o.auth_token, token) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(stored)) => Some(
            secrets
                .open(Field::ProviderToken, &stored)
                .map_err(|e| invalid("Auth token", e.to_string()))?,
        ),
        (None, None) => None,
    };
    let mut missing = Vec::new();
    if sid.is_none() {
        missing.push("Account SID");
    }
    if token.is_none() {
        missing.push("Auth token");
    }
    match (sid, token) {
        (Some(account_sid), Some(auth_token)) => Ok(ProviderAccount {
            api_url: o
                .api_url
                .clone()
                .unwrap_or(api_url)
                .trim_end_matches('/')
                .to_string(),
            account_sid,
            auth_token,
        }),
        _ => Err(DialerPreferencesError::NotConfigured(missing)),
    }
}

/// Loads the effective configuration.
pub async fn config(
    pool: &PgPool,
    o: &DialerOverrides,
    secrets: &SecretsConfig,
) -> Result<DialerConfig, DialerPreferencesError> {
    let r = sqlx::query!(
        "select api_url, account_sid, auth_token, from_number, voice, calls_per_second,
                calling_from, calling_until, ring_seconds, leave_voicemail
         from dialer_settings"
    )
    .fetch_one(pool)
    .await?;
    let from = o.from_number.clone().or(r.from_number);
    let account = account_from(o, secrets, r.api_url, r.account_sid, r.auth_token);
    let (account, from) = match (account, from) {
        (Ok(a), Some(f)) => (a, f),
        (Err(DialerPreferencesError::NotConfigured(mut m)), None) => {
            m.push("Caller ID");
            return Err(DialerPreferencesError::NotConfigured(m));
        }
        (Err(e), _) => return Err(e),
        (Ok(_), None) => return Err(DialerPreferencesError::NotConfigured(vec!["Caller ID"])),
    };
    Ok(DialerConfig {
        account,
        from: PhoneNumber::parse(&from).map_err(|e| invalid("Caller ID", e.to_string()))?,
        voice: r.voice,
        calls_per_second: r.calls_per_second,
        calling_hours: DialWindow::new(r.calling_from, r.calling_until)
            .map_err(|e| invalid("Calling hours", e.to_string()))?,
        ring_seconds: u32::try_from(r.ring_seconds).unwrap_or(30),
        leave_voicemail: r.leave_voicemail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_list_names_the_address_that_does_not_parse() {
        let e = parse_error_emails("ops@district.org\nnot-an-address").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Error email list: address 2 ('not-an-address')"),
            "{e}"
        );
        assert_eq!(
            parse_error_emails("a@d.org, b@d.org;\n\n c@d.org ")
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn a_missing_token_is_named() {
        let e = account_from(
            &DialerOverrides::default(),
            &SecretsConfig::default(),
            "http://x".into(),
            Some("AC1".into()),
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the dialer is not set up: Auth token missing on Dialer Preferences"
        );
    }

    #[test]
    fn environment_overrides_win_over_the_page() {
        let o = DialerOverrides {
            api_url: Some("https://api.twilio.com/".into()),
            account_sid: Some("ACenv".into()),
            auth_token: Some(SecretString::from("env-token")),
            from_number: None,
        };
        let a = account_from(
            &o,
            &SecretsConfig::default(),
            "http://127.0.0.1:8089".into(),
            Some("ACpage".into()),
            None,
        )
        .unwrap();
        assert_eq!(a.api_url, "https://api.twilio.com");
        assert_eq!(a.account_sid, "ACenv");
        assert_eq!(a.auth_token.expose_secret(), "env-token");
    }

    #[test]
    fn every_voice_has_its_own_language() {
        for (voice, _, language) in VOICES {
            assert_eq!(voice_language(voice), *language, "{voice}");
        }
        let names: std::collections::HashSet<_> = VOICES.iter().map(|v| v.0).collect();
        assert_eq!(names.len(), VOICES.len(), "each voice offered once");
        assert!(
            VOICES.iter().any(|v| v.2 == "es-US"),
            "not only the fallback"
        );
        assert_eq!(voice_language("Polly.Unknown"), "en-US");
    }
}
