//! Guards the server functions that take a multipart upload (Roster Import's `upload_roster`).
//!
//! What must stay true: a request to one of them that is not `multipart/form-data` with a
//! boundary is answered `400` with an [`AppError::Malformed`] before the server function's
//! decoder sees it (that decoder panics on a missing boundary, and would do so before any role
//! check), so no caller, signed in or not, can make the server panic this way.

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_app::error::AppError;
use leptos::server_fn::error::FromServerFnError;

/// The server functions whose input is multipart.
const MULTIPART_FUNCTIONS: &[&str] = &["/api/upload_roster"];

/// Whether `content_type` is `multipart/form-data` naming a non-empty boundary.
fn has_boundary(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let is_form = parts
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"));
    is_form
        && parts.any(|p| {
            p.trim().split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("boundary") && !v.trim_matches('"').is_empty()
            })
        })
}

/// Refuses a multipart server-function call without a boundary.
pub async fn require_boundary(req: Request, next: Next) -> Response {
    if MULTIPART_FUNCTIONS.contains(&req.uri().path()) {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !has_boundary(content_type) {
            let e = AppError::Malformed(
                "an upload must be sent as multipart/form-data with a boundary.".into(),
            );
            // Encoded and given its status as every server function's error is.
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = FromServerFnError::ser(&e);
            return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_multipart_form_data_with_a_boundary_passes() {
        assert!(has_boundary("multipart/form-data; boundary=abc"));
        assert!(has_boundary("Multipart/Form-Data;boundary=\"a b\""));
        assert!(!has_boundary("multipart/form-data"));
        assert!(!has_boundary("multipart/form-data; boundary="));
        assert!(!has_boundary(
            "application/x-www-form-urlencoded; boundary=abc"
        ));
        assert!(!has_boundary(""));
    }
}
