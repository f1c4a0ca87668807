//! Errors that need a person, from either lane that talks to an outside service, and the error
//! report emails that tell the error list (kept on Dialer Preferences, as the seed's product
//! keeps it) about them:
//! - the voice provider refusing the account's credentials or caller id, or unreachable;
//! - the SMTP server refusing Herald's sign-in or refusing to relay, or unreachable.
//!
//! Workers [`record`] one row per failed attempt. The scheduler's [`report_due`] folds every
//! unreported row into one [`error_report`](crate::domain::JobKind::ErrorReport) email per
//! address, once the oldest has waited `error_batch_seconds` and no report went out in the last
//! `error_report_minutes`.
//!
//! What must stay true: an outage of thousands of failed calls or emails is one email per address
//! per report period, not thousands; every recorded error is in exactly one report; two workers
//! never send the same report (the reporter holds the `dialer_settings` row, skipping if another
//! does). A report about the SMTP server travels through that server too, so it goes out once the
//! server takes email again; until then the Email Preferences page shows the error.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::SmtpOverrides;
use crate::directory;
use crate::domain::{Device, JobId};
use crate::messaging::email::Outgoing;
use crate::messaging::email_preferences::{self, EmailPreferencesError};
use crate::messaging::queue::LeasedJob;
use crate::messaging::template::escape_html;

/// What kind of error a person must fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The provider or the SMTP server refused Herald's credentials.
    Credentials,
    /// The provider or the SMTP server could not be reached or failed (timeouts, 5xx answers
    /// from the provider, 4xx greetings from the SMTP server).
    Outage,
    /// The request as set up was refused: the caller ID or a call the provider does not know;
    /// an SMTP server that will not relay for Herald or whose TLS does not match the settings.
    Configuration,
}

impl Cause {
    /// The name stored in `delivery_error.cause`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::Outage => "outage",
            Self::Configuration => "configuration",
        }
    }

    fn advice(device: Device, cause: &str) -> &'static str {
        match (device, cause) {
            (Device::Email, "credentials") => {
                "The SMTP server refused Herald's sign-in. Check the user name and password on Email Preferences. The emails wait and go out once the server takes them."
            }
            (Device::Email, "configuration") => {
                "The SMTP server refused to relay Herald's email, or its TLS did not match. Check the host, port, TLS and sender address on Email Preferences, and that the server allows relay from Herald's workers. The emails wait and go out once the server takes them."
            }
            (Device::Email, _) => {
                "The SMTP server could not be reached or did not answer. The emails wait and are retried; check that the server runs and the host and port on Email Preferences."
            }
            (_, "credentials") => {
                "The provider refused the account SID and auth token. Check them on Dialer Preferences."
            }
            (_, "configuration") => {
                "The provider refused the caller ID. Check it on Dialer Preferences; it must be a number the provider account owns or has verified."
            }
            _ => {
                "The provider could not be reached or failed. Calls are retried with backoff; check the provider's status page and the API URL on Dialer Preferences."
            }
        }
    }
}

/// Records one error that needs a person.
pub async fn record(
    pool: &PgPool,
    device: Device,
    cause: Cause,
    detail: &str,
    job: Option<JobId>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into delivery_error (device, cause, detail, job_id) values ($1, $2, $3, $4)",
        device as Device,
        cause.as_str(),
        detail,
        job.map(|j| j.0),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// When reports go out.
#[derive(Debug, Clone)]
pub struct ReportRules {
    /// The oldest unreported error must be this old.
    pub batch_seconds: i64,
    /// And no report in this many minutes.
    pub every_minutes: i64,
}

/// Why checking for or writing a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// The portal URL for the link to Dialer Preferences could not be read.
    #[error("reading the portal URL failed")]
    PortalUrl(#[from] EmailPreferencesError),
}

/// Sends an error report if one is due; returns its id. The portal URL (for the link to Dialer
/// Preferences) and the time zone are read only when a report is written.
pub async fn report_due(
    pool: &PgPool,
    rules: &ReportRules,
    smtp: &SmtpOverrides,
) -> Result<Option<Uuid>, ReportError> {
    let mut tx = pool.begin().await?;
    let Some(emails) =
        sqlx::query_scalar!("select error_emails from dialer_settings for update skip locked")
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(None);
    };
    let due = sqlx::query!(
        r#"select coalesce((select min(at) from delivery_error where reported_at is null)
                      <= now() - make_interval(secs => $1), false) as "batch_ready!",
                  coalesce((select max(created_at) from error_report), '-infinity')
                      <= now() - make_interval(mins => $2::int) as "quiet!""#,
        rules.batch_seconds as f64,
        rules.every_minutes as i32,
    )
    .fetch_one(&mut *tx)
    .await?;
    if !due.batch_ready || !due.quiet {
        return Ok(None);
    }
    let causes = sqlx::query!(
        r#"select device as "device: Device", cause, count(*) as "n!", min(at) as "first!",
                  max(at) as "last!", (array_agg(detail order by at desc))[1] as "sample!"
           from delivery_error where reported_at is null
           group by device, cause order by min(at)"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let time_zone: Tz = directory::time_zone(pool).await?;
    let portal_url = email_preferences::portal_url(pool, smtp).await?;
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&time_zone)
            .format("%b %-d, %-I:%M %p")
            .to_string()
    };
    let count = |device: Device| -> i64 {
        causes
            .iter()
            .filter(|c| c.device == device)
            .map(|c| c.n)
            .sum()
    };
    let subject = subject(count(Device::Phone), count(Device::Email));
    let mut body = format!("{subject}.\n\n");
    for c in &causes {
        body.push_str(&format!(
            "{} error{} from {} to {}.\n{}\nLast error: {}\n\n",
            c.n,
            if c.n == 1 { "" } else { "s" },
            local(c.first),
            local(c.last),
            Cause::advice(c.device, &c.cause),
            c.sample
        ));
    }
    let origin = email_preferences::origin(&portal_url);
    for (device, page, path) in [
        (Device::Phone, "Dialer Preferences", "dialer"),
        (Device::Email, "Email Preferences", "email"),
    ] {
        if count(device) > 0 {
            body.push_str(&format!("{page}: {origin}/admin/preferences/{path}\n"));
        }
    }
    body.push_str(&format!(
        "You get this email because your address is on the error list on Dialer Preferences. \
         Further errors are collected into at most one report every {} minutes.\n",
        rules.every_minutes
    ));
    let report = sqlx::query_scalar!(
        "insert into error_report (subject, body, errors) values ($1, $2, $3) returning id",
        subject,
        body,
        causes.iter().map(|c| c.n).sum::<i64>(),
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "insert into delivery_job (message_id, kind, device, target, due_at)
         select $1, 'error_report', 'email', e, now() from unnest($2::text[]) as e",
        report,
        &emails,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("update delivery_error set reported_at = now() where reported_at is null")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(report))
}

/// An error report's subject: what failed, calls first.
fn subject(calls: i64, emails: i64) -> String {
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    match (calls, emails) {
        (c, 0) => format!("Herald dialer: {c} call{} could not be placed", plural(c)),
        (0, e) => format!(
            "Herald email: {e} attempt{} to send email failed at the SMTP server",
            plural(e)
        ),
        (c, e) => format!(
            "Herald: {c} call{} could not be placed and {e} attempt{} to send email failed",
            plural(c),
            plural(e)
        ),
    }
}

/// The email of an error report job.
pub async fn email(pool: &PgPool, job: &LeasedJob) -> Result<Outgoing, sqlx::Error> {
    let r = sqlx::query!(
        "select subject, body from error_report where id = $1",
        job.message_id.0
    )
    .fetch_one(pool)
    .await?;
    let html = r
        .body
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", escape_html(p).replace('\n', "<br>")))
        .collect::<String>();
    Ok(Outgoing {
        to: job.target.clone(),
        subject: r.subject,
        html,
        text: r.body,
        message_key: format!("herald.error-report.{}.{}", job.message_id, job.id),
        unsubscribe_url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_subject_names_what_failed_and_how_often() {
        assert_eq!(subject(5, 0), "Herald dialer: 5 calls could not be placed");
        assert_eq!(
            subject(0, 1),
            "Herald email: 1 attempt to send email failed at the SMTP server"
        );
        assert_eq!(
            subject(1, 3),
            "Herald: 1 call could not be placed and 3 attempts to send email failed"
        );
    }
}
