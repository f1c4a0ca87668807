//! What a browser is sent for the site's assets and pages: the hashed bundle precompressed and
//! kept for a year, anything unhashed revalidated, pages compressed on the fly.

use axum::http::{StatusCode, header};
use herald_testing::db::TestDb;

use crate::support::TestApp;

/// A file named as cargo-leptos' `hash-files` names the bundle.
const HASHED: &str = "herald.Xm3e8c9Rk1_zq-T0aBcDeF.wasm";

/// A site root with the hashed bundle, its brotli and gzip siblings, and one unhashed file.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join(HASHED), b"\0asm plain").unwrap();
    std::fs::write(pkg.join(format!("{HASHED}.br")), b"brotli body").unwrap();
    std::fs::write(pkg.join(format!("{HASHED}.gz")), b"gzip body").unwrap();
    std::fs::write(pkg.join("herald.css"), b"body{}").unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hashed_bundle_is_sent_precompressed_and_kept_for_a_year() {
    let db = TestDb::new().await;
    let site = site();
    let app = TestApp::serving(db.pool.clone(), site.path().to_str().unwrap());
    let r = app
        .get_encoded(&format!("/pkg/{HASHED}"), "gzip, deflate, br")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_ENCODING], "br");
    assert_eq!(r.body, "brotli body");
    assert_eq!(
        r.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers[header::VARY]
            .to_str()
            .unwrap()
            .contains("accept-encoding")
    );
    // A browser without brotli gets the gzip file; one without either, the file itself.
    let r = app.get_encoded(&format!("/pkg/{HASHED}"), "gzip").await;
    assert_eq!(r.headers[header::CONTENT_ENCODING], "gzip");
    let r = app.get_encoded(&format!("/pkg/{HASHED}"), "identity").await;
    assert!(r.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(r.body, "\0asm plain");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_asset_without_a_hash_in_its_name_is_revalidated_every_time() {
    let db = TestDb::new().await;
    let site = site();
    let app = TestApp::serving(db.pool.clone(), site.path().to_str().unwrap());
    let r = app.get_encoded("/pkg/herald.css", "br").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache");
    let missing = app.get_encoded("/pkg/herald.nothing.wasm", "br").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.headers.get(header::CACHE_CONTROL).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_is_sent_compressed_to_a_browser_that_accepts_it() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone());
    let r = app.get_encoded("/sign-in", "gzip, deflate, br").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_ENCODING], "br");
    let plain = app.get_encoded("/sign-in", "identity").await;
    assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
    assert!(plain.body.contains("Sign in"));
}
