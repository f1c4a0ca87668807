//! How long a browser may keep the compiled site assets under `/pkg` (the WASM bundle, its JS
//! glue, the stylesheet). The files themselves, and their brotli or gzip siblings for browsers
//! that accept them, are served by `leptos_axum::file_and_error_handler` from the site root.
//!
//! What must stay true:
//! - A file whose name carries its content's hash (cargo-leptos `hash-files`:
//!   `herald.<22 characters>.wasm`) is cached for a year as immutable: a new build has new names,
//!   so a parent's phone downloads the bundle once per release, not once per visit.
//! - Every other asset is revalidated before each use (`no-cache`), so a name without a hash never
//!   serves yesterday's bundle.
//! - Every asset says `Vary: Accept-Encoding`: a cache between us and the browser must not hand
//!   the brotli body to a browser that asked for gzip.
//! - The pages the server writes by hand (unsubscribe, the Utilization extract) link the
//!   stylesheet by [`stylesheet`], the same name the Leptos pages link.

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::LeptosOptions;

/// The folder cargo-leptos writes the bundle to, below the site root (`site-pkg-dir`).
const PKG: &str = "/pkg/";

static STYLESHEET: OnceLock<String> = OnceLock::new();

/// Decides the stylesheet's URL from the site options, once per process (the first router built
/// decides): `/pkg/herald.<hash>.css` when the build hashed its files, else `/pkg/herald.css`.
pub fn use_options(options: &LeptosOptions) {
    let hash = options
        .hash_files
        .then(|| css_hash(&std::fs::read_to_string(hash_file(options)?).ok()?))
        .flatten();
    let name = match hash {
        Some(h) => format!("{}.{h}.css", options.output_name),
        None => format!("{}.css", options.output_name),
    };
    let _ = STYLESHEET.set(format!("/{}/{name}", options.site_pkg_dir));
}

/// Where cargo-leptos' `hash.txt` (the bundle's hashed names) is: beside the running binary, as
/// Leptos looks for it.
pub fn hash_file(options: &LeptosOptions) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(options.hash_file.as_ref()))
}

/// The stylesheet's URL, for pages written by hand.
pub fn stylesheet() -> &'static str {
    STYLESHEET.get().map_or("/pkg/herald.css", String::as_str)
}

/// The `css: <hash>` line of cargo-leptos' hash.txt.
fn css_hash(hash_txt: &str) -> Option<String> {
    hash_txt.lines().find_map(|l| {
        let (file, hash) = l.split_once(':')?;
        (file.trim() == "css").then(|| hash.trim().to_string())
    })
}

/// Adds `Cache-Control` and `Vary` to successful answers for files under `/pkg/`.
pub async fn cache_control(req: Request, next: Next) -> Response {
    let policy = req.uri().path().strip_prefix(PKG).map(policy);
    let mut res = next.run(req).await;
    if let Some(policy) = policy
        && res.status().is_success()
    {
        let headers = res.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// The `Cache-Control` for the file `name` under `/pkg/`.
fn policy(name: &str) -> &'static str {
    if is_hashed(name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Whether a file name carries a cargo-leptos content hash: `stem.<22 of [A-Za-z0-9_-]>.ext`
/// (an MD5 in unpadded base64url), in the folder itself rather than below it.
fn is_hashed(name: &str) -> bool {
    if name.contains('/') {
        return false;
    }
    let mut parts = name.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheets_hash_is_read_from_hash_txt() {
        let txt = "js: AAAAAAAAAAAAAAAAAAAAAA\nwasm: BBBBBBBBBBBBBBBBBBBBBB\ncss: CCCCCCCCCCCCCCCCCCCCCC\n";
        assert_eq!(css_hash(txt).as_deref(), Some("CCCCCCCCCCCCCCCCCCCCCC"));
        assert_eq!(css_hash("js: A\n"), None);
    }

    #[test]
    fn a_hashed_bundle_is_kept_for_a_year_and_anything_else_is_revalidated() {
        assert_eq!(
            policy("herald.Xm3e8c9Rk1_zq-T0aBcDeF.wasm"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            policy("herald.Xm3e8c9Rk1_zq-T0aBcDeF.js"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(policy("herald.wasm"), "no-cache");
        assert_eq!(policy("herald_bg.wasm"), "no-cache");
        // Too short, a character base64url does not use, or below the folder: not a hash.
        assert_eq!(policy("herald.Xm3e8c9Rk1.css"), "no-cache");
        assert_eq!(policy("herald.Xm3e8c9Rk1_zq+T0aBcDeF.js"), "no-cache");
        assert_eq!(
            policy("snippets/x/herald.Xm3e8c9Rk1_zq-T0aBcDeF.js"),
            "no-cache"
        );
        assert_eq!(policy(".Xm3e8c9Rk1_zq-T0aBcDeF.js"), "no-cache");
    }
}
