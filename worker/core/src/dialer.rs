//! The phone dialer: placing calls for phone jobs through a Twilio-compatible Programmable Voice
//! API, and following each call to its end.
//!
//! A phone job's life: the worker's phone lane leases it ([`crate::messaging::queue::lease`]),
//! checks the dial window ([`window`]) and waits for a pacing slot ([`calls::reserve_slot`]),
//! writes a `phone_call` row, asks the provider to place the call ([`provider`]), and marks the
//! job `calling`. From then on the provider's signed status callbacks ([`callback`], served by
//! the web server) end the job: completed → sent, busy / no answer → retried later, failed →
//! failed. A call whose final callback never comes is looked up at the provider instead.
//!
//! What must stay true:
//! - A call is placed only inside both the message's dial window and the district's calling
//!   hours, in the district's time zone; outside them a job waits, it does not fail.
//! - Calls across all workers together never start faster than the calls-per-second cap.
//! - A callback changes nothing unless its signature is right, and a replayed or out-of-order
//!   callback changes nothing either: a call's final status is final, and only the call placed by
//!   the job's current attempt can end the job.
//! - A canceled job whose call is already with the provider gets that call hung up.
//! - Errors a person must fix are emailed to the error list once per batch
//!   ([`crate::messaging::error_reports`]), not
//!   once per call.
//!
//! # Layout
//! - [`preferences`]: the Dialer Preferences page and the effective provider configuration.
//! - [`window`]: when a job may be called (now, or the next opening).
//! - [`provider`]: the [`provider::VoiceProvider`] trait, the Twilio REST client, TwiML, and
//!   request signatures.
//! - [`calls`]: the SQL of calls and phone jobs: pacing slots, placing, callbacks, hang-ups.
//! - [`callback`]: the status-callback endpoint (an axum router the server mounts).
//!
//! A local provider speaking the same API, for development, tests and benchmarks, is
//! [`crate::dev::voice_provider`]: nothing here depends on it.

pub mod callback;
pub mod calls;
pub mod preferences;
pub mod provider;
pub mod window;
