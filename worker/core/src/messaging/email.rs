//! Email: building each email, and a pool of SMTP connections that sends them with the
//! [`SmtpConfig`] of [`super::email_preferences`].
//!
//! What must stay true:
//! - Each email has a stable `Message-ID` derived from its job, so a resend after a crash is
//!   recognisably the same email.
//! - Emails about any reason but Emergency carry `List-Unsubscribe` and
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
//! - Only an answer about one email is that email's own failure ([`SendError::Email`]): a 5xx
//!   to its recipient (`RCPT`) or its content (`DATA`) is [`Failure::Fatal`] with the server's
//!   text kept; a 4xx there, or a connection lost mid-email, is [`Failure::Retryable`]. Anything
//!   about the relay itself — it cannot be reached, refuses the TLS or Herald's sign-in, refuses
//!   the sender or to relay at all, or says it is closing (421) — is a [`SendError::Relay`],
//!   which every other email would meet too: no recipient's email fails for it.
//! - No SMTP step waits without a deadline, so a relay that stops answering can delay emails but
//!   never hold a worker: connecting (TCP, greeting, TLS, sign-in) and sending one email each get
//!   the worker's `smtp_timeout_ms`; a connection whose send ran out of time is dropped without
//!   QUIT (it is mid-exchange and its relay is not answering); QUIT after a refusal and on close
//!   gets [`QUIT_DEADLINE`]. So one [`Mailer::send`] ends within twice the timeout plus
//!   `QUIT_DEADLINE`.
//!
//! Why a pool of our own: lettre's pooled transport cannot set `TCP_NODELAY`, and without it each
//! message waits on delayed ACKs (about 21 messages/s per connection, see TOOLCHAIN.md). Here each
//! plain or STARTTLS connection is a tokio `TcpStream` with `nodelay` and TCP keepalive set (an
//! idle pooled connection to a relay that vanished is noticed within about a minute), handed to
//! lettre's `AsyncSmtpConnection`; lettre still speaks SMTP. Implicit TLS connections are opened
//! by lettre, without keepalive; the deadlines hold for them all the same.

use std::time::Duration;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message};
use secrecy::ExposeSecret;
use tokio::sync::{Mutex, Semaphore};

use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};

use super::email_preferences::{SmtpConfig, TlsMode};
use super::error_reports::Cause;
use super::queue::Failure;

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
    /// The recipient's address, as the job's target holds it.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The HTML part.
    pub html: String,
    /// The plain-text part.
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

/// How long QUIT may wait for its answer before the connection is simply dropped.
pub const QUIT_DEADLINE: Duration = Duration::from_secs(2);

/// TCP keepalive on our sockets: the first probe after this much idleness…
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// …then one probe this often until the peer answers or the kernel gives up.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// A bounded pool of SMTP connections.
pub struct Mailer {
    config: SmtpConfig,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
    hello: ClientId,
    timeout: Duration,
}

impl Mailer {
    /// A pool of at most `connections` connections, opened on demand and reused; connecting and
    /// sending each get `timeout`.
    pub fn new(config: SmtpConfig, connections: usize, timeout: Duration) -> Self {
        Self {
            config,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(connections.max(1)),
            hello: ClientId::Domain("herald.localhost".into()),
            timeout,
        }
    }

    /// The SMTP settings this pool sends with.
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let c = &self.config;
        let smtp = |e: lettre::transport::smtp::Error| {
            SendError::relay(connection_cause(&e), "connecting to the SMTP server", &e)
        };
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
                let io = |e: std::io::Error| SendError::Relay {
                    cause: Cause::Outage,
                    text: format!("connecting to the SMTP server {}:{}: {e}", c.host, c.port),
                };
                let stream = tokio::net::TcpStream::connect((c.host.as_str(), c.port))
                    .await
                    .map_err(io)?;
                stream.set_nodelay(true).map_err(io)?;
                socket2::SockRef::from(&stream)
                    .set_tcp_keepalive(
                        &socket2::TcpKeepalive::new()
                            .with_time(KEEPALIVE_IDLE)
                            .with_interval(KEEPALIVE_INTERVAL),
                    )
                    .map_err(io)?;
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
            .map_err(|e| {
                let cause = match e.status().map(u16::from) {
                    Some(400..=499) | None if !e.is_client() => Cause::Outage,
                    _ => Cause::Credentials,
                };
                SendError::relay(cause, "signing in to the SMTP server", &e)
            })?;
        }
        Ok(conn)
    }

    /// Sends one email over a pooled connection (opening one if none is idle).
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let _permit = self.permits.acquire().await.map_err(|_| {
            SendError::Email(Failure::Retryable("the mailer is shutting down".into()))
        })?;
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(c) if !c.has_broken() => c,
            _ => match tokio::time::timeout(self.timeout, self.connect()).await {
                Ok(Ok(c)) => c,
                Ok(Err(f)) => return Err(f),
                Err(_) => {
                    return Err(SendError::Relay {
                        cause: Cause::Outage,
                        text: format!(
                            "connecting to the SMTP server {}:{} timed out",
                            self.config.host, self.config.port
                        ),
                    });
                }
            },
        };
        match tokio::time::timeout(self.timeout, exchange(&mut conn, message)).await {
            Ok(Ok(())) => {
                self.idle.lock().await.push(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                // Said QUIT within QUIT_DEADLINE, then the socket closes: a refused exchange
                // leaves the connection in a state not worth recovering.
                let _ = tokio::time::timeout(QUIT_DEADLINE, conn.abort()).await;
                Err(e)
            }
            // Mid-exchange and not answering: dropping the connection closes its socket.
            Err(_) => Err(SendError::Email(Failure::Retryable(format!(
                "the SMTP server did not answer within {} ms",
                self.timeout.as_millis()
            )))),
        }
    }

    /// Says goodbye on every idle connection, all at once, each within [`QUIT_DEADLINE`].
    pub async fn close(&self) {
        let idle: Vec<AsyncSmtpConnection> = self.idle.lock().await.drain(..).collect();
        futures::future::join_all(idle.into_iter().map(|mut c| async move {
            let _ = tokio::time::timeout(QUIT_DEADLINE, c.quit()).await;
        }))
        .await;
    }
}

/// Why an email did not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// About this email: its recipient or its content.
    #[error("{0}")]
    Email(Failure),
    /// About the relay or Herald's account with it; every email would meet it, so none of them
    /// has failed.
    #[error("{text}")]
    Relay {
        /// What a person must fix.
        cause: Cause,
        /// What happened, with the server's own words.
        text: String,
    },
}

impl SendError {
    fn relay(cause: Cause, doing: &str, e: &lettre::transport::smtp::Error) -> Self {
        Self::Relay {
            cause,
            text: format!("{doing}: {e}"),
        }
    }
}

/// One email's SMTP exchange, each step's answer classed by what it is about.
async fn exchange(conn: &mut AsyncSmtpConnection, message: &Message) -> Result<(), SendError> {
    let envelope = message.envelope();
    let bytes = message.formatted();
    let mut options = Vec::new();
    let addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.map(AsRef::<str>::as_ref).any(|a| !a.is_ascii()) {
        if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::Email(Failure::Fatal(
                "the address has characters outside ASCII and the SMTP server does not take them (no SMTPUTF8)".into(),
            )));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(SendError::Email(Failure::Fatal(
                "the email has characters outside ASCII and the SMTP server does not take them (no 8BITMIME)".into(),
            )));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    conn.command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(|e| step_error(Step::Sender, &e))?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), vec![]))
            .await
            .map_err(|e| step_error(Step::Recipient, &e))?;
    }
    conn.command(Data)
        .await
        .map_err(|e| step_error(Step::Content, &e))?;
    conn.message(&bytes)
        .await
        .map_err(|e| step_error(Step::Content, &e))?;
    Ok(())
}

/// A step of sending one email over an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `MAIL FROM`: the sender, which is the same for every email.
    Sender,
    /// `RCPT TO`: this email's recipient.
    Recipient,
    /// `DATA` and the content.
    Content,
}

/// What an error while opening a connection (TCP, greeting, TLS) is about.
fn connection_cause(e: &lettre::transport::smtp::Error) -> Cause {
    if e.is_tls() || e.is_permanent() || e.is_client() {
        Cause::Configuration
    } else {
        Cause::Outage
    }
}

/// Classes an error at one step of an email's exchange.
fn step_error(step: Step, e: &lettre::transport::smtp::Error) -> SendError {
    let doing = match step {
        Step::Sender => "the SMTP server refused the sender",
        Step::Recipient => "the SMTP server refused the recipient",
        Step::Content => "the SMTP server refused the email",
    };
    classify(
        step,
        e.status().map(u16::from),
        e.is_client(),
        format!("{doing}: {e}"),
    )
}

/// Classes an answer at one step by its reply code (none when the connection failed instead)
/// and its text.
fn classify(step: Step, code: Option<u16>, client: bool, text: String) -> SendError {
    let lower = text.to_lowercase();
    // A relay asking for a sign-in, refusing to relay, or closing the connection says so about
    // every email, whichever step it answered.
    let relay_cause = match code {
        Some(530) => Some(Cause::Credentials),
        Some(421) => Some(Cause::Outage),
        Some(500..=599) if lower.contains("authentication required") => Some(Cause::Credentials),
        Some(500..=599) if lower.contains("relay") => Some(Cause::Configuration),
        // A refused sender is refused for every email. (A lost connection is no answer: a
        // pooled connection the server closed while idle; the email is retried on a new one.)
        Some(500..=599) if step == Step::Sender => Some(Cause::Configuration),
        Some(_) if step == Step::Sender => Some(Cause::Outage),
        _ => None,
    };
    match relay_cause {
        Some(cause) => SendError::Relay { cause, text },
        None if client || code.is_some_and(|c| c >= 500) => SendError::Email(Failure::Fatal(text)),
        None => SendError::Email(Failure::Retryable(text)),
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

    /// What a classed answer should be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Class {
        Fatal,
        Retry,
        Relay(Cause),
    }

    fn class_of(e: &SendError) -> Class {
        match e {
            SendError::Email(Failure::Fatal(_)) => Class::Fatal,
            SendError::Email(Failure::Retryable(_)) => Class::Retry,
            SendError::Relay { cause, .. } => Class::Relay(*cause),
        }
    }

    #[test]
    fn only_answers_about_one_recipient_or_email_fail_that_email() {
        use Class::*;
        let cases = [
            (Step::Recipient, Some(550), "5.1.1 no such user", Fatal),
            (
                Step::Recipient,
                Some(553),
                "mailbox name not allowed",
                Fatal,
            ),
            (Step::Content, Some(552), "message too big", Fatal),
            (Step::Recipient, Some(450), "mailbox busy", Retry),
            (Step::Content, None, "connection reset", Retry),
            (Step::Sender, None, "connection reset", Retry),
            (
                Step::Sender,
                Some(530),
                "5.7.0 authentication required",
                Relay(Cause::Credentials),
            ),
            (
                Step::Recipient,
                Some(554),
                "5.7.1 relay access denied",
                Relay(Cause::Configuration),
            ),
            (
                Step::Recipient,
                Some(550),
                "5.7.1 unable to relay",
                Relay(Cause::Configuration),
            ),
            (
                Step::Sender,
                Some(553),
                "sender address rejected",
                Relay(Cause::Configuration),
            ),
            (Step::Sender, Some(451), "local error", Relay(Cause::Outage)),
            (
                Step::Content,
                Some(421),
                "closing connection",
                Relay(Cause::Outage),
            ),
        ];
        for (step, code, text, expected) in cases {
            let got = classify(step, code, false, text.into());
            assert_eq!(
                class_of(&got),
                expected,
                "{step:?} {code:?} {text}: {got:?}"
            );
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
}
