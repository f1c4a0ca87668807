//! `herald-server`: loads settings and the Leptos site options, then hands over to
//! [`herald_server::run`].

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let settings = herald_core::settings::Settings::load().context("loading settings")?;
    let mut leptos = leptos::prelude::get_configuration(None)
        .context("reading the Leptos site configuration")?
        .leptos_options;
    // cargo-leptos bakes the bundle's name in; a plain `cargo build` does not.
    if leptos.output_name.is_empty() {
        leptos.output_name = "herald".into();
    }
    herald_server::run(settings, leptos).await
}
