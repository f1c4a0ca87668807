//! Browser bundle benchmark: what a parent's phone downloads on a first visit to the portal.
//! Starts the release `herald-server` (small: the debug one) on a generated district, signs in
//! as the demo parent, asks for `/portal` as Chromium does (`Accept-Encoding: gzip, deflate,
//! br`), then for every file under `/pkg/` the page links, and prints each file's size on disk
//! and on the wire, its encoding and `Cache-Control`, and the total.
//!
//! Needs the release site (`./herald.sh bench bundle` builds it: `cargo leptos build --release
//! --precompress`). Uses the database `herald_bench_bundle`, recreated on each run.
//! Run: `cargo bench -p herald-core --bench figures -- bundle`.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use herald_core::dev::district::{self, DemoOptions};
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, COOKIE, SET_COOKIE};

use crate::support::{self, Proc, Scale};

/// What Chromium sends.
const ACCEPT: &str = "gzip, deflate, br";
/// The target for a parent's first visit, everything included.
const TARGET_KB: f64 = 300.0;

pub async fn bench(scale: Scale) -> anyhow::Result<()> {
    let (bins, site) = support::built_site(scale)?;
    let db = scale.database("bundle");
    let pool = support::fresh_database(&db).await?;
    let dir = tempfile::tempdir()?;
    district::generate(
        &DemoOptions {
            seed: 5,
            schools: 1,
            students: 100,
        },
        dir.path(),
    )?;
    herald_core::oneroster::import_path(&pool, dir.path(), &|_| {}).await?;
    herald_core::dev::sign_ins::ensure(&pool).await?;
    pool.close().await;

    let port = support::free_port()?;
    let _server = Proc::spawn(
        Command::new(bins.join("herald-server"))
            .env("DATABASE_URL", format!("{}/{db}", support::server_base()?))
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", &site)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_for(&http, &base).await?;

    let signed_in = http
        .post(format!("{base}/api/sign_in"))
        .form(&[
            ("email", "parent@demo.herald.test"),
            ("password", "herald-parent"),
        ])
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get(SET_COOKIE)
        .and_then(|c| c.to_str().ok()?.split(';').next().map(str::to_string))
        .context("signing in as the demo parent")?;

    let page = http
        .get(format!("{base}/portal"))
        .header(ACCEPT_ENCODING, ACCEPT)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    if !page.status().is_success() {
        bail!("GET /portal answered {}", page.status());
    }
    let page_encoding = encoding(&page);
    let html_wire = page.bytes().await?;
    // The page itself, decoded, to find what it links: ask again without compression.
    let html = http
        .get(format!("{base}/portal"))
        .header(COOKIE, &cookie)
        .send()
        .await?
        .text()
        .await?;

    println!("a parent's first visit to /portal ({ACCEPT}):");
    println!(
        "  {:<44} {:>10} {:>10}  {:<8} cache",
        "file", "on disk", "on wire", "encoding"
    );
    println!(
        "  {:<44} {:>10} {:>10}  {:<8} (a page, not cached)",
        "/portal (HTML)",
        "-",
        kb(html_wire.len()),
        page_encoding
    );
    let mut total = html_wire.len();
    for path in linked_assets(&html) {
        let res = http
            .get(format!("{base}{path}"))
            .header(ACCEPT_ENCODING, ACCEPT)
            .send()
            .await?;
        if !res.status().is_success() {
            bail!("GET {path} answered {}", res.status());
        }
        let (enc, cache) = (
            encoding(&res),
            res.headers()
                .get(CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string(),
        );
        let wire = res.bytes().await?.len();
        let disk = std::fs::metadata(site.join(path.trim_start_matches('/')))
            .map(|m| kb(m.len() as usize))
            .unwrap_or_else(|_| "-".into());
        println!(
            "  {:<44} {:>10} {:>10}  {:<8} {cache}",
            path,
            disk,
            kb(wire),
            enc
        );
        total += wire;
    }
    println!(
        "  total on the wire: {}   target: <= {TARGET_KB:.0} KB",
        kb(total)
    );
    Ok(())
}

/// Every `/pkg/…` and `/favicon.svg` the page links, in order, once each.
fn linked_assets(html: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for start in ["\"/pkg/", "'/pkg/", "\"/favicon"] {
        let mut rest = html;
        while let Some(i) = rest.find(start) {
            let quote = &start[..1];
            let tail = &rest[i + 1..];
            let end = tail.find(quote).unwrap_or(tail.len());
            let path = tail[..end].to_string();
            if !found.contains(&path) {
                found.push(path);
            }
            rest = &tail[end..];
        }
    }
    found
}

fn encoding(res: &reqwest::Response) -> String {
    res.headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_string()
}

fn kb(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

async fn wait_for(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if http.get(format!("{base}/sign-in")).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the server did not start")
}
