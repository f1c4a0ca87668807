//! The status-callback endpoint, `POST /dialer/status?call=<phone_call id>`: the provider reports
//! each call's progress here and Herald applies it ([`super::calls::apply_status`]).
//!
//! It lives in `herald_core` as an axum router so that the web server mounts it and the
//! worker's integration tests serve the very same handler.
//!
//! What must stay true:
//! - Nothing changes unless `X-Twilio-Signature` is the signature of this request under the
//!   account's auth token, computed over Herald's public URL (the origin of the portal URL, as
//!   the provider was told) and the form parameters. A refused callback is logged and answered
//!   403.
//! - The URL signed is built from settings, never from the request's `Host` header.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Router, body::Bytes};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

use super::calls::{self, Applied, CallUpdate};
use super::preferences;
use super::provider::{CallState, CallStatus, verify_signature};
use crate::config::Config;
use crate::messaging::email_preferences;

/// The path status callbacks are posted to.
pub const PATH: &str = "/dialer/status";

/// The callback URL for one call, under Herald's public origin.
pub fn url(origin: &str, call: Uuid) -> String {
    format!("{origin}{PATH}?call={call}")
}

#[derive(Clone)]
struct CallbackState {
    pool: PgPool,
    settings: Config,
}

/// The router serving [`PATH`], to merge into a router of any state.
pub fn router<S: Clone + Send + Sync + 'static>(pool: PgPool, settings: Config) -> Router<S> {
    Router::new()
        .route(PATH, post(status_callback))
        .with_state(CallbackState { pool, settings })
}

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("no valid X-Twilio-Signature")]
    Signature,
    #[error("the dialer has no auth token to check signatures with")]
    NoToken(#[source] preferences::DialerPreferencesError),
    #[error("bad callback: {0}")]
    Malformed(String),
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("reading the portal URL failed")]
    PortalUrl(#[from] email_preferences::EmailPreferencesError),
}

async fn status_callback(
    State(state): State<CallbackState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    match handle(&state, query.as_deref().unwrap_or(""), &headers, &body).await {
        Ok(applied) => {
            tracing::debug!(?applied, "status callback applied");
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            let mut chain = String::new();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                chain.push_str(&format!(": {s}"));
                source = s.source();
            }
            tracing::warn!(error = %e, cause = %chain, query = query.as_deref().unwrap_or(""),
                "status callback refused; nothing changed");
            match e {
                Refused::Signature | Refused::NoToken(_) => StatusCode::FORBIDDEN,
                Refused::Malformed(_) => StatusCode::BAD_REQUEST,
                Refused::Db(_) | Refused::PortalUrl(_) => StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    }
}

async fn handle(
    state: &CallbackState,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Applied, Refused> {
    let account =
        preferences::account(&state.pool, &state.settings.dialer, &state.settings.secrets)
            .await
            .map_err(Refused::NoToken)?;
    let portal = email_preferences::portal_url(&state.pool, &state.settings.smtp).await?;
    let url = format!("{}{PATH}?{query}", email_preferences::origin(&portal));
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| Refused::Malformed(format!("form body: {e}")))?;
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(Refused::Signature)?;
    if !verify_signature(account.auth_token.expose_secret(), &url, &params, signature) {
        return Err(Refused::Signature);
    }
    let q: HashMap<String, String> =
        serde_urlencoded::from_str(query).map_err(|e| Refused::Malformed(format!("query: {e}")))?;
    let call = q
        .get("call")
        .and_then(|c| Uuid::parse_str(c).ok())
        .ok_or_else(|| Refused::Malformed("the URL names no call".into()))?;
    let p: HashMap<&str, &str> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let update = parse(call, &p)?;
    Ok(calls::apply_status(&state.pool, &update).await?)
}

fn parse(call: Uuid, p: &HashMap<&str, &str>) -> Result<CallUpdate, Refused> {
    let sid = p
        .get("CallSid")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Refused::Malformed("no CallSid".into()))?;
    let raw_status = p.get("CallStatus").copied().unwrap_or("");
    let status = CallStatus::parse(raw_status)
        .ok_or_else(|| Refused::Malformed(format!("unknown CallStatus '{raw_status}'")))?;
    let sequence = match p.get("SequenceNumber") {
        Some(s) => Some(
            s.parse()
                .map_err(|_| Refused::Malformed(format!("SequenceNumber '{s}'")))?,
        ),
        None => None,
    };
    Ok(CallUpdate {
        reason: None,
        call,
        state: CallState {
            sid: (*sid).to_string(),
            status,
            answered_by: p
                .get("AnsweredBy")
                .filter(|a| !a.is_empty())
                .map(|a| (*a).to_string()),
            duration_seconds: p.get("CallDuration").and_then(|d| d.parse().ok()),
        },
        sequence,
    })
}
