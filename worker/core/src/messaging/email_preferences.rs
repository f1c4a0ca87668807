//! Email Preferences: the SMTP server, sender and portal URL an admin saves on the Email
//! Preferences page, and [`SmtpConfig`], what a worker sends with once ops overrides from the
//! environment (`HERALD__SMTP__…`) are applied. Owns the one-row `email_settings` table.
//!
//! What must stay true:
//! - The password is write-only: [`EmailPreferences`] (what the admin page reads) only says
//!   whether one is set, and [`SmtpConfig`] keeps it in a `SecretString`. It is stored sealed
//!   ([`crate::secrets`]) and cleared when the host or the TLS mode changes, so a saved password
//!   only ever goes to the relay it was entered for, the way it was entered for.
//! - An ops override always wins over the stored value, for the page's display and for sending.
//! - A bad stored or overridden value is an [`EmailPreferencesError::Invalid`] naming the field.

use lettre::Address;
use lettre::message::Mailbox;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::config::{SecretsConfig, SmtpOverrides};
use crate::domain::EmailAddress;
use crate::secrets::Field;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a relay on a trusted network, or a local test server).
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl TlsMode {
    /// Every mode, in the order Email Preferences offers them.
    pub const ALL: [Self; 3] = [Self::None, Self::Starttls, Self::Tls];

    /// The mode as stored in `email_settings.tls` and set in `HERALD__SMTP__TLS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Starttls => "starttls",
            Self::Tls => "tls",
        }
    }

    /// Reads a mode, ignoring case and surrounding spaces; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "starttls" => Some(Self::Starttls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// The Email Preferences page, as stored. The password itself never leaves the database through
/// this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPreferences {
    /// SMTP relay host name or IP address.
    pub smtp_host: String,
    /// SMTP relay port (25 shown if the stored one is out of range).
    pub smtp_port: u16,
    /// How the connection is secured (plain shown if the stored mode is unknown).
    pub tls: TlsMode,
    /// SMTP user name; `None`: no authentication.
    pub username: Option<String>,
    /// Whether a password is stored; the password itself is never read out.
    pub password_set: bool,
    /// The From address of every message.
    pub from_address: String,
    /// The display name beside the From address.
    pub from_name: String,
    /// The Reply-To address, if replies should go elsewhere.
    pub reply_to: Option<String>,
    /// The parent portal's public URL, without a trailing `/`.
    pub portal_url: String,
}

/// What an admin saves from the page. `password`: `None` keeps the stored one; `Some("")`
/// clears it.
#[derive(Debug, Clone)]
pub struct EmailPreferencesUpdate {
    /// SMTP relay host name or IP address; trimmed, required.
    pub smtp_host: String,
    /// SMTP relay port, 1 to 65535.
    pub smtp_port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// SMTP user name; `None` or blank: no authentication.
    pub username: Option<String>,
    /// The new password: `None` keeps the stored one, `Some("")` clears it.
    pub password: Option<SecretString>,
    /// The From address; must parse as an [`EmailAddress`].
    pub from_address: String,
    /// The name recipients see; required.
    pub from_name: String,
    /// The Reply-To address; `None` or blank: none.
    pub reply_to: Option<String>,
    /// The parent portal's URL: `http://` or `https://` and a host; a trailing `/` is dropped.
    pub portal_url: String,
}

/// Errors of this module, naming the field at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum EmailPreferencesError {
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// A stored, overridden or submitted value is not usable.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field, by the name the page shows (e.g. `SMTP port`).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> EmailPreferencesError {
    EmailPreferencesError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Reads the stored preferences.
pub async fn load(pool: &PgPool) -> Result<EmailPreferences, EmailPreferencesError> {
    let r = sqlx::query!(
        "select smtp_host, smtp_port, tls, username, password is not null as \"password_set!\",
                from_address, from_name, reply_to, portal_url
         from email_settings"
    )
    .fetch_one(pool)
    .await?;
    Ok(EmailPreferences {
        smtp_host: r.smtp_host,
        smtp_port: u16::try_from(r.smtp_port).unwrap_or(25),
        tls: TlsMode::parse(&r.tls).unwrap_or(TlsMode::None),
        username: r.username,
        password_set: r.password_set,
        from_address: r.from_address,
        from_name: r.from_name,
        reply_to: r.reply_to,
        portal_url: r.portal_url,
    })
}

/// What the SMTP server has refused since the preferences were last saved, for the page: an
/// admin who saved a wrong password sees so there, and how many emails wait on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayTrouble {
    /// How many refused batches were recorded.
    pub refusals: i64,
    /// When the last was.
    pub last_at: chrono::DateTime<chrono::Utc>,
    /// Its cause, as `delivery_error.cause` stores it (`credentials`, `configuration`, `outage`).
    pub cause: String,
    /// The server's words.
    pub detail: String,
    /// Emails not yet sent nor ended.
    pub waiting: i64,
}

/// The SMTP server's refusals since the preferences were saved; `None` when there were none.
pub async fn relay_trouble(pool: &PgPool) -> Result<Option<RelayTrouble>, sqlx::Error> {
    let r = sqlx::query!(
        r#"select count(*) as "refusals!", max(e.at) as last_at,
                  (array_agg(e.cause order by e.at desc))[1] as cause,
                  (array_agg(e.detail order by e.at desc))[1] as detail,
                  (select count(*) from delivery_job
                   where device = 'email' and status in ('queued', 'leased', 'retrying')) as "waiting!"
           from delivery_error e, email_settings s
           where e.device = 'email' and e.at > s.updated_at"#
    )
    .fetch_one(pool)
    .await?;
    Ok(match (r.last_at, r.cause, r.detail) {
        (Some(last_at), Some(cause), Some(detail)) if r.refusals > 0 => Some(RelayTrouble {
            refusals: r.refusals,
            last_at,
            cause,
            detail,
            waiting: r.waiting,
        }),
        _ => None,
    })
}

fn check_url(field: &'static str, url: &str) -> Result<(), EmailPreferencesError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid(field, "must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') || url.contains(char::is_whitespace) {
        return Err(invalid(
            field,
            "must name a host, like https://portal.district.org/portal",
        ));
    }
    Ok(())
}

/// Checks and saves the preferences. A new password is stored sealed ([`crate::secrets`]); the
/// stored one is cleared when the host or the TLS mode changes and no new one is given.
pub async fn save(
    pool: &PgPool,
    u: &EmailPreferencesUpdate,
    secrets: &SecretsConfig,
) -> Result<(), EmailPreferencesError> {
    let host = u.smtp_host.trim();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid("SMTP host", "enter a host name or IP address"));
    }
    if u.smtp_port == 0 {
        return Err(invalid("SMTP port", "must be between 1 and 65535"));
    }
    let from =
        EmailAddress::parse(&u.from_address).map_err(|e| invalid("From address", e.to_string()))?;
    let reply_to = match u
        .reply_to
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(r) => Some(
            EmailAddress::parse(r)
                .map_err(|e| invalid("Reply-To address", e.to_string()))?
                .into_inner(),
        ),
        None => None,
    };
    let portal_url = u.portal_url.trim().trim_end_matches('/');
    check_url("Portal URL", portal_url)?;
    if u.from_name.trim().is_empty() {
        return Err(invalid("From name", "enter the name recipients see"));
    }
    let username = u
        .username
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    // A new password is sealed; "" clears; none keeps the stored one, unless the host or the TLS
    // mode changes: a password is for one relay over one kind of connection, and keeping it would
    // let a new host receive it, or send it in clear text once TLS is turned off.
    let password = match u.password.as_ref().map(|p| p.expose_secret()) {
        Some("") => Some(String::new()),
        Some(p) => Some(
            secrets
                .seal(Field::SmtpPassword, p)
                .map_err(|e| invalid("SMTP password", e.to_string()))?,
        ),
        None => None,
    };
    sqlx::query!(
        "update email_settings set smtp_host = $1, smtp_port = $2, tls = $3, username = $4,
             password = case when $5::text is null
                             then case when smtp_host = $1 and tls = $3 then password end
                             when $5 = '' then null else $5 end,
             from_address = $6, from_name = $7, reply_to = $8, portal_url = $9, updated_at = now()",
        host,
        i32::from(u.smtp_port),
        u.tls.as_str(),
        username,
        password,
        from.as_str(),
        u.from_name.trim(),
        reply_to,
        portal_url,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Sets the portal URL alone, checked as [`save`] checks it, and returns it as saved. For a demo
/// or test stack whose server is not at the default address (`herald-worker demo-dialer
/// --server-url`): links in messages and the voice provider's callbacks go to its site.
pub async fn save_portal_url(pool: &PgPool, url: &str) -> Result<String, EmailPreferencesError> {
    let url = url.trim().trim_end_matches('/');
    check_url("Portal URL", url)?;
    sqlx::query!(
        "update email_settings set portal_url = $1, updated_at = now()",
        url
    )
    .execute(pool)
    .await?;
    Ok(url.to_string())
}

/// When the Email Preferences were last saved: a worker rebuilds its SMTP pool when this changes.
pub async fn saved_at(
    pool: &PgPool,
) -> Result<chrono::DateTime<chrono::Utc>, EmailPreferencesError> {
    Ok(sqlx::query_scalar!("select updated_at from email_settings")
        .fetch_one(pool)
        .await?)
}

/// The portal URL merged into messages: the stored one unless ops override it.
pub async fn portal_url(pool: &PgPool, o: &SmtpOverrides) -> Result<String, EmailPreferencesError> {
    if let Some(url) = &o.portal_url {
        return Ok(url.clone());
    }
    Ok(sqlx::query_scalar!("select portal_url from email_settings")
        .fetch_one(pool)
        .await?)
}

/// The settings a worker sends with: the stored preferences with ops overrides applied.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// SMTP relay host name or IP address.
    pub host: String,
    /// SMTP relay port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// SMTP user name; `None`: no authentication.
    pub username: Option<String>,
    /// SMTP password, if one is set.
    pub password: Option<SecretString>,
    /// The From mailbox: the From name and address.
    pub from: Mailbox,
    /// The Reply-To mailbox, if one is set.
    pub reply_to: Option<Mailbox>,
    /// The parent portal's public URL, merged into messages and the base of unsubscribe links.
    pub portal_url: String,
}

impl SmtpConfig {
    /// The part of `portal_url` up to the path: where unsubscribe links point.
    pub fn origin(&self) -> &str {
        origin(&self.portal_url)
    }

    /// The domain of the From address, for Message-IDs.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }
}

/// `https://host:port` of a URL.
pub fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Loads the effective SMTP settings, opening the stored password with `secrets`.
pub async fn smtp_config(
    pool: &PgPool,
    o: &SmtpOverrides,
    secrets: &SecretsConfig,
) -> Result<SmtpConfig, EmailPreferencesError> {
    let r = sqlx::query!(
        "select smtp_host, smtp_port, tls, username, password, from_address, from_name, reply_to,
                portal_url
         from email_settings"
    )
    .fetch_one(pool)
    .await?;
    let pick = |ov: Option<String>, stored: String| ov.unwrap_or(stored);
    let host = pick(o.host.clone(), r.smtp_host);
    let port = pick(o.port.map(|p| p.to_string()), r.smtp_port.to_string());
    let tls = pick(o.tls.clone(), r.tls);
    let username = pick(o.username.clone(), r.username.unwrap_or_default());
    let from_address = pick(o.from_address.clone(), r.from_address);
    let from_name = pick(o.from_name.clone(), r.from_name);
    let reply_to = pick(o.reply_to.clone(), r.reply_to.unwrap_or_default());
    let portal_url = pick(o.portal_url.clone(), r.portal_url);
    let password = match (&o.password, r.password) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(stored)) => Some(
            secrets
                .open(Field::SmtpPassword, &stored)
                .map_err(|e| invalid("SMTP password", e.to_string()))?,
        ),
        (None, None) => None,
    };
    let mailbox = |field: &'static str, name: Option<String>, addr: &str| {
        addr.parse::<Address>()
            .map(|a| Mailbox::new(name, a))
            .map_err(|e| invalid(field, e.to_string()))
    };
    Ok(SmtpConfig {
        port: port
            .parse()
            .map_err(|_| invalid("SMTP port", format!("'{port}' is not a port number")))?,
        tls: TlsMode::parse(&tls)
            .ok_or_else(|| invalid("TLS", format!("'{tls}' is not one of none, starttls, tls")))?,
        host,
        username: Some(username).filter(|u| !u.is_empty()),
        password,
        from: mailbox("From address", Some(from_name), &from_address)?,
        reply_to: if reply_to.is_empty() {
            None
        } else {
            Some(mailbox("Reply-To address", None, &reply_to)?)
        },
        portal_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_of_a_url_drops_its_path() {
        assert_eq!(
            origin("https://a.example:8443/portal/x"),
            "https://a.example:8443"
        );
        assert_eq!(origin("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
    }
}
