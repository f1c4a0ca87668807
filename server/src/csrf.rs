//! Cross-site request guard: state-changing requests must come from Herald's own pages.
//!
//! Server functions are POSTs. The session cookie is `SameSite=Lax`, so browsers already leave it
//! off cross-site POSTs; this layer adds a second wall that does not depend on cookie rules:
//! a non-GET/HEAD request is refused when the browser says it is cross-site
//! (`Sec-Fetch-Site: cross-site`) or when its `Origin` names a host other than the one it was
//! sent to.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses cross-site state-changing requests with 403.
pub async fn reject_cross_site(req: Request, next: Next) -> Response {
    if is_cross_site(&req) {
        tracing::warn!(uri = %req.uri(), "refused a cross-site request");
        return (
            StatusCode::FORBIDDEN,
            "Cross-site requests are not allowed.",
        )
            .into_response();
    }
    next.run(req).await
}

fn is_cross_site(req: &Request) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    // One-click unsubscribe is posted by mail providers from anywhere; its signed token is the
    // authority, and no cookie is involved (see `unsubscribe`).
    // Status callbacks come from the voice provider; their X-Twilio-Signature is the authority
    // (see `herald_core::dialer::callback`).
    if req.uri().path().starts_with("/unsubscribe/")
        || req.uri().path() == herald_core::dialer::callback::PATH
    {
        return false;
    }
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().method(Method::POST).uri("/api/sign_in");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn a_post_from_another_origin_is_cross_site() {
        assert!(is_cross_site(&post(&[
            ("host", "herald.test"),
            ("origin", "https://evil.test")
        ])));
        assert!(is_cross_site(&post(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn a_post_from_the_same_origin_or_without_origin_is_allowed() {
        assert!(!is_cross_site(&post(&[
            ("host", "herald.test"),
            ("origin", "http://herald.test")
        ])));
        assert!(!is_cross_site(&post(&[("sec-fetch-site", "same-origin")])));
        assert!(!is_cross_site(&post(&[])));
    }
}
