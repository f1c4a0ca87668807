//! `herald_core`: everything the Herald server and the Herald worker share: configuration, the
//! database schema and every SQL statement, the domain types, and the worker's delivery lanes.
//!
//! It is the `herald-core` package in `worker/core/`, beside the thin `herald-worker` binary in
//! `worker/src/main.rs`, so the worker links it without Leptos while the server (through
//! `herald-app`'s `ssr` feature) links the very same code: each SQL statement exists once, here.
//!
//! # Layout
//! - [`config`]: typed configuration: `herald.toml` defaults plus `HERALD__…` environment
//!   overrides.
//! - [`db`]: the connection pool and the embedded migrations.
//! - [`domain`]: values that parse rather than validate (`EmailAddress`, `PhoneNumber`, ids,
//!   contact reasons, devices).
//! - [`secrets`]: the SMTP password and the provider token sealed at rest with a key from the
//!   environment.
//! - [`accounts`]: sign-in accounts, argon2id password hashes, server-side sessions, the
//!   failed-attempt throttle.
//! - [`oneroster`]: the OneRoster CSV importer (all-or-nothing, set-based, idempotent).
//! - [`directory`]: read-side queries the admin shell needs (schools, calendars, people search).
//! - [`messaging`]: the message pipeline: compose, fan-out, the job queue, email and portal
//!   delivery, unsubscribe links, the reports and cancel.
//! - [`contact_preferences`]: contact preferences as their owner changes them (portal,
//!   unsubscribe link), text-message consent, and their history.
//! - [`dialer`]: the phone dialer: Dialer Preferences, dial windows, pacing, the voice provider
//!   (Twilio's REST API) and its signed status callbacks, error reports.
//! - [`worker`]: the loop `herald-worker run` executes: fan-out, delivery lanes, housekeeping.
//! - [`heartbeat`]: which workers are running (their check-ins), for the pages' warning and
//!   `herald-worker status`.
//! - [`logging`]: the `tracing` setup every binary shares.
//! - [`metrics`]: the figures ops watch, rendered for Prometheus.
//! - [`shutdown`]: the stop signal (SIGTERM or Ctrl-C) every long-running binary waits for.
//! - [`dev`]: development stand-ins: the demo district, its sign-ins, a local voice provider.
//!
//! Fixtures the test binaries and benchmarks share are the `herald-testing` package beside it
//! (`worker/testing/`), a dev-dependency only.

pub mod accounts;
pub mod config;
pub mod contact_preferences;
pub mod db;
pub mod dev;
pub mod dialer;
pub mod directory;
pub mod domain;
pub mod heartbeat;
pub mod logging;
pub mod messaging;
pub mod metrics;
pub mod oneroster;
pub mod secrets;
pub mod shutdown;
pub mod worker;
