//! Browser bundle benchmark: what a parent's phone downloads on a first visit to the portal.
//! Starts the release `herald-server` (small: the debug one) on a generated district and walks
//! a parent's first visit as Chromium makes it (`Accept-Encoding: gzip, deflate, br`, an empty
//! cache): the sign-in page, then, signed in, `/portal`. For each page it asks for the HTML, every
//! file under `/pkg/` the page links (the route's own chunks are preloaded) and every module those
//! scripts import, each file once on the journey, and prints each file's size on disk and on the
//! wire, its encoding and `Cache-Control`, and the
//! total. Then, for a bundle built with `--split`, each lazily loaded page's own WASM: the
//! route's module and the shared chunks it fetches the first time someone opens it (from
//! `__wasm_split_manifest.json`), on disk and brotli-compressed.
//!
//! Needs the release site (`./herald.sh bench bundle` builds it: `cargo leptos build --release
//! --split --precompress`). Uses the database `herald_bench_bundle`, recreated on each run.
//! Run: `cargo bench -p herald-core --bench figures -- bundle`.

use std::collections::BTreeMap;
use std::path::Path;
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
            .env("HERALD__SECRETS__KEY", herald_testing::SECRETS_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    support::wait_for_server(&http, &base).await?;

    println!("a parent's first visit, signing in and reading the portal ({ACCEPT}):");
    println!(
        "  {:<44} {:>10} {:>10}  {:<8} cache",
        "file", "on disk", "on wire", "encoding"
    );
    // What the browser already holds: each file is fetched once on the journey.
    let mut fetched = Vec::new();
    let mut total = visit(&http, &base, "/sign-in", None, &site, &mut fetched).await?;

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
    total += visit(&http, &base, "/portal", Some(&cookie), &site, &mut fetched).await?;
    println!(
        "  total on the wire: {}   target: <= {TARGET_KB:.0} KB",
        kb(total)
    );
    lazy_pages(&site.join("pkg"))?;
    Ok(())
}

/// Asks for one page as Chromium does, then for every file under `/pkg/` it links and every
/// module those scripts import, except those in `fetched` (the browser has them); prints a line
/// per file and returns the bytes on the wire.
async fn visit(
    http: &reqwest::Client,
    base: &str,
    page_path: &str,
    cookie: Option<&str>,
    site: &Path,
    fetched: &mut Vec<String>,
) -> anyhow::Result<usize> {
    let get = |path: &str| {
        let req = http.get(format!("{base}{path}"));
        match cookie {
            Some(c) => req.header(COOKIE, c),
            None => req,
        }
    };
    let page = get(page_path)
        .header(ACCEPT_ENCODING, ACCEPT)
        .send()
        .await?;
    if !page.status().is_success() {
        bail!("GET {page_path} answered {}", page.status());
    }
    let page_encoding = encoding(&page);
    let html_wire = page.bytes().await?;
    // The page itself, decoded, to find what it links: ask again without compression.
    let html = get(page_path).send().await?.text().await?;
    println!(
        "  {:<44} {:>10} {:>10}  {:<8} (a page, not cached)",
        format!("{page_path} (HTML)"),
        "-",
        kb(html_wire.len()),
        page_encoding
    );
    let mut total = html_wire.len();
    let mut queue: Vec<String> = linked_assets(&html)
        .into_iter()
        .filter(|p| !fetched.contains(p))
        .collect();
    let mut seen = 0;
    while seen < queue.len() {
        let path = queue[seen].clone();
        seen += 1;
        fetched.push(path.clone());
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
        let on_disk = site.join(path.trim_start_matches('/'));
        let disk = std::fs::metadata(&on_disk)
            .map(|m| kb(m.len() as usize))
            .unwrap_or_else(|_| "-".into());
        println!(
            "  {:<44} {:>10} {:>10}  {:<8} {cache}",
            short(&path),
            disk,
            kb(wire),
            enc
        );
        total += wire;
        if path.ends_with(".js") {
            let script = std::fs::read_to_string(&on_disk)
                .with_context(|| format!("reading {}", on_disk.display()))?;
            for import in imported_modules(&path, &script) {
                if !queue.contains(&import) && !fetched.contains(&import) {
                    queue.push(import);
                }
            }
        }
    }
    Ok(total)
}

/// A file's path without its content hash, and a split module's name without its own hash, so
/// that lines fit.
fn short(path: &str) -> String {
    let Some((stem, ext)) = path.rsplit_once('.') else {
        return path.to_string();
    };
    let stem = stem.rsplit_once('.').map_or(stem, |(name, _hash)| name);
    let stem = stem.rsplit_once("_view_").map_or(stem, |(name, _)| name);
    format!("{stem}.{ext}")
}

/// Each lazily loaded page's own WASM, from the split manifest (nothing when the bundle was
/// built without `--split`).
fn lazy_pages(pkg: &Path) -> anyhow::Result<()> {
    let Some(manifest) = std::fs::read_dir(pkg)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("__wasm_split_manifest") && n.ends_with(".json"))
        })
    else {
        println!("  (one bundle: built without --split)");
        return Ok(());
    };
    let splits: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(&manifest)?)
            .with_context(|| format!("reading {}", manifest.display()))?;
    let files: Vec<String> = std::fs::read_dir(pkg)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    println!("each lazily loaded page, fetched when first opened (its module + shared chunks):");
    println!("  {:<28} {:>10} {:>10}", "page", "on disk", "brotli");
    for (split, chunks) in &splits {
        // The manifest lists the route's own module among its chunks; add it if a version does not.
        let own = format!("split_{split}.");
        let mut names = chunks.clone();
        if !names.iter().any(|n| n.starts_with(&own)) {
            let module = files
                .iter()
                .find(|f| f.starts_with(&own) && f.ends_with(".wasm"))
                .with_context(|| format!("no module for {split} in {}", pkg.display()))?;
            names.push(module.trim_end_matches(".wasm").to_string());
        }
        // A site built without `--precompress` (the small run's debug build) has no `.br` files.
        let (mut raw, mut br) = (0, Some(0));
        for name in &names {
            raw += size(&pkg.join(format!("{name}.wasm")))?;
            let compressed = pkg.join(format!("{name}.wasm.br"));
            br = br.and_then(|b| Some(b + size(&compressed).ok()?));
        }
        let br = br.map_or_else(|| "-".into(), kb);
        println!("  {:<28} {:>10} {:>10}", page_name(split), kb(raw), br);
    }
    Ok(())
}

/// `__delivery_report_view_846…` → `delivery report`.
fn page_name(split: &str) -> String {
    let name = split.trim_start_matches('_');
    let name = name.rsplit_once("_view_").map_or(name, |(page, _)| page);
    name.replace('_', " ")
}

fn size(path: &Path) -> anyhow::Result<usize> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len() as usize)
}

/// The modules a script imports statically (`from "./x.js"`), as paths from the site root.
fn imported_modules(script_path: &str, script: &str) -> Vec<String> {
    let dir = script_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut found = Vec::new();
    for marker in ["from\"./", "from \"./", "from'./", "from './"] {
        let quote = if marker.contains('\'') { '\'' } else { '"' };
        for (i, _) in script.match_indices(marker) {
            let tail = &script[i + marker.len()..];
            let Some(end) = tail.find(quote) else {
                continue;
            };
            let path = format!("{dir}/{}", &tail[..end]);
            if !found.contains(&path) {
                found.push(path);
            }
        }
    }
    found
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
