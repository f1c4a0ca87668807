//! `herald-server`: loads settings and the Leptos site options, then hands over to
//! [`herald_server::run`].

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald_core::logging::init();
    let settings = herald_core::config::Config::load().context("loading settings")?;
    let mut leptos = leptos::prelude::get_configuration(None)
        .context("reading the Leptos site configuration")?
        .leptos_options;
    // cargo-leptos bakes the bundle's name in; a plain `cargo build` does not.
    if leptos.output_name.is_empty() {
        leptos.output_name = "herald".into();
    }
    herald_server::run(settings, leptos).await
}
