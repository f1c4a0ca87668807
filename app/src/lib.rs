//! `herald-app`: Herald's pages, as Leptos components, and the server functions beside the
//! components that call them. Compiled twice: with `ssr` into the server (rendering HTML and
//! running server functions against PostgreSQL through `herald_core`), and with `hydrate` into
//! the WASM bundle that makes the same pages interactive in the browser.
//!
//! What must stay true: every server function checks the caller's session and role before it
//! touches data (see [`auth::ssr`]), and answers with an [`error::AppError`] a person can read —
//! causes are logged on the server, never sent.
//!
//! # Layout
//! - [`error`]: the user-facing error type of every server function.
//! - [`format`]: how one value reads on every page (a moment, a date, a phone number).
//! - [`present`]: what several pages show the same way (a person, a contact method, who was not
//!   reached, the "no worker is running" warning) and the server code that builds it.
//! - [`auth`]: sign-in / sign-out, the current user, the typed callers (`admin()`, `staff()`,
//!   `parent()`) every server function starts with.
//! - [`choices`]: the fixed lists the browser holds (message types, devices, statuses, TLS
//!   modes), each pinned to `herald_core` by a test.
//! - [`admin`]: the admin shell (outline navigation, Campus Toolbar) and its tools.
//! - [`portal`]: the parent portal.
//! - [`lazy`]: the pages that ship in their own WASM chunk (all but sign-in and the portal's
//!   notices).
//! - [`poll`]: refreshing a page every few seconds while it is open.
//! - [`ui`]: the shared markup for a loading resource and its error (`Loaded`, `ErrorAlert`),
//!   the id in a page's URL (`url_id`), a group of check boxes (`toggle`).
//! - [`state`] (`ssr`): what the server hands every request (pool, settings).
//!
//! Pages behind sign-in render with `SsrMode::Async`: the server resolves the session before it
//! sends a byte, so a signed-out visitor gets a real `302` to `/sign-in` and a signed-in one a
//! complete page that reads well before (or without) the WASM bundle.

pub mod admin;
pub mod auth;
pub mod choices;
pub mod error;
pub mod format;
pub mod lazy;
pub mod poll;
pub mod portal;
pub mod present;
#[cfg(feature = "ssr")]
pub mod state;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy, SsrMode,
    components::{ParentRoute, Redirect, Route, Router, Routes},
    path,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The router: sign-in, the admin shell and its tools, the parent portal.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Herald" />
        <Router>
            <Routes fallback=|| view! { <main class="centered"><h1>"Page not found"</h1><a href="/">"Go to Herald"</a></main> }>
                <Route path=path!("/") view=auth::Landing ssr=SsrMode::Async />
                <Route path=path!("/sign-in") view=auth::SignInPage />
                <ParentRoute path=path!("/admin") view={Lazy::<lazy::AdminShell>::new()} ssr=SsrMode::Async>
                    <Route path=path!("") view={Lazy::<lazy::Overview>::new()} ssr=SsrMode::Async />
                    <Route path=path!("people") view={Lazy::<lazy::People>::new()} ssr=SsrMode::Async />
                    <Route path=path!("people/:id") view={Lazy::<lazy::People>::new()} ssr=SsrMode::Async />
                    <Route path=path!("roster-import") view={Lazy::<lazy::Import>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/compose") view={Lazy::<lazy::Compose>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/sent-messages") view={Lazy::<lazy::SentMessages>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/messages/:id") view={Lazy::<lazy::Message>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/messages/:id/report") view={Lazy::<lazy::DeliveryReport>::new()} ssr=SsrMode::Async />
                    <Route path=path!("preferences/email") view={Lazy::<lazy::EmailPrefs>::new()} ssr=SsrMode::Async />
                    <Route path=path!("preferences/dialer") view={Lazy::<lazy::DialerPrefs>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/reports/dialer-activity") view={Lazy::<lazy::DialerActivity>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/reports/dialer-activity/view") view={Lazy::<lazy::DialerActivityReport>::new()} ssr=SsrMode::Async />
                    <Route path=path!("messenger/reports/utilization") view={Lazy::<lazy::Utilization>::new()} ssr=SsrMode::Async />
                    <Route path=path!("*tool") view=admin::NotBuiltYet ssr=SsrMode::Async />
                </ParentRoute>
                <Route path=path!("/portal") view=portal::PortalPage ssr=SsrMode::Async />
                <Route path=path!("/portal/preferences") view={Lazy::<lazy::PortalPreferences>::new()} ssr=SsrMode::Async />
                <Route path=path!("/home") view=|| view! { <Redirect path="/" /> } />
            </Routes>
        </Router>
    }
}

/// The WASM entry point: hydrates the server-rendered page. Asynchronously, because a page in
/// its own chunk ([`lazy`]) is hydrated once that chunk has arrived; `data-hydrated` on `<body>`
/// then lets tests (and curious people) see that the page is interactive.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(body) = document().body() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        leptos::mount::hydrate_from_async(body.clone(), App)
            .await
            .forget();
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
