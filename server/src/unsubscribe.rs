//! One-click unsubscribe (RFC 8058) at `/unsubscribe/{token}`.
//!
//! - `GET` shows what the link will turn off and a button; it changes nothing (mail scanners
//!   follow links).
//! - `POST` turns it off and says what it turned off, with an undo (`POST …/undo`) and a link to
//!   the portal's contact preferences: from that button, or from a mail provider honouring
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, which posts without cookies or origin.
//!   The signed token is the only authority, so this path is exempt from the cross-site guard.
//!
//! What must stay true: an invalid or tampered token changes nothing and says so.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use herald_app::state::AppState;
use herald_core::messaging::template::escape_html;
use herald_core::messaging::unsubscribe::{self, UnsubscribeKey, Unsubscribed};

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Herald</title><link rel=\"stylesheet\" href=\"{css}\"></head>\
         <body><main class=\"centered unsubscribe\"><h1>{t}</h1>{body}</main></body></html>",
        t = escape_html(title),
        css = crate::assets::stylesheet()
    );
    (status, Html(html)).into_response()
}

fn invalid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link does not work",
        "<p>The unsubscribe link is incomplete or was changed. Copy the whole link from the email, or \
         sign in to the portal to change your contact preferences.</p>",
    )
}

fn unavailable(e: &sqlx::Error) -> Response {
    tracing::error!(error = %e, "unsubscribe failed");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again",
        "<p>Herald could not do that just now. Please try the link again in a few minutes.</p>",
    )
}

/// What a genuine token names, with its address masked for the page; or the page to answer
/// instead (a broken link, a method since removed, a database outage).
async fn resolve(
    state: &AppState,
    token: &str,
) -> Result<(unsubscribe::Verified, String), Response> {
    let key = UnsubscribeKey::load(&state.pool)
        .await
        .map_err(|e| unavailable(&e))?;
    let (method, reason) = key.verify(token).ok_or_else(invalid)?;
    match unsubscribe::describe(&state.pool, method).await {
        Ok(Some(address)) => Ok(((method, reason), escape_html(&address))),
        Ok(None) => Err(invalid()),
        Err(e) => Err(unavailable(&e)),
    }
}

pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let ((_, reason), address) = match resolve(&state, &token).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    page(
        StatusCode::OK,
        "Unsubscribe",
        &format!(
            "<p>Stop <strong>{r}</strong> messages to <strong>{a}</strong>?</p>\
             <p class=\"muted\">Other kinds of messages, and emergency messages, still reach you.</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\" class=\"primary\">Unsubscribe</button></form>",
            r = escape_html(reason.label()),
            a = address
        ),
    )
}

/// "Manage all your contact preferences", under every outcome.
const MANAGE: &str = "<p><a href=\"/portal/preferences\">Manage all your contact preferences</a> \
    <span class=\"muted\">(sign in to the parent portal)</span></p>";

pub async fn apply(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let ((method, reason), address) = match resolve(&state, &token).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let label = escape_html(reason.label());
    match unsubscribe::apply(&state.pool, method, reason).await {
        Ok(Unsubscribed::TurnedOff) => {
            tracing::info!(%method, reason = reason.as_str(), "unsubscribed by link");
            page(
                StatusCode::OK,
                "You are unsubscribed",
                &format!(
                    "<p role=\"status\"><strong>{label}</strong> messages will no longer be sent to \
                     <strong>{address}</strong>.</p>\
                     <p class=\"muted\">Other kinds of messages still reach this address, and \
                     emergency messages always do.</p>\
                     <form method=\"post\" action=\"/unsubscribe/{token}/undo\">\
                     <button type=\"submit\" class=\"secondary\">Undo: keep getting {label} messages</button></form>\
                     {MANAGE}",
                    token = escape_html(&token),
                ),
            )
        }
        Ok(Unsubscribed::AlreadyOff) => page(
            StatusCode::OK,
            "Already unsubscribed",
            &format!(
                "<p role=\"status\"><strong>{label}</strong> messages were already turned off for \
                 <strong>{address}</strong>. Nothing changed.</p>{MANAGE}"
            ),
        ),
        Ok(Unsubscribed::Required) => page(
            StatusCode::OK,
            "These messages stay on",
            &format!(
                "<p role=\"status\">Your district requires <strong>{label}</strong> messages to reach \
                 <strong>{address}</strong>, its emergency contact, so that it can reach you in a \
                 lockdown, a closure or another urgent safety matter. Nothing changed. To change your \
                 emergency contacts, contact your student's school.</p>{MANAGE}"
            ),
        ),
        Ok(Unsubscribed::Gone) => invalid(),
        Err(e) => unavailable(&e),
    }
}

/// The undo on the "You are unsubscribed" page: turns the reason back on.
pub async fn undo(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let ((method, reason), address) = match resolve(&state, &token).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match unsubscribe::undo(&state.pool, method, reason).await {
        Ok(true) => {
            tracing::info!(%method, reason = reason.as_str(), "unsubscribe undone");
            page(
                StatusCode::OK,
                "You are subscribed again",
                &format!(
                    "<p role=\"status\"><strong>{}</strong> messages will reach <strong>{address}</strong> \
                     again.</p>{MANAGE}",
                    escape_html(reason.label())
                ),
            )
        }
        Ok(false) => invalid(),
        Err(e) => unavailable(&e),
    }
}
