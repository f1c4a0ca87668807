//! herald-core's integration tests, one binary: each module is one part of the core against a
//! real PostgreSQL (a fresh database per test), with maildev as the SMTP server and the local
//! voice provider where a test needs them. Shared fixtures are `herald_testing`.

mod access;
mod accounts;
mod contact_preferences;
mod delivery;
mod delivery_report;
mod dialer;
mod dialer_activity;
mod fanout;
mod notices;
mod people_search;
mod queue;
mod roster_import;
mod secrets;
mod sent_messages;
mod start_up;
mod utilization;
mod worker_loop;
