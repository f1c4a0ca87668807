//! The message pipeline, from the compose form to a delivered email or portal notice.
//!
//! A message travels: [`compose`] checks the draft and saves one `message` row → when its start
//! time comes a worker's [`fanout`] turns it into delivery jobs (one set-based transaction) → the
//! worker's lanes [`queue::lease`] due jobs, render them ([`delivery`]) and deliver them
//! ([`email`] over SMTP, or a portal notice) → every transition lands in the job row, in
//! `delivery_attempt` for failures, and in `message_tally` for the counts [`sent_messages`] reads.
//!
//! # Layout
//! - [`template`]: `{{merge_field}}` templates, parsed once, rendered per recipient.
//! - [`compose`]: drafts, the audience (count, picker, merge data), saving, test sends, cancel.
//! - [`fanout`]: message → jobs, by contact preferences; who was not reached and why.
//! - [`queue`]: lease with `for update skip locked` + deadline, sent / failed / retry / release.
//! - [`delivery`]: loading messages and recipients for a batch, rendering each job.
//! - [`email_preferences`]: the Email Preferences rows and the effective SMTP configuration.
//! - [`email`]: building emails, the SMTP connection pool.
//! - [`error_reports`]: errors a person must fix (the SMTP server's, the voice provider's),
//!   batched into error report emails.
//! - [`unsubscribe`]: signed one-click unsubscribe tokens.
//! - [`sent_messages`]: Sent Messages: the message list and one message's status, unreached
//!   people, failures.
//! - [`cancel`]: canceling messages' jobs on record (the message page and Dialer Activity).
//! - [`dialer_activity`]: Dialer Activity: a day's messages by sender, with their summaries.
//! - [`delivery_report`]: the Delivery Report: counts per device and status, recipient pages,
//!   the CSV export.
//! - [`utilization`]: the Utilization Report: delivered emails or calls by day and school.
//! - [`notices`]: the parent portal's notices: keyset pages, unread count, marking read.

pub mod cancel;
pub mod compose;
pub mod delivery;
pub mod delivery_report;
pub mod dialer_activity;
pub mod email;
pub mod email_preferences;
pub mod error_reports;
pub mod fanout;
pub mod notices;
pub mod queue;
pub mod sent_messages;
pub mod template;
pub mod unsubscribe;
pub mod utilization;
