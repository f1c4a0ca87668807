//! The message pipeline, from the compose form to a delivered email or portal notice.
//!
//! A message travels: [`compose`] checks the draft and saves one `message` row → when its start
//! time comes a worker's [`fanout`] turns it into delivery jobs (one set-based transaction) → the
//! worker's lanes [`queue::lease`] due jobs, render them ([`delivery`]) and deliver them
//! ([`email`] over SMTP, or a portal notice) → every transition lands in the job row, in
//! `delivery_attempt` for failures, and in `message_tally` for the counts [`report`] reads.
//!
//! # Layout
//! - [`template`]: `{{merge_field}}` templates, parsed once, rendered per recipient.
//! - [`compose`]: drafts, the audience (count, picker, merge data), saving, test sends, cancel.
//! - [`fanout`]: message → jobs, by contact preferences; who was not reached and why.
//! - [`queue`]: lease with `for update skip locked` + deadline, sent / failed / retry / release.
//! - [`delivery`]: loading messages and recipients for a batch, rendering each job.
//! - [`email`]: Email Preferences, building emails, the SMTP connection pool.
//! - [`unsubscribe`]: signed one-click unsubscribe tokens.
//! - [`report`]: message list and status, unreached people, failures.
//! - [`activity`]: Dialer Activity: a day's messages by sender, and canceling their jobs on
//!   record.
//! - [`delivery_report`]: the Delivery Report: counts per device and status, recipient pages,
//!   the CSV export.
//! - [`utilization`]: the Utilization Report: delivered emails or calls by day and school.
//! - [`notices`]: the parent portal's notices: keyset pages, unread count, marking read.

pub mod activity;
pub mod compose;
pub mod delivery;
pub mod delivery_report;
pub mod email;
pub mod fanout;
pub mod notices;
pub mod queue;
pub mod report;
pub mod template;
pub mod unsubscribe;
pub mod utilization;
