//! Herald's benchmarks, the source of every line in README's Figures table: one binary, one
//! benchmark per module, chosen by name.
//!
//! ```text
//! cargo bench -p herald-core --bench figures                    # all of them, full size
//! cargo bench -p herald-core --bench figures -- import          # one
//! cargo bench -p herald-core --bench figures -- pipeline memory # with the memory run
//! cargo test  -p herald-core --bench figures                    # all, small: does each still work?
//! ```
//!
//! Under `cargo bench` (which passes `--bench`) each runs at the size README quotes. Under
//! `cargo test` each runs once at a small [`support::Scale`] in seconds, asserting nothing about
//! speed: `./herald.sh test` runs it so that a schema or API change that breaks a benchmark fails
//! CI instead of the next person who measures. Small figures mean nothing.
//!
//! # Layout
//! - [`support`]: the scale, databases, the bench admin, latency sampling.
//! - [`import`], [`pipeline`], [`dialer`], [`portal`], [`reports`], [`bundle`], [`chaos`]: one
//!   benchmark each (the last, fault drills); each module's doc says what it prints and the
//!   environment variables that size it.

mod bundle;
mod chaos;
mod dialer;
mod import;
mod pipeline;
mod portal;
mod reports;
mod support;

use anyhow::bail;
use support::Scale;

/// The benchmarks by name, in README's order.
const NAMES: [&str; 7] = [
    "import", "pipeline", "dialer", "portal", "reports", "bundle", "chaos",
];

fn main() -> anyhow::Result<()> {
    let scale = Scale::from_args();
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let memory = words.iter().any(|w| w == "memory") || scale.is_small();
    let mut chosen: Vec<&str> = Vec::new();
    for w in words.iter().filter(|w| *w != "memory") {
        match NAMES.iter().find(|n| *n == w) {
            Some(n) => chosen.push(n),
            None => bail!(
                "no benchmark is called '{w}'; there are: {}",
                NAMES.join(", ")
            ),
        }
    }
    if chosen.is_empty() {
        chosen = NAMES.to_vec();
    }
    if scale.is_small() {
        println!("(small run: these figures only show that each benchmark still works)");
    }
    support::run(async move {
        for name in chosen {
            match name {
                "import" => import::bench(scale).await?,
                "pipeline" => pipeline::bench(scale, memory).await?,
                "dialer" => dialer::bench(scale).await?,
                "portal" => portal::bench(scale).await?,
                "reports" => reports::bench(scale).await?,
                "bundle" => bundle::bench(scale).await?,
                "chaos" => chaos::bench(scale).await?,
                other => bail!("no benchmark is called '{other}'"),
            }
        }
        Ok(())
    })
}
