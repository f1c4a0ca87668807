//! Talking to the voice provider: the [`VoiceProvider`] trait the phone lane dials through, its
//! implementation for Twilio's Programmable Voice REST API ([`TwilioVoice`], also what
//! SignalWire and Herald's local provider speak), the TwiML a call plays, and the
//! `X-Twilio-Signature` scheme that signs status callbacks.
//!
//! What must stay true:
//! - Every provider answer maps to one [`ProviderError`] kind, and each kind has one meaning for
//!   the job: a refusal of this call fails the job; credentials, configuration and outages are
//!   retried later and reported to a person; rate limiting backs off.
//! - A signature is checked in constant time over exactly what the provider signed: the full
//!   callback URL, then every parameter name and value sorted by name.
//! - TwiML is built from escaped text only: a merge value cannot add or break an element.

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha1::Sha1;

use super::preferences::ProviderAccount;
use crate::domain::PhoneNumber;
use crate::messaging::template::escape_html;

/// The API version in every path.
pub const API_VERSION: &str = "2010-04-01";

/// How long one request to the provider may take. A phone job is placed only while its lease
/// has more than this left.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The most TwiML a call may carry inline.
pub const MAX_TWIML: usize = 4000;

/// A call's status as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Accepted by the provider, not yet dialled.
    Queued,
    /// The provider is dialling.
    Initiated,
    /// The phone is ringing.
    Ringing,
    /// Answered, by a person or a machine, and playing.
    InProgress,
    /// Answered and ended normally.
    Completed,
    /// The line was busy.
    Busy,
    /// Nobody answered within the ring time.
    NoAnswer,
    /// The provider could not place the call (for example, an unreachable number).
    Failed,
    /// Ended before it was answered, by a hang-up request while queued or ringing.
    Canceled,
}

impl CallStatus {
    /// Every status, in the order a call moves through them.
    pub const ALL: [Self; 9] = [
        Self::Queued,
        Self::Initiated,
        Self::Ringing,
        Self::InProgress,
        Self::Completed,
        Self::Busy,
        Self::NoAnswer,
        Self::Failed,
        Self::Canceled,
    ];

    /// The status as the provider writes it (`in-progress`, `no-answer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Reads a status as the provider writes it; `None` for one Herald does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the call has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::NoAnswer | Self::Failed | Self::Canceled
        )
    }
}

/// A call to place.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// The number to call.
    pub to: PhoneNumber,
    /// The caller ID the call comes from.
    pub from: PhoneNumber,
    /// The TwiML the call plays (see [`twiml`]).
    pub twiml: String,
    /// The URL the provider posts status callbacks to.
    pub status_callback: String,
    /// How long to let the phone ring before giving up, in seconds (the provider's `Timeout`).
    pub ring_seconds: u32,
    /// Wait for an answering machine's beep and leave the message.
    pub leave_voicemail: bool,
}

/// A call as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallState {
    /// The provider's call id (Twilio's Call SID).
    pub sid: String,
    /// Where the call is now.
    pub status: CallStatus,
    /// Who answered (`human`, `machine_end_beep`, …), when answering-machine detection ran.
    pub answered_by: Option<String>,
    /// How long the call lasted, in seconds, once it has ended.
    pub duration_seconds: Option<i32>,
}

/// Why the provider did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused this call (a number it cannot call, a malformed request).
    #[error("the provider refused the call: {0}")]
    Refused(String),
    /// The account SID or token is wrong (HTTP 401 / 403).
    #[error("the provider refused the account SID and auth token: {0}")]
    Credentials(String),
    /// The caller id is not usable with this account.
    #[error("the provider refused the caller id: {0}")]
    Configuration(String),
    /// Too many requests (HTTP 429): slow down.
    #[error("the provider is rate limiting: {detail}")]
    RateLimited {
        /// What the provider said.
        detail: String,
        /// How long the provider asked us to wait (its `Retry-After`), when it said.
        retry_after: Option<Duration>,
    },
    /// The provider could not be reached or failed (HTTP 5xx, connection refused, timeout).
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider knows no such call.
    #[error("the provider has no call {0}")]
    NoSuchCall(String),
}

/// A Programmable Voice provider.
pub trait VoiceProvider: Send + Sync {
    /// Asks the provider to place a call; returns the call as created (usually `queued`).
    fn place(
        &self,
        call: &OutboundCall,
    ) -> impl Future<Output = Result<CallState, ProviderError>> + Send;

    /// Ends a call: cancels it while it is queued or ringing, hangs it up once answered.
    fn hang_up(
        &self,
        sid: &str,
        answered: bool,
    ) -> impl Future<Output = Result<CallState, ProviderError>> + Send;

    /// Looks a call up (when its final status callback did not come).
    fn fetch(&self, sid: &str) -> impl Future<Output = Result<CallState, ProviderError>> + Send;
}

/// Twilio's REST API (`/2010-04-01/Accounts/{AccountSid}/Calls.json`), with HTTP basic auth.
#[derive(Debug, Clone)]
pub struct TwilioVoice {
    account: ProviderAccount,
    http: reqwest::Client,
}

/// A call resource, as far as Herald reads it.
#[derive(Debug, Deserialize)]
struct CallResource {
    sid: String,
    status: String,
    answered_by: Option<String>,
    duration: Option<String>,
}

/// A REST error body: `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioVoice {
    /// A client for `account`, with [`REQUEST_TIMEOUT`] per request. Fails only when the HTTP
    /// client cannot be built.
    pub fn new(account: ProviderAccount) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("building the HTTP client: {e}")))?;
        Ok(Self { account, http })
    }

    fn calls_url(&self) -> String {
        format!(
            "{}/{API_VERSION}/Accounts/{}/Calls.json",
            self.account.api_url, self.account.account_sid
        )
    }

    fn call_url(&self, sid: &str) -> String {
        format!(
            "{}/{API_VERSION}/Accounts/{}/Calls/{sid}.json",
            self.account.api_url, self.account.account_sid
        )
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<CallState, ProviderError> {
        let started = std::time::Instant::now();
        let resp = req
            .basic_auth(
                &self.account.account_sid,
                Some(self.account.auth_token.expose_secret()),
            )
            .send()
            .await;
        crate::metrics::provider_request(started.elapsed());
        let resp = resp.map_err(|e| ProviderError::Unavailable(describe_transport(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp
            .text()
            .await
            .map_err(|e| ProviderError::Unavailable(describe_transport(&e)))?;
        if status.is_success() {
            let c: CallResource = serde_json::from_str(&body).map_err(|e| {
                ProviderError::Unavailable(format!("unreadable answer from the provider: {e}"))
            })?;
            let call_status = CallStatus::parse(&c.status).ok_or_else(|| {
                ProviderError::Unavailable(format!("unknown call status '{}'", c.status))
            })?;
            return Ok(CallState {
                sid: c.sid,
                status: call_status,
                answered_by: c.answered_by.filter(|a| !a.is_empty()),
                duration_seconds: c.duration.and_then(|d| d.parse().ok()),
            });
        }
        Err(classify(status.as_u16(), &body, retry_after))
    }
}

/// Maps an HTTP error answer to what it means for the job.
pub fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> ProviderError {
    let err: Option<ErrorBody> = serde_json::from_str(body).ok();
    let code = err.as_ref().and_then(|e| e.code);
    let message = err
        .and_then(|e| e.message)
        .unwrap_or_else(|| body.chars().take(200).collect());
    let detail = match code {
        Some(c) => format!("{message} (HTTP {status}, error {c})"),
        None => format!("{message} (HTTP {status})"),
    };
    match (status, code) {
        (401 | 403, _) => ProviderError::Credentials(detail),
        (429, _) => ProviderError::RateLimited {
            detail,
            retry_after,
        },
        (500.., _) => ProviderError::Unavailable(detail),
        (404, _) => ProviderError::NoSuchCall(detail),
        // 21210: caller id not verified; 21212: invalid caller id; 21213: caller id missing.
        (_, Some(21210 | 21212 | 21213)) => ProviderError::Configuration(detail),
        _ => ProviderError::Refused(detail),
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        let mut s = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            s.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        s
    }
}

impl VoiceProvider for TwilioVoice {
    async fn place(&self, call: &OutboundCall) -> Result<CallState, ProviderError> {
        let ring = call.ring_seconds.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("To", call.to.as_str()),
            ("From", call.from.as_str()),
            ("Twiml", &call.twiml),
            ("StatusCallback", &call.status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
            ("Timeout", &ring),
        ];
        if call.leave_voicemail {
            // Wait for the greeting to end (the beep), then play the message.
            form.push(("MachineDetection", "DetectMessageEnd"));
        }
        self.send(self.http.post(self.calls_url()).form(&form))
            .await
    }

    async fn hang_up(&self, sid: &str, answered: bool) -> Result<CallState, ProviderError> {
        let status = if answered { "completed" } else { "canceled" };
        self.send(
            self.http
                .post(self.call_url(sid))
                .form(&[("Status", status)]),
        )
        .await
    }

    async fn fetch(&self, sid: &str) -> Result<CallState, ProviderError> {
        self.send(self.http.get(self.call_url(sid))).await
    }
}

/// Escapes text for XML content and attribute values: HTML's escaping (the same five
/// characters), with the control characters XML 1.0 forbids turned into spaces.
pub fn escape_xml(s: &str) -> String {
    let allowed: String = s
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\t' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect();
    escape_html(&allowed)
}

/// The TwiML for a call: the script said once in `voice`, after a short pause.
pub fn twiml(script: &str, voice: &str, language: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Pause length=\"1\"/><Say voice=\"{}\" language=\"{}\">{}</Say></Response>",
        escape_xml(voice),
        escape_xml(language),
        escape_xml(script.trim())
    )
}

/// The `X-Twilio-Signature` of a POST to `url` with `params`: base64 of HMAC-SHA1, keyed by the
/// auth token, over the URL followed by each name and value, sorted by name (then value).
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of this request, compared in constant time.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    use subtle::ConstantTimeEq;
    let expected = signature(auth_token, url, params);
    expected.as_bytes().ct_eq(given.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn the_signature_matches_twilios_published_example() {
        // The worked example in Twilio's "Webhooks security" documentation.
        let params = vec![
            p("CallSid", "CA1234567890ABCDE"),
            p("Caller", "+12349013030"),
            p("Digits", "1234"),
            p("From", "+12349013030"),
            p("To", "+18005551212"),
        ];
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn a_signature_over_other_parameters_or_another_url_does_not_verify() {
        let params = vec![p("CallSid", "CA1"), p("CallStatus", "completed")];
        let sig = signature("token", "https://h.example/dialer/status?call=1", &params);
        assert!(verify_signature(
            "token",
            "https://h.example/dialer/status?call=1",
            &params,
            &sig
        ));
        let changed = vec![p("CallSid", "CA1"), p("CallStatus", "busy")];
        assert!(!verify_signature(
            "token",
            "https://h.example/dialer/status?call=1",
            &changed,
            &sig
        ));
        assert!(!verify_signature(
            "token",
            "https://h.example/dialer/status?call=2",
            &params,
            &sig
        ));
        assert!(!verify_signature(
            "other",
            "https://h.example/dialer/status?call=1",
            &params,
            &sig
        ));
    }

    #[test]
    fn parameter_order_does_not_change_the_signature() {
        let a = vec![p("B", "2"), p("A", "1")];
        let b = vec![p("A", "1"), p("B", "2")];
        assert_eq!(signature("t", "u", &a), signature("t", "u", &b));
    }

    #[test]
    fn merge_values_cannot_break_out_of_the_say_element() {
        let t = twiml(
            "Hello </Say><Dial>+15550000000</Dial> & bye",
            "Polly.Joanna",
            "en-US",
        );
        assert!(t.contains("Hello &lt;/Say&gt;&lt;Dial&gt;+15550000000&lt;/Dial&gt; &amp; bye"));
        assert_eq!(t.matches("<Say").count(), 1);
    }

    #[test]
    fn provider_answers_map_to_what_they_mean_for_the_job() {
        let body =
            |code: i64, m: &str| format!(r#"{{"code":{code},"message":"{m}","status":400}}"#);
        assert!(matches!(
            classify(400, &body(21211, "Invalid 'To' Phone Number"), None),
            ProviderError::Refused(d) if d == "Invalid 'To' Phone Number (HTTP 400, error 21211)"
        ));
        assert!(matches!(
            classify(401, &body(20003, "Authenticate"), None),
            ProviderError::Credentials(_)
        ));
        assert!(matches!(
            classify(400, &body(21212, "Invalid 'From'"), None),
            ProviderError::Configuration(_)
        ));
        assert!(matches!(
            classify(429, &body(20429, "Too Many Requests"), Some(Duration::from_secs(3))),
            ProviderError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(
            matches!(classify(503, "<html>down</html>", None), ProviderError::Unavailable(d) if d == "<html>down</html> (HTTP 503)")
        );
    }
}
