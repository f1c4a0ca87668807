//! One-click unsubscribe (RFC 8058) at `/unsubscribe/{token}`.
//!
//! - `GET` shows what the link will turn off and a button; it changes nothing (mail scanners
//!   follow links).
//! - `POST` turns it off: from that button, or from a mail provider honouring
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, which posts without cookies or origin.
//!   The signed token is the only authority, so this path is exempt from the cross-site guard.
//!
//! What must stay true: an invalid or tampered token changes nothing and says so.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use herald_app::state::AppState;
use herald_core::messaging::template::escape_html;
use herald_core::messaging::unsubscribe::{self, UnsubscribeKey};

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Herald</title><link rel=\"stylesheet\" href=\"/pkg/herald.css\"></head>\
         <body><main class=\"centered unsubscribe\"><h1>{t}</h1>{body}</main></body></html>",
        t = escape_html(title)
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

async fn verify(
    state: &AppState,
    token: &str,
) -> Result<Option<unsubscribe::Verified>, sqlx::Error> {
    Ok(UnsubscribeKey::load(&state.pool).await?.verify(token))
}

pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (method, reason) = match verify(&state, &token).await {
        Ok(Some(v)) => v,
        Ok(None) => return invalid(),
        Err(e) => return unavailable(&e),
    };
    let address = match unsubscribe::describe(&state.pool, method).await {
        Ok(Some(a)) => a,
        Ok(None) => return invalid(),
        Err(e) => return unavailable(&e),
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
            a = escape_html(&address)
        ),
    )
}

pub async fn apply(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (method, reason) = match verify(&state, &token).await {
        Ok(Some(v)) => v,
        Ok(None) => return invalid(),
        Err(e) => return unavailable(&e),
    };
    match unsubscribe::apply(&state.pool, method, reason).await {
        Ok(true) => {
            tracing::info!(%method, reason = reason.as_str(), "unsubscribed by link");
            page(
                StatusCode::OK,
                "You are unsubscribed",
                &format!(
                    "<p>This address will no longer receive <strong>{}</strong> messages. You can turn \
                     them back on from the portal.</p>",
                    escape_html(reason.label())
                ),
            )
        }
        Ok(false) => invalid(),
        Err(e) => unavailable(&e),
    }
}
