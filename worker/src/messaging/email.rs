//! Email: the Email Preferences (stored in Postgres, overridable by ops from the environment),
//! building each email, and a pool of SMTP connections that sends them.
//!
//! What must stay true:
//! - The password is write-only: [`EmailPreferences`] (what the admin page reads) only says
//!   whether one is set, and [`SmtpConfig`] keeps it in a `SecretString`.
//! - Each email has a stable `Message-ID` derived from its job, so a resend after a crash is
//!   recognisably the same email.
//! - Emails about any reason but Emergency carry `List-Unsubscribe` and
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
//! - SMTP 5xx is [`Failure::Fatal`] with the server's text kept; 4xx, timeouts and broken
//!   connections are [`Failure::Retryable`].
//!
//! Why a pool of our own: lettre's pooled transport cannot set `TCP_NODELAY`, and without it each
//! message waits on delayed ACKs (about 21 messages/s per connection, see TOOLCHAIN.md). Here each
//! plain or STARTTLS connection is a tokio `TcpStream` with `nodelay` set, handed to lettre's
//! `AsyncSmtpConnection`; lettre still speaks SMTP.

use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::{Mutex, Semaphore};

use super::queue::Failure;
use crate::domain::EmailAddress;
use crate::settings::SmtpOverrides;

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
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Starttls => "starttls",
            Self::Tls => "tls",
        }
    }

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
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password_set: bool,
    pub from_address: String,
    pub from_name: String,
    pub reply_to: Option<String>,
    pub portal_url: String,
}

/// What an admin saves from the page. `password`: `None` keeps the stored one; `Some("")`
/// clears it.
#[derive(Debug, Clone)]
pub struct EmailPreferencesUpdate {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from_address: String,
    pub from_name: String,
    pub reply_to: Option<String>,
    pub portal_url: String,
}

/// Errors of this module, naming the field at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> EmailError {
    EmailError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Reads the stored preferences.
pub async fn preferences(pool: &PgPool) -> Result<EmailPreferences, EmailError> {
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

fn check_url(field: &'static str, url: &str) -> Result<(), EmailError> {
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

/// Checks and saves the preferences.
pub async fn save_preferences(pool: &PgPool, u: &EmailPreferencesUpdate) -> Result<(), EmailError> {
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
    let password = u.password.as_ref().map(|p| p.expose_secret().to_string());
    sqlx::query!(
        "update email_settings set smtp_host = $1, smtp_port = $2, tls = $3, username = $4,
             password = case when $5::text is null then password when $5 = '' then null else $5 end,
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

/// When the Email Preferences were last saved: a worker rebuilds its SMTP pool when this changes.
pub async fn settings_stamp(pool: &PgPool) -> Result<chrono::DateTime<chrono::Utc>, EmailError> {
    Ok(sqlx::query_scalar!("select updated_at from email_settings")
        .fetch_one(pool)
        .await?)
}

/// The portal URL merged into messages: the stored one unless ops override it.
pub async fn portal_url(pool: &PgPool, o: &SmtpOverrides) -> Result<String, EmailError> {
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
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
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

/// Loads the effective SMTP settings.
pub async fn smtp_config(pool: &PgPool, o: &SmtpOverrides) -> Result<SmtpConfig, EmailError> {
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
    let password = o
        .password
        .clone()
        .or_else(|| r.password.map(SecretString::from));
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

/// `List-Unsubscribe: <https://…>`.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .into(),
        ))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// One email, rendered.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The local part of the Message-ID, unique per job.
    pub message_key: String,
    /// The one-click unsubscribe URL, when the email carries one.
    pub unsubscribe_url: Option<String>,
}

/// Builds the email; an address the SMTP layer cannot take is a fatal failure of that job.
pub fn build(config: &SmtpConfig, out: &Outgoing) -> Result<Message, Failure> {
    let to: Address = out
        .to
        .parse()
        .map_err(|e| Failure::Fatal(format!("recipient address '{}': {e}", out.to)))?;
    let mut b = Message::builder()
        .from(config.from.clone())
        .to(Mailbox::new(None, to))
        .subject(out.subject.clone())
        .message_id(Some(format!("<{}@{}>", out.message_key, config.domain())));
    if let Some(r) = &config.reply_to {
        b = b.reply_to(r.clone());
    }
    if let Some(url) = &out.unsubscribe_url {
        b = b
            .header(ListUnsubscribe(url.clone()))
            .header(ListUnsubscribePost);
    }
    b.multipart(MultiPart::alternative_plain_html(
        out.text.clone(),
        out.html.clone(),
    ))
    .map_err(|e| Failure::Fatal(format!("building the email: {e}")))
}

/// A bounded pool of SMTP connections.
pub struct Mailer {
    config: SmtpConfig,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
    hello: ClientId,
    timeout: Duration,
}

impl Mailer {
    /// A pool of at most `connections` connections, opened on demand and reused.
    pub fn new(config: SmtpConfig, connections: usize) -> Self {
        Self {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(connections.max(1)),
            hello: ClientId::Domain("herald.localhost".into()),
            timeout: Duration::from_secs(30),
        }
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let c = &self.config;
        let smtp =
            |e: lettre::transport::smtp::Error| classify(&e, "connecting to the SMTP server");
        let tls = || TlsParameters::new(c.host.clone()).map_err(smtp);
        let mut conn = match c.tls {
            TlsMode::Tls => AsyncSmtpConnection::connect_tokio1(
                (c.host.as_str(), c.port),
                Some(self.timeout),
                &self.hello,
                Some(tls()?),
                None,
            )
            .await
            .map_err(smtp)?,
            TlsMode::None | TlsMode::Starttls => {
                let io = |e: std::io::Error| {
                    Failure::Retryable(format!(
                        "connecting to the SMTP server {}:{}: {e}",
                        c.host, c.port
                    ))
                };
                let stream = tokio::net::TcpStream::connect((c.host.as_str(), c.port))
                    .await
                    .map_err(io)?;
                stream.set_nodelay(true).map_err(io)?;
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await
                        .map_err(smtp)?;
                if c.tls == TlsMode::Starttls {
                    conn.starttls(tls()?, &self.hello).await.map_err(smtp)?;
                }
                conn
            }
        };
        if let (Some(user), Some(pass)) = (&c.username, &c.password) {
            conn.auth(
                &[Mechanism::Plain, Mechanism::Login],
                &Credentials::new(user.clone(), pass.expose_secret().to_string()),
            )
            .await
            .map_err(|e| classify(&e, "signing in to the SMTP server"))?;
        }
        Ok(conn)
    }

    /// Sends one email over a pooled connection (opening one if none is idle).
    pub async fn send(&self, message: &Message) -> Result<(), Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Failure::Retryable("the mailer is shutting down".into()))?;
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(c) if !c.has_broken() => c,
            _ => match tokio::time::timeout(self.timeout, self.connect()).await {
                Ok(Ok(c)) => c,
                Ok(Err(f)) => return Err(f),
                Err(_) => {
                    return Err(Failure::Retryable(format!(
                        "connecting to the SMTP server {}:{} timed out",
                        self.config.host, self.config.port
                    )));
                }
            },
        };
        let bytes = message.formatted();
        match tokio::time::timeout(self.timeout, conn.send(message.envelope(), &bytes)).await {
            Ok(Ok(_)) => {
                self.idle.lock().await.push(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                conn.abort().await;
                Err(classify(&e, "sending"))
            }
            Err(_) => {
                conn.abort().await;
                Err(Failure::Retryable(
                    "the SMTP server did not answer in time".into(),
                ))
            }
        }
    }

    /// Says goodbye on every idle connection.
    pub async fn close(&self) {
        for mut c in self.idle.lock().await.drain(..) {
            let _ = c.quit().await;
        }
    }
}

fn classify(e: &lettre::transport::smtp::Error, doing: &str) -> Failure {
    let text = format!("{doing}: {e}");
    if e.is_permanent() {
        Failure::Fatal(text)
    } else {
        Failure::Retryable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: 1025,
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "Herald <messenger@district.example>".parse().unwrap(),
            reply_to: Some("office@district.example".parse().unwrap()),
            portal_url: "https://portal.district.example/portal".into(),
        }
    }

    #[test]
    fn an_email_carries_one_click_unsubscribe_and_a_stable_message_id() {
        let out = Outgoing {
            to: "maria@example.org".into(),
            subject: "Snow day".into(),
            html: "<p>Closed</p>".into(),
            text: "Closed".into(),
            message_key: "job-42".into(),
            unsubscribe_url: Some("https://portal.district.example/unsubscribe/abc".into()),
        };
        let raw = String::from_utf8(build(&config(), &out).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://portal.district.example/unsubscribe/abc>"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("Message-ID: <job-42@district.example>"));
        assert!(raw.contains("Reply-To: office@district.example"));
    }

    #[test]
    fn a_recipient_address_lettre_cannot_take_is_a_fatal_failure() {
        let out = Outgoing {
            to: "not an address".into(),
            subject: "x".into(),
            html: String::new(),
            text: String::new(),
            message_key: "k".into(),
            unsubscribe_url: None,
        };
        assert!(matches!(build(&config(), &out), Err(Failure::Fatal(_))));
    }

    #[test]
    fn the_origin_of_a_url_drops_its_path() {
        assert_eq!(
            origin("https://a.example:8443/portal/x"),
            "https://a.example:8443"
        );
        assert_eq!(origin("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
    }
}
