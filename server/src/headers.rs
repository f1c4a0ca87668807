//! The security headers every answer carries.
//!
//! What must stay true:
//! - Every response says `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin` (an
//!   unsubscribe link's token never leaves in a `Referer`), and may not be framed by another
//!   site (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers).
//! - Every response has a Content-Security-Policy. A Leptos page gets [`page_policy`] with the
//!   nonce Leptos put on its own inline scripts (hydration, resources), so no other inline script
//!   runs; any other answer gets [`STRICT_POLICY`], which runs no script at all.
//! - The page policy is one the hydrated app works under: scripts and WASM from this site only
//!   (`'wasm-unsafe-eval'` lets the browser compile the WASM, nothing evaluates strings), server
//!   functions to this site only. Inline styles are allowed because the compose preview shows
//!   an email's own HTML, which carries them; remote images because emails link them.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of answers that are not Leptos pages (exports, unsubscribe pages, errors).
pub const STRICT_POLICY: &str = "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The policy of a Leptos page whose inline scripts carry `nonce`.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; \
         frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
         object-src 'none'"
    )
}

/// Sets the page's policy for the response being rendered (called in the Leptos context of
/// each page request, where leptos_axum has made the nonce).
pub fn set_page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Adds the headers every answer carries; keeps a page's own policy.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(STRICT_POLICY),
        );
    }
    res
}
