//! `herald_core`: everything the Herald server and the Herald worker share — settings, the
//! database schema and every SQL statement, and the domain types.
//!
//! It lives in the `worker` crate as a library target so that the worker binary links it without
//! Leptos, while the server (through `herald-app`'s `ssr` feature) links the very same code: each
//! SQL statement exists once, here.
//!
//! # Layout
//! - [`settings`]: typed settings, file defaults plus `HERALD__…` environment overrides.
//! - [`db`]: the connection pool and the embedded migrations.
//! - [`domain`]: values that parse rather than validate (`EmailAddress`, `PhoneNumber`, ids,
//!   contact reasons).
//! - [`accounts`]: sign-in accounts, argon2id password hashes, server-side sessions, the
//!   failed-attempt throttle.
//! - [`oneroster`]: the OneRoster CSV importer (all-or-nothing, set-based, idempotent).
//! - [`demo`]: the demo district generator, writing OneRoster CSV for the importer.
//! - [`logging`]: the `tracing` setup every binary shares.
//! - [`directory`]: read-side queries the admin shell needs (schools, calendars, people search).
//! - [`messaging`]: the message pipeline: compose, fan-out, the job queue, email and portal
//!   delivery, unsubscribe links, status reports.
//! - [`preferences`]: contact preferences as their owner changes them (portal, unsubscribe link),
//!   text-message consent, and their history.
//! - [`dialer`]: the phone dialer: Dialer Preferences, dial windows, pacing, the voice provider
//!   (Twilio's REST API) and its signed status callbacks, error reports, a local provider.
//! - [`service`]: the loop `herald-worker run` executes: fan-out, delivery lanes, housekeeping.
//! - [`workers`]: which workers are running (their check-ins), for the pages' warning.

pub mod accounts;
pub mod db;
pub mod demo;
pub mod dialer;
pub mod directory;
pub mod domain;
pub mod logging;
pub mod messaging;
pub mod oneroster;
pub mod preferences;
pub mod service;
pub mod settings;
pub mod workers;
