//! Development stand-ins: what `./herald.sh run`, the tests and the benchmarks use in place of a
//! real district and a real telephony account. Nothing in production depends on this module;
//! the worker's `demo`, `demo-accounts`, `demo-dialer` and `voice-provider` commands are its
//! only callers outside tests.
//!
//! # Layout
//! - [`district`]: a seeded, generated district written as OneRoster CSV for the importer.
//! - [`sign_ins`]: the demo district's sign-in accounts.
//! - [`voice_provider`]: a local provider speaking Twilio's call API, outcomes chosen by the
//!   called number, and pointing Dialer Preferences at it.

pub mod district;
pub mod sign_ins;
pub mod voice_provider;
