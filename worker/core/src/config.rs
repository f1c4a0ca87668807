//! Typed settings shared by the server and the worker.
//!
//! Defaults come from `herald.toml` at the workspace root, compiled in so a binary runs from any
//! directory; a file named by `HERALD_CONFIG` is layered on top, then `HERALD__SECTION__KEY`
//! environment variables, then `DATABASE_URL`. Secrets are [`SecretString`]s: redacted in `Debug`
//! and never serialised.

use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../../herald.toml");

/// Everything a Herald process is configured with.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The PostgreSQL connection (`[database]`).
    pub database: DatabaseConfig,
    /// Sessions and the sign-in throttle (`[auth]`).
    pub auth: AuthConfig,
    /// Leasing, batching and retries of delivery jobs (`[worker]`).
    pub worker: WorkerConfig,
    /// How large a roster upload may be (`[import]`).
    pub import: ImportConfig,
    /// Ops overrides for Email Preferences (`[smtp]`); empty when the section is absent.
    #[serde(default)]
    pub smtp: SmtpOverrides,
    /// Ops overrides for the provider fields of Dialer Preferences (`[dialer]`); empty when absent.
    #[serde(default)]
    pub dialer: DialerOverrides,
    /// The key stored secrets are sealed with (`[secrets]`, see [`crate::secrets`]).
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// Where the process answers ops (`[ops]`): Prometheus `/metrics`, and a worker's `/healthz`.
    #[serde(default)]
    pub ops: OpsConfig,
}

/// The ops listener: `HERALD__OPS__LISTEN`, e.g. `127.0.0.1:9464`; none when unset. Each process
/// (a server, a worker) needs its own address, and it should not be reachable from the internet.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OpsConfig {
    /// `host:port` to listen on.
    pub listen: Option<String>,
}

/// The key the SMTP password and the provider token are sealed with: `HERALD__SECRETS__KEY`, 32
/// random bytes in base64. Only the environment (or a `HERALD_CONFIG` file ops keep) holds it;
/// `./herald.sh` makes a development key under `target/`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SecretsConfig {
    /// The key, in base64; `None` when unset.
    pub key: Option<SecretString>,
}

/// Where the database is and how many connections each process may open.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    /// The connection URL; `DATABASE_URL` overrides it.
    pub url: SecretString,
    /// Size of the connection pool per process.
    pub max_connections: u32,
    /// How long a process starting up keeps trying to reach PostgreSQL (with backoff, saying so
    /// in its log) before it gives up.
    pub start_wait_seconds: u64,
    /// The longest one statement of a web request may run (the server's pool); a statement
    /// that runs longer is canceled and the request answers 503. The worker's statements and a
    /// roster import have none.
    pub web_statement_timeout_ms: u64,
}

/// How large a roster upload may be, zipped and unzipped.
#[derive(Debug, Clone, Deserialize)]
pub struct ImportConfig {
    /// The largest zip an admin may upload, in MB.
    pub max_upload_mb: u64,
    /// The most its CSV files may unzip to, in MB (counted as they inflate).
    pub max_unzipped_mb: u64,
}

/// How long sessions last and when repeated failed sign-ins are refused.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    /// How long a sign-in lasts, in hours.
    pub session_hours: i64,
    /// Failed sign-ins allowed for one email from one client address inside the window.
    pub max_failures: i64,
    /// Failed sign-ins allowed from one client address, whatever the emails, inside the window.
    pub max_failures_per_address: i64,
    /// Failed sign-ins allowed for one email from all addresses inside the window; an address
    /// the email signed in from within `known_address_days` is not held back by it.
    pub max_failures_per_account: i64,
    /// How long a successful sign-in's address stays known to its email, in days.
    pub known_address_days: i64,
    /// How many reverse proxies in front of the server append to `X-Forwarded-For`: the client
    /// address is the entry that many places from the right. 0 (the default) ignores the header
    /// and takes the connection's peer address, which a client cannot forge.
    pub forwarded_hops: usize,
    /// Length of the failed-sign-in window, in minutes.
    pub failure_window_minutes: i64,
    /// Whether the session cookie is marked `Secure` (sent only over HTTPS); on in production.
    pub secure_cookies: bool,
    /// Password checks (argon2id, 19 MiB each) one server runs at once; more wait.
    pub concurrent_password_checks: usize,
    /// How long a sign-in waits for a free password check before it answers "busy" (503).
    pub password_check_wait_ms: u64,
}

/// How a worker leases and retries delivery jobs.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerConfig {
    /// How long a leased job is held, in seconds, before another worker may take it over.
    pub lease_seconds: i64,
    /// Email jobs leased per round trip.
    pub email_batch: i64,
    /// Portal inbox jobs leased per round trip.
    pub inbox_batch: i64,
    /// Attempts before a retryable failure becomes final.
    pub max_attempts: i32,
    /// The first retry delay, in seconds; it doubles with each attempt, up to six hours.
    pub backoff_seconds: i64,
    /// How often an idle worker looks for due work, in milliseconds.
    pub poll_ms: u64,
    /// Parallel SMTP connections per worker.
    pub smtp_connections: usize,
    /// The deadline of each SMTP step, in milliseconds: opening a connection (TCP, greeting,
    /// TLS, sign-in) gets this long, and so does sending one email on it.
    pub smtp_timeout_ms: u64,
    /// Phone jobs leased per round trip.
    pub phone_batch: i64,
    /// Calls one worker may be placing (HTTP requests in flight) at once.
    pub call_concurrency: usize,
    /// How long errors that need a person are collected before the first report goes out.
    pub error_batch_seconds: i64,
    /// At most one error report per this many minutes while errors keep coming.
    pub error_report_minutes: i64,
    /// A lane (scheduler, inbox, email, phone) that shows no progress for this many seconds is
    /// stuck: the worker records why and exits non-zero, for its supervisor to restart it.
    pub lane_deadline_seconds: u64,
}

/// Ops overrides for the SMTP settings an admin keeps on the Email Preferences page. A field set
/// here wins over the page, so a deployment can pin its relay and credentials.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SmtpOverrides {
    /// SMTP relay host name.
    pub host: Option<String>,
    /// SMTP relay port.
    pub port: Option<u16>,
    /// TLS mode: `none`, `starttls` or `tls`.
    pub tls: Option<String>,
    /// SMTP user name.
    pub username: Option<String>,
    /// SMTP password.
    pub password: Option<SecretString>,
    /// The From address of every message.
    pub from_address: Option<String>,
    /// The display name beside the From address.
    pub from_name: Option<String>,
    /// The Reply-To address.
    pub reply_to: Option<String>,
    /// The parent portal's public URL; message links, unsubscribe links and the dialer's status
    /// callback URL are built from it.
    pub portal_url: Option<String>,
}

impl SmtpOverrides {
    /// The Email Preferences fields the environment pins, by the names the page shows.
    pub fn pinned(&self) -> Vec<&'static str> {
        [
            ("SMTP host", self.host.is_some()),
            ("SMTP port", self.port.is_some()),
            ("TLS", self.tls.is_some()),
            ("Username", self.username.is_some()),
            ("Password", self.password.is_some()),
            ("From address", self.from_address.is_some()),
            ("From name", self.from_name.is_some()),
            ("Reply-To address", self.reply_to.is_some()),
            ("Portal URL", self.portal_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, pinned)| pinned.then_some(name))
        .collect()
    }
}

/// Ops overrides for the provider fields of the Dialer Preferences page (`HERALD__DIALER__…`):
/// a deployment can keep its telephony credentials out of the database.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DialerOverrides {
    /// Base URL of the voice provider's REST API.
    pub api_url: Option<String>,
    /// The provider account id (Twilio's Account SID).
    pub account_sid: Option<String>,
    /// The provider's auth token; it also signs status callbacks.
    pub auth_token: Option<SecretString>,
    /// The caller ID calls are placed from.
    pub from_number: Option<String>,
}

impl DialerOverrides {
    /// The Dialer Preferences fields the environment pins, by the names the page shows.
    pub fn pinned(&self) -> Vec<&'static str> {
        [
            ("API URL", self.api_url.is_some()),
            ("Account SID", self.account_sid.is_some()),
            ("Auth token", self.auth_token.is_some()),
            ("Caller ID", self.from_number.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, pinned)| pinned.then_some(name))
        .collect()
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid Herald settings")]
pub struct ConfigError(#[from] ::config::ConfigError);

impl Config {
    /// Loads defaults, the optional `HERALD_CONFIG` file and the environment.
    pub fn load() -> Result<Self, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        Self::load_from(env)
    }

    /// Like [`Config::load`], with the environment given as a lookup (for tests).
    pub fn load_from(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut builder = ::config::Config::builder().add_source(::config::File::from_str(
            DEFAULTS,
            ::config::FileFormat::Toml,
        ));
        if let Some(path) = env("HERALD_CONFIG") {
            builder = builder.add_source(::config::File::with_name(&path));
        }
        let vars: ::config::Map<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("HERALD__"))
            .filter_map(|(k, _)| env(&k).map(|v| (k, v)))
            .collect();
        builder = builder.add_source(
            ::config::Environment::with_prefix("HERALD")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars)),
        );
        if let Some(url) = env("DATABASE_URL") {
            builder = builder.set_override("database.url", url)?;
        }
        let config: Self = builder.build()?.try_deserialize()?;
        config.worker.check()?;
        Ok(config)
    }
}

/// Time a lease must have left for an email to start beyond its two SMTP deadlines: the lease
/// deadline comes from PostgreSQL's clock, the check from the worker's.
const CLOCK_SLACK_MS: u64 = 250;

impl WorkerConfig {
    /// The deadline of each SMTP step.
    pub fn smtp_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.smtp_timeout_ms)
    }

    /// How much of its lease an email job must have left to be started: connecting and sending
    /// may each take [`Self::smtp_timeout`], so an email started with this much left is answered
    /// (or abandoned) before another worker may take the job over.
    pub fn email_margin(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::milliseconds((2 * self.smtp_timeout_ms + CLOCK_SLACK_MS) as i64)
    }

    /// Settings that cannot work together are refused at start-up, naming the keys.
    pub fn check(&self) -> Result<(), ConfigError> {
        let margin = self.email_margin().num_milliseconds();
        if self.lease_seconds * 1000 <= margin {
            return Err(ConfigError(::config::ConfigError::Message(format!(
                "worker.lease_seconds ({}) must be longer than the time an email needs: twice \
                 worker.smtp_timeout_ms ({}) plus {CLOCK_SLACK_MS} ms, {:.2} s in all; \
                 raise the lease or lower the SMTP timeout",
                self.lease_seconds,
                self.smtp_timeout_ms,
                margin as f64 / 1000.0
            ))));
        }
        let deadline_ms = self.lane_deadline_seconds * 1000;
        let slowest = margin as u64 + self.poll_ms;
        if deadline_ms <= slowest {
            return Err(ConfigError(::config::ConfigError::Message(format!(
                "worker.lane_deadline_seconds ({}) must be longer than one email may take \
                 (twice worker.smtp_timeout_ms, {} ms, plus {CLOCK_SLACK_MS} ms) plus \
                 worker.poll_ms ({}): {:.2} s in all",
                self.lane_deadline_seconds,
                self.smtp_timeout_ms,
                self.poll_ms,
                slowest as f64 / 1000.0
            ))));
        }
        Ok(())
    }

    /// How long a lane may show no progress before it counts as stuck.
    pub fn lane_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lane_deadline_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn database_url_from_the_environment_overrides_the_file_default() {
        let s = Config::load_from(|k| {
            (k == "DATABASE_URL").then(|| "postgres://elsewhere/db".to_string())
        })
        .unwrap();
        assert_eq!(s.database.url.expose_secret(), "postgres://elsewhere/db");
        assert_eq!(s.auth.max_failures, 5);
        assert!(s.smtp.host.is_none());
        assert!(s.smtp.pinned().is_empty());
        assert_eq!(s.worker.max_attempts, 6);
    }

    #[test]
    fn the_email_margin_covers_connecting_and_sending_each_to_their_deadline() {
        let mut w = Config::load_from(|_| None).unwrap().worker;
        w.smtp_timeout_ms = 15_000;
        let both = chrono::TimeDelta::from_std(2 * w.smtp_timeout()).unwrap();
        assert!(w.email_margin() > both, "{:?}", w.email_margin());
        assert!(w.email_margin() <= both + chrono::TimeDelta::seconds(1));
    }

    #[test]
    fn a_lease_too_short_for_the_smtp_deadlines_is_refused_naming_both_keys() {
        let mut w = Config::load_from(|_| None).unwrap().worker;
        w.smtp_timeout_ms = 15_000;
        w.lease_seconds = 30;
        let e = w.check().unwrap_err().0.to_string();
        assert!(e.contains("worker.lease_seconds (30)"), "{e}");
        assert!(e.contains("worker.smtp_timeout_ms (15000)"), "{e}");
        w.lease_seconds = 31;
        assert!(w.check().is_ok());
    }

    #[test]
    fn a_lane_deadline_shorter_than_one_email_is_refused_naming_the_keys() {
        let mut w = Config::load_from(|_| None).unwrap().worker;
        w.smtp_timeout_ms = 15_000;
        w.poll_ms = 500;
        w.lane_deadline_seconds = 30;
        let e = w.check().unwrap_err().0.to_string();
        assert!(e.contains("worker.lane_deadline_seconds (30)"), "{e}");
        assert!(e.contains("worker.smtp_timeout_ms"), "{e}");
        assert!(e.contains("worker.poll_ms (500)"), "{e}");
        w.lane_deadline_seconds = 31;
        assert!(w.check().is_ok());
    }

    #[test]
    fn pinned_smtp_fields_are_named_as_the_preferences_page_names_them() {
        let o = SmtpOverrides {
            port: Some(587),
            password: Some(SecretString::from("x".to_string())),
            ..SmtpOverrides::default()
        };
        assert_eq!(o.pinned(), vec!["SMTP port", "Password"]);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Config::load_from(|_| None).unwrap();
        assert!(!format!("{s:?}").contains("postgres://"));
    }
}
