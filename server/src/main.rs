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
    // With `hash-files`, cargo-leptos names the bundle by its content and writes the names to
    // hash.txt beside this binary; pages link those names when the file is there (set
    // LEPTOS_HASH_FILES to decide otherwise).
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        leptos.hash_files =
            herald_server::assets::hash_file(&leptos).is_some_and(|file| file.is_file());
    }
    herald_server::run(settings, leptos).await
}
