//! `AppError`: what a server function tells the browser when it fails, and with which HTTP
//! status.
//!
//! What must stay true:
//! - The messages are written for a district admin or a parent. Internal causes (SQL errors, IO)
//!   become [`AppError::Unavailable`] or [`AppError::Busy`] after their cause chain is logged on
//!   the server by [`AppError::internal`]; they are never serialised to the client.
//! - Each variant has one status ([`AppError::status`]), used by server functions (set while the
//!   error is encoded, [`FromServerFnError::ser`]) and plain handlers alike: refusals and bad
//!   input are 4xx, so that a 5xx always means Herald itself failed and the error rate ops watch
//!   is true.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A failure a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// No session (401).
    #[error("Please sign in.")]
    NotSignedIn,
    /// Signed in, but the role may not do this (403).
    #[error("Your account is not allowed to do that.")]
    Forbidden,
    /// No such thing, or not the caller's to see (404).
    #[error("Not found.")]
    NotFound,
    /// The input is understood but not acceptable; says what and where (422).
    #[error("{0}")]
    Invalid(String),
    /// The request itself is malformed: arguments missing or not decodable (400).
    #[error("Herald could not read that request: {0}")]
    Malformed(String),
    /// The email and password match no account (401).
    #[error("{0}")]
    SignInRefused(String),
    /// Too many attempts; says when to try again (429).
    #[error("{0}")]
    TooManyAttempts(String),
    /// The upload is larger than the settings allow; says the limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Herald is overloaded (a statement ran past its deadline, no database connection was free)
    /// (503).
    #[error("Herald is busy just now. Please try again in a minute.")]
    Busy,
    /// Herald itself failed (500).
    #[error(
        "Herald could not do that just now. Please try again; if it keeps happening, tell your Herald administrator."
    )]
    Unavailable,
    /// The browser could not reach Herald or read its answer (made in the browser only; 502 if
    /// ever sent).
    #[error("Could not reach Herald: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::NotSignedIn | Self::SignInRefused(_) => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::TooLarge(_) => 413,
            Self::Invalid(_) => 422,
            Self::TooManyAttempts(_) => 429,
            Self::Unavailable => 500,
            Self::Transport(_) => 502,
            Self::Busy => 503,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // On the server: what the caller sent cannot be read.
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => AppError::Malformed(e),
            // The server decoding a request body; in the browser the same variant means the
            // answer could not be read, which is the transport's fault.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(e) => AppError::Malformed(e),
            other => AppError::Transport(other.to_string()),
        }
    }

    /// Encodes the error, and on the server sets the response's status to [`AppError::status`].
    fn ser(&self) -> leptos::server_fn::Bytes {
        #[cfg(feature = "ssr")]
        if let (Some(response), Ok(status)) = (
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
            axum::http::StatusCode::from_u16(self.status()),
        ) {
            response.set_status(status);
        }
        <JsonEncoding as leptos::server_fn::Encodes<Self>>::encode(self)
            .unwrap_or_else(|_| leptos::server_fn::Bytes::from_static(b"\"Unavailable\""))
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs an internal error with its whole cause chain and returns the generic message:
    /// [`AppError::Busy`] when the database was overloaded (a statement past its deadline, no
    /// free connection), else [`AppError::Unavailable`].
    pub fn internal(context: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut busy = is_overload(err);
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            busy |= is_overload(cause);
            source = cause.source();
        }
        if busy {
            tracing::warn!(context, error = %chain, "server function refused: overloaded");
            return AppError::Busy;
        }
        tracing::error!(context, error = %chain, "server function failed");
        AppError::Unavailable
    }
}

/// Whether `err` is PostgreSQL canceling a statement past its deadline, or the pool having no
/// connection free in time.
#[cfg(feature = "ssr")]
fn is_overload(err: &(dyn std::error::Error + 'static)) -> bool {
    match err.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::PoolTimedOut) => true,
        Some(sqlx::Error::Database(db)) => db.code().as_deref() == Some("57014"),
        _ => false,
    }
}

/// The same refusals for plain HTTP handlers (downloads, extracts): signed out is a redirect to
/// sign-in, the rest a status with the sentence as plain text.
#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        if self == Self::NotSignedIn {
            return axum::response::Redirect::to("/sign-in").into_response();
        }
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, format!("{self}\n")).into_response()
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::internal("database", &err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_bad_input_are_4xx_and_only_herald_failing_is_5xx() {
        let refusals = [
            AppError::NotSignedIn,
            AppError::Forbidden,
            AppError::NotFound,
            AppError::Invalid("x".into()),
            AppError::Malformed("x".into()),
            AppError::SignInRefused("x".into()),
            AppError::TooManyAttempts("x".into()),
            AppError::TooLarge("x".into()),
        ];
        for e in refusals {
            assert!((400..500).contains(&e.status()), "{e:?}");
        }
        for e in [AppError::Unavailable, AppError::Busy] {
            assert!((500..600).contains(&e.status()), "{e:?}");
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn a_statement_past_its_deadline_is_busy_not_a_failure() {
        assert_eq!(
            AppError::internal("test", &sqlx::Error::PoolTimedOut),
            AppError::Busy
        );
        assert_eq!(
            AppError::internal("test", &sqlx::Error::RowNotFound),
            AppError::Unavailable
        );
    }
}
