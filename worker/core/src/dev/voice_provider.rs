//! A local voice provider: a small HTTP server speaking the part of Twilio's Programmable Voice
//! API Herald uses, so development, tests and benchmarks dial without the internet. Run it with
//! `herald-worker voice-provider`; `./herald.sh run` starts one.
//!
//! It checks requests the way the real service does — HTTP basic auth matching the account in
//! the path, the required `To` and `From`, E.164 numbers, inline TwiML of at most 4,000
//! characters, the enumerated options — and answers in the same shapes (a call resource, or
//! `{"code", "message", "more_info", "status"}`). Then it plays the call out and posts signed
//! status callbacks for the requested events.
//!
//! # Outcomes by the called number's last four digits
//! | digits | outcome |
//! |--------|---------|
//! | `8001` | an answering machine: answered, `AnsweredBy=machine_end_beep`, completed |
//! | `8002` | busy |
//! | `8003` | rings, then no answer |
//! | `8004` | failed (cannot be connected) |
//! | `8005` | slow: rings for 40 steps, talks for 40 (time to cancel it mid-call) |
//! | `8429` | the API answers 429 Too Many Requests |
//! | `8503` | the API answers 503 Service Unavailable |
//! | other  | a person answers (`AnsweredBy=human` with machine detection), completed |
//!
//! A step is `step` (50 ms by default). `GET /local/calls` lists every call received, for tests.
//!
//! What must stay true: callbacks of one call are posted in order, each with a `SequenceNumber`
//! one higher than the last, signed with the account's auth token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::dialer::provider::{API_VERSION, CallStatus, MAX_TWIML, signature};
use crate::domain::PhoneNumber;

/// The account the demo uses with the local provider (`herald-worker demo-dialer`).
pub const DEMO_ACCOUNT_SID: &str = "ACdededededededededededededededede";
/// The demo account's token: local only, never a real provider's.
pub const DEMO_AUTH_TOKEN: &str = "local-voice-provider-token";
/// The demo caller id.
pub const DEMO_CALLER_ID: &str = "+15555550199";

/// Points Dialer Preferences at a local provider with the demo account (its token sealed like
/// any other), unless an account SID is already set. Returns whether it did.
pub async fn use_for_demo(
    pool: &sqlx::PgPool,
    api_url: &str,
    secrets: &crate::config::SecretsConfig,
) -> Result<bool, crate::secrets::SecretsError> {
    let token = secrets.seal(crate::secrets::Field::ProviderToken, DEMO_AUTH_TOKEN)?;
    let n = sqlx::query!(
        "update dialer_settings set api_url = $1, account_sid = $2, auth_token = $3,
             from_number = $4, updated_at = now()
         where account_sid is null",
        api_url,
        DEMO_ACCOUNT_SID,
        token,
        DEMO_CALLER_ID,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// The account the local provider accepts.
#[derive(Debug, Clone)]
pub struct LocalAccount {
    /// The account SID requests must authenticate as (and name in the path).
    pub account_sid: String,
    /// The auth token for basic auth; it also signs the status callbacks.
    pub auth_token: String,
    /// The unit of simulated time.
    pub step: Duration,
}

/// What the local provider plays out for a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A person answers (`AnsweredBy=human` when machine detection was asked for), then completed.
    Human,
    /// An answering machine answers (`AnsweredBy=machine_end_beep`), then completed.
    Machine,
    /// The line is busy.
    Busy,
    /// It rings, then nobody answers.
    NoAnswer,
    /// The call cannot be connected.
    Failed,
    /// It rings for 40 steps and talks for 40: time to cancel it mid-call.
    Slow,
    /// The API answers 429 Too Many Requests, with `Retry-After: 1`; no call is made.
    RateLimited,
    /// The API answers 503 Service Unavailable; no call is made.
    Outage,
}

impl Outcome {
    /// The outcome for a called number, by its last four digits (see the module's table).
    pub fn for_number(number: &str) -> Self {
        match number.get(number.len().saturating_sub(4)..).unwrap_or("") {
            "8001" => Self::Machine,
            "8002" => Self::Busy,
            "8003" => Self::NoAnswer,
            "8004" => Self::Failed,
            "8005" => Self::Slow,
            "8429" => Self::RateLimited,
            "8503" => Self::Outage,
            _ => Self::Human,
        }
    }
}

/// A call the local provider received, as `GET /local/calls` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// The call SID the provider gave it (`CA` and 32 hex digits).
    pub sid: String,
    /// The `To` number, E.164.
    pub to: String,
    /// The `From` number (the caller ID), E.164.
    pub from: String,
    /// The inline TwiML the call plays.
    pub twiml: String,
    /// How long it may ring, in seconds (`Timeout`; 60 when not given).
    pub timeout: u32,
    /// The `MachineDetection` asked for (`Enable` or `DetectMessageEnd`), if any.
    pub machine_detection: Option<String>,
    /// Where status callbacks are posted, if anywhere.
    pub status_callback: Option<String>,
    /// The `StatusCallbackEvent`s asked for; `completed` alone when none were.
    pub events: Vec<String>,
    /// When the request came in.
    pub received_at: DateTime<Utc>,
    /// The call's status as the provider writes it (`queued`, `ringing`, …).
    pub status: String,
    /// Who answered (`human`, `machine_end_beep`), when machine detection ran.
    pub answered_by: Option<String>,
    /// When the call was answered, if it was.
    pub answered_at: Option<DateTime<Utc>>,
    /// When the call ended, if it has.
    pub ended_at: Option<DateTime<Utc>>,
    /// Callbacks posted so far.
    pub sequence: i32,
    /// The `Status` of a hang-up request, if one came.
    pub hung_up_with: Option<String>,
}

struct Provider {
    account: LocalAccount,
    calls: Mutex<Vec<Received>>,
    index: Mutex<HashMap<String, usize>>,
    http: reqwest::Client,
}

impl Provider {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn position(&self, sid: &str) -> Option<usize> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(sid)
            .copied()
    }
}

/// The local provider's router.
pub fn router(account: LocalAccount) -> Router {
    let provider = Arc::new(Provider {
        account,
        calls: Mutex::new(Vec::new()),
        index: Mutex::new(HashMap::new()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
    });
    Router::new()
        .route(
            "/{version}/Accounts/{account}/Calls.json",
            post(create_call),
        )
        .route(
            "/{version}/Accounts/{account}/Calls/{sid}",
            get(fetch_call).post(update_call),
        )
        .route("/local/calls", get(list_calls))
        .with_state(provider)
}

/// Serves the local provider on `listener` until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    account: LocalAccount,
) -> std::io::Result<()> {
    axum::serve(listener, router(account)).await
}

type Shared = Arc<Provider>;

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message.into(),
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

/// Checks basic auth against the account and the account in the path.
fn authenticate(
    p: &Provider,
    headers: &HeaderMap,
    version: &str,
    account: &str,
) -> Option<Response> {
    if version != API_VERSION {
        return Some(error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ));
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{}:{}", p.account.account_sid, p.account.auth_token);
    if given.as_deref() != Some(expected.as_str()) {
        let mut r = error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
        r.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"Twilio API\""),
        );
        return Some(r);
    }
    if account != p.account.account_sid {
        return Some(error(StatusCode::FORBIDDEN, 20003, "Authenticate"));
    }
    None
}

fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn resource(p: &Provider, c: &Received) -> serde_json::Value {
    let duration = match (c.answered_at, c.ended_at) {
        (Some(a), Some(e)) => Some((e - a).num_seconds().max(1).to_string()),
        _ => None,
    };
    json!({
        "sid": c.sid,
        "account_sid": p.account.account_sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(c.received_at),
        "date_updated": rfc2822(c.ended_at.or(c.answered_at).unwrap_or(c.received_at)),
        "direction": "outbound-api",
        "from": c.from,
        "from_formatted": c.from,
        "to": c.to,
        "to_formatted": c.to,
        "status": c.status,
        "start_time": c.answered_at.map(rfc2822),
        "end_time": c.ended_at.map(rfc2822),
        "duration": duration,
        "answered_by": c.answered_by,
        "price": null,
        "price_unit": "USD",
        "parent_call_sid": null,
        "phone_number_sid": null,
        "uri": format!("/{API_VERSION}/Accounts/{}/Calls/{}.json", p.account.account_sid, c.sid),
    })
}

fn e164(n: &str) -> bool {
    n.starts_with('+') && PhoneNumber::parse(n).is_ok_and(|p| p.as_str() == n)
}

/// What a valid create-call request asks for, checked as Twilio checks it (each refusal carries
/// Twilio's error code).
struct CallRequest {
    to: String,
    from: String,
    twiml: String,
    timeout: u32,
    machine_detection: Option<String>,
    status_callback: Option<String>,
    events: Vec<String>,
}

/// A form field's first non-empty value.
fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// A 400 refusal in Twilio's shape: its error code and message.
struct Refusal {
    code: u32,
    message: String,
}

impl Refusal {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.code, self.message)
    }
}

fn bad(code: u32, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

impl CallRequest {
    /// Reads and checks the form: numbers, then the TwiML, then the options.
    fn parse(form: &[(String, String)]) -> Result<Self, Refusal> {
        let to = field(form, "To").ok_or_else(|| bad(21201, "No 'To' number is specified"))?;
        let from =
            field(form, "From").ok_or_else(|| bad(21213, "No 'From' number is specified"))?;
        let twiml = field(form, "Twiml");
        if twiml.is_none()
            && field(form, "Url").is_none()
            && field(form, "ApplicationSid").is_none()
        {
            return Err(bad(21205, "Url parameter is required."));
        }
        if !e164(&to) {
            return Err(bad(21211, format!("Invalid 'To' Phone Number: {to}")));
        }
        if !e164(&from) {
            return Err(bad(21212, format!("Invalid 'From' Phone Number: {from}")));
        }
        Ok(Self {
            to,
            from,
            twiml: Self::twiml(twiml.unwrap_or_default())?,
            timeout: Self::timeout(field(form, "Timeout"))?,
            machine_detection: Self::machine_detection(field(form, "MachineDetection"))?,
            status_callback: Self::status_callback(field(form, "StatusCallback"))?,
            events: Self::events(form)?,
        })
    }

    fn twiml(twiml: String) -> Result<String, Refusal> {
        if twiml.chars().count() > MAX_TWIML {
            return Err(bad(
                21220,
                format!("Twiml exceeds the maximum of {MAX_TWIML} characters"),
            ));
        }
        let parses = twiml.is_empty()
            || (twiml.contains("<Response") && twiml.trim_end().ends_with("</Response>"));
        if !parses {
            return Err(bad(12100, "Document parse failure"));
        }
        Ok(twiml)
    }

    fn timeout(timeout: Option<String>) -> Result<u32, Refusal> {
        match timeout.map(|t| t.parse::<u32>()) {
            None => Ok(60),
            Some(Ok(t)) if (1..=600).contains(&t) => Ok(t),
            Some(_) => Err(bad(21216, "Timeout must be between 1 and 600 seconds")),
        }
    }

    fn machine_detection(m: Option<String>) -> Result<Option<String>, Refusal> {
        match m {
            Some(m) if m != "Enable" && m != "DetectMessageEnd" => {
                Err(bad(21626, format!("Invalid MachineDetection value: {m}")))
            }
            m => Ok(m),
        }
    }

    fn status_callback(u: Option<String>) -> Result<Option<String>, Refusal> {
        match u {
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                Err(bad(21609, format!("Invalid StatusCallback url: {u}")))
            }
            u => Ok(u),
        }
    }

    /// The status callback events asked for; `completed` alone when none are.
    fn events(form: &[(String, String)]) -> Result<Vec<String>, Refusal> {
        let events: Vec<String> = form
            .iter()
            .filter(|(n, _)| n == "StatusCallbackEvent")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        if let Some(bad_event) = events.iter().find(|e| {
            !matches!(
                e.as_str(),
                "initiated" | "ringing" | "answered" | "completed"
            )
        }) {
            return Err(bad(
                21626,
                format!("Invalid StatusCallbackEvent: {bad_event}"),
            ));
        }
        Ok(if events.is_empty() {
            vec!["completed".into()]
        } else {
            events
        })
    }
}

/// The refusal a number that plays out a provider failure gets before any call is made.
fn provider_refusal(to: &str) -> Option<Response> {
    match Outcome::for_number(to) {
        Outcome::RateLimited => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            Some(r)
        }
        Outcome::Outage => Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service Unavailable",
        )),
        _ => None,
    }
}

async fn create_call(
    State(p): State<Shared>,
    Path((version, account)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = authenticate(&p, &headers, &version, &account) {
        return r;
    }
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return bad(20001, "Unable to parse request body").into_response();
    };
    let req = match CallRequest::parse(&form) {
        Ok(req) => req,
        Err(refused) => return refused.into_response(),
    };
    if let Some(refused) = provider_refusal(&req.to) {
        return refused;
    }
    let sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let call = Received {
        sid: sid.clone(),
        to: req.to,
        from: req.from,
        twiml: req.twiml,
        timeout: req.timeout,
        machine_detection: req.machine_detection,
        status_callback: req.status_callback,
        events: req.events,
        received_at: Utc::now(),
        status: "queued".into(),
        answered_by: None,
        answered_at: None,
        ended_at: None,
        sequence: 0,
        hung_up_with: None,
    };
    let body = resource(&p, &call);
    {
        let mut calls = p.lock();
        p.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(sid.clone(), calls.len());
        calls.push(call);
    }
    tokio::spawn(play(p.clone(), sid));
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Plays a call out: each step's status, with its callback.
async fn play(p: Shared, sid: String) {
    let Some(i) = p.position(&sid) else { return };
    let (to, detect) = {
        let calls = p.lock();
        (calls[i].to.clone(), calls[i].machine_detection.is_some())
    };
    let step = p.account.step;
    let answered = |who: &str| detect.then(|| who.to_string());
    use CallStatus::*;
    let plan: Vec<(u32, CallStatus, Option<String>)> = match Outcome::for_number(&to) {
        Outcome::Human => vec![
            (1, Initiated, None),
            (1, Ringing, None),
            (2, InProgress, answered("human")),
            (2, Completed, answered("human")),
        ],
        Outcome::Machine => vec![
            (1, Initiated, None),
            (1, Ringing, None),
            (2, InProgress, answered("machine_end_beep")),
            (2, Completed, answered("machine_end_beep")),
        ],
        Outcome::Busy => vec![(1, Initiated, None), (1, Busy, None)],
        Outcome::NoAnswer => vec![
            (1, Initiated, None),
            (1, Ringing, None),
            (4, NoAnswer, None),
        ],
        Outcome::Failed => vec![(1, Initiated, None), (1, Failed, None)],
        Outcome::Slow => vec![
            (1, Initiated, None),
            (1, Ringing, None),
            (40, InProgress, answered("human")),
            (40, Completed, answered("human")),
        ],
        Outcome::RateLimited | Outcome::Outage => vec![],
    };
    for (steps, status, answered_by) in plan {
        tokio::time::sleep(step * steps).await;
        if !advance(&p, i, status, answered_by) {
            return;
        }
    }
}

/// Moves a call to `status` and posts its callback; false if the call had already ended.
fn advance(p: &Shared, i: usize, status: CallStatus, answered_by: Option<String>) -> bool {
    let callback = {
        let mut calls = p.lock();
        let c = &mut calls[i];
        if c.ended_at.is_some() {
            return false;
        }
        let now = Utc::now();
        if status != CallStatus::Initiated {
            c.status = status.as_str().to_string();
        }
        if status == CallStatus::InProgress {
            c.answered_at = Some(now);
        }
        if answered_by.is_some() {
            c.answered_by = answered_by;
        }
        if status.is_final() {
            c.ended_at = Some(now);
        }
        let event = match status {
            CallStatus::Initiated => "initiated",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "answered",
            s if s.is_final() => "completed",
            _ => "",
        };
        if c.events.iter().any(|e| e == event) {
            let seq = c.sequence;
            c.sequence += 1;
            c.status_callback
                .clone()
                .map(|url| (url, params(p, c, status, seq)))
        } else {
            None
        }
    };
    if let Some((url, params)) = callback {
        let sig = signature(&p.account.auth_token, &url, &params);
        let http = p.http.clone();
        // Posted in order: the next step waits at least one step, and a callback is one request.
        tokio::spawn(async move {
            if let Err(e) = http
                .post(&url)
                .header("X-Twilio-Signature", sig)
                .form(&params)
                .send()
                .await
            {
                tracing::warn!(error = %e, url, "status callback could not be delivered");
            }
        });
    }
    true
}

fn params(p: &Provider, c: &Received, status: CallStatus, seq: i32) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = vec![
        ("AccountSid".into(), p.account.account_sid.clone()),
        ("ApiVersion".into(), API_VERSION.into()),
        ("CallSid".into(), c.sid.clone()),
        ("CallStatus".into(), status.as_str().into()),
        ("Called".into(), c.to.clone()),
        ("Caller".into(), c.from.clone()),
        ("CallbackSource".into(), "call-progress-events".into()),
        ("Direction".into(), "outbound-api".into()),
        ("From".into(), c.from.clone()),
        ("To".into(), c.to.clone()),
        ("SequenceNumber".into(), seq.to_string()),
        ("Timestamp".into(), rfc2822(Utc::now())),
    ];
    if let Some(a) = &c.answered_by {
        v.push(("AnsweredBy".into(), a.clone()));
    }
    if status == CallStatus::Completed
        && let (Some(a), Some(e)) = (c.answered_at, c.ended_at)
    {
        let secs = (e - a).num_seconds().max(1);
        v.push(("CallDuration".into(), secs.to_string()));
        v.push(("Duration".into(), ((secs + 59) / 60).to_string()));
    }
    v
}

fn find(p: &Provider, sid_json: &str) -> Option<usize> {
    p.position(sid_json.strip_suffix(".json").unwrap_or(sid_json))
}

fn not_found(p: &Provider, sid_json: &str) -> Response {
    let sid = sid_json.strip_suffix(".json").unwrap_or(sid_json);
    error(
        StatusCode::NOT_FOUND,
        20404,
        format!(
            "The requested resource /{API_VERSION}/Accounts/{}/Calls/{sid}.json was not found",
            p.account.account_sid
        ),
    )
}

async fn fetch_call(
    State(p): State<Shared>,
    Path((version, account, sid)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = authenticate(&p, &headers, &version, &account) {
        return r;
    }
    match find(&p, &sid) {
        Some(i) => Json(resource(&p, &p.lock()[i])).into_response(),
        None => not_found(&p, &sid),
    }
}

async fn update_call(
    State(p): State<Shared>,
    Path((version, account, sid)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = authenticate(&p, &headers, &version, &account) {
        return r;
    }
    let Some(i) = find(&p, &sid) else {
        return not_found(&p, &sid);
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let wanted = form
        .iter()
        .find(|(k, _)| k == "Status")
        .map(|(_, v)| v.as_str());
    let (status, ended) = {
        let mut calls = p.lock();
        let c = &mut calls[i];
        if let Some(w) = wanted {
            c.hung_up_with = Some(w.to_string());
        }
        (CallStatus::parse(&c.status), c.ended_at.is_some())
    };
    let Some(status) = status else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        );
    };
    let next = match (wanted, status) {
        (_, _) if ended => {
            return error(
                StatusCode::BAD_REQUEST,
                21220,
                "Call is not in-progress. Cannot redirect.",
            );
        }
        (Some("canceled"), CallStatus::Queued | CallStatus::Ringing) => Some(CallStatus::Canceled),
        // Canceling an answered call leaves it be, as the real service does.
        (Some("canceled"), _) => None,
        (Some("completed"), CallStatus::InProgress) => Some(CallStatus::Completed),
        (Some("completed"), _) => Some(CallStatus::Canceled),
        (Some(other), _) => {
            return error(
                StatusCode::BAD_REQUEST,
                20001,
                format!("Invalid Status: {other}"),
            );
        }
        (None, _) => None,
    };
    if let Some(n) = next {
        let answered_by = p.lock()[i].answered_by.clone();
        advance(&p, i, n, answered_by);
    }
    Json(resource(&p, &p.lock()[i])).into_response()
}

async fn list_calls(State(p): State<Shared>) -> Json<Vec<Received>> {
    Json(p.lock().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_last_four_digits() {
        assert_eq!(Outcome::for_number("+15555558002"), Outcome::Busy);
        assert_eq!(Outcome::for_number("+15555550123"), Outcome::Human);
        assert_eq!(Outcome::for_number("+15555558429"), Outcome::RateLimited);
        assert_eq!(Outcome::for_number("+1"), Outcome::Human);
    }

    #[test]
    fn only_exact_e164_numbers_are_accepted() {
        assert!(e164("+15555550123"));
        assert!(!e164("5555550123"));
        assert!(!e164("+1 555 555 0123"));
        assert!(!e164("+0123"));
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> u32 {
        match CallRequest::parse(&form(pairs)) {
            Ok(_) => panic!("{pairs:?} was accepted"),
            Err(r) => r.code,
        }
    }

    #[test]
    fn a_create_call_request_is_refused_with_twilios_code_for_what_is_wrong() {
        let ok = [
            ("To", "+15555550123"),
            ("From", "+15555550199"),
            ("Twiml", "<Response><Say>Hi</Say></Response>"),
        ];
        let req = CallRequest::parse(&form(&ok)).unwrap_or_else(|r| panic!("{}", r.message));
        assert_eq!(
            (req.timeout, req.events.as_slice()),
            (60, &["completed".to_string()][..])
        );
        assert_eq!(refused(&ok[1..]), 21201);
        assert_eq!(refused(&[ok[0], ok[2]]), 21213);
        assert_eq!(refused(&ok[..2]), 21205);
        assert_eq!(refused(&[("To", "5555550123"), ok[1], ok[2]]), 21211);
        assert_eq!(refused(&[ok[0], ("From", "+1 555"), ok[2]]), 21212);
        assert_eq!(refused(&[ok[0], ok[1], ("Twiml", "<Say>Hi</Say>")]), 12100);
        assert_eq!(refused(&[ok[0], ok[1], ok[2], ("Timeout", "0")]), 21216);
        assert_eq!(
            refused(&[ok[0], ok[1], ok[2], ("MachineDetection", "On")]),
            21626
        );
        assert_eq!(
            refused(&[ok[0], ok[1], ok[2], ("StatusCallback", "ftp://x")]),
            21609
        );
        assert_eq!(
            refused(&[
                ok[0],
                ok[1],
                ok[2],
                ("StatusCallbackEvent", "ringing hungup")
            ]),
            21626
        );
    }
}
