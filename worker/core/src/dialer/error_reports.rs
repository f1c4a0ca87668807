//! Errors that need a person — the provider refusing the account's credentials or caller id, or
//! being unreachable — and the error report emails that tell the Dialer Preferences error list.
//!
//! Workers [`record`] one row per failed attempt. The scheduler's [`report_due`] folds every
//! unreported row into one [`error_report`](crate::domain::JobKind::ErrorReport) email per
//! address, once the oldest has waited `error_batch_seconds` and no report went out in the last
//! `error_report_minutes`.
//!
//! What must stay true: an outage of thousands of failed calls is one email per address per
//! report period, not thousands; every recorded error is in exactly one report; two workers
//! never send the same report (the reporter holds the `dialer_settings` row, skipping if another
//! does).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::SmtpOverrides;
use crate::directory;
use crate::domain::JobId;
use crate::messaging::email::Outgoing;
use crate::messaging::email_preferences::{self, EmailPreferencesError};
use crate::messaging::queue::LeasedJob;
use crate::messaging::template::escape_html;

/// What kind of error a person must fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The provider refused the account SID and auth token.
    Credentials,
    /// The provider could not be reached or failed (timeouts, 5xx answers).
    Outage,
    /// The provider refused the request as set up: the caller ID, or a call it does not know.
    Configuration,
}

impl Cause {
    /// The name stored in `dialer_error.cause`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::Outage => "outage",
            Self::Configuration => "configuration",
        }
    }

    fn advice(cause: &str) -> &'static str {
        match cause {
            "credentials" => {
                "The provider refused the account SID and auth token. Check them on Dialer Preferences."
            }
            "configuration" => {
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
    cause: Cause,
    detail: &str,
    job: Option<JobId>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into dialer_error (cause, detail, job_id) values ($1, $2, $3)",
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
        r#"select coalesce((select min(at) from dialer_error where reported_at is null)
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
        r#"select cause, count(*) as "n!", min(at) as "first!", max(at) as "last!",
                  (array_agg(detail order by at desc))[1] as "sample!"
           from dialer_error where reported_at is null
           group by cause order by min(at)"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = causes.iter().map(|c| c.n).sum();
    let time_zone: Tz = directory::time_zone(pool).await?;
    let portal_url = email_preferences::portal_url(pool, smtp).await?;
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&time_zone)
            .format("%b %-d, %-I:%M %p")
            .to_string()
    };
    let subject = format!(
        "Herald dialer: {total} call{} could not be placed",
        if total == 1 { "" } else { "s" }
    );
    let mut body = format!("{subject}.\n\n");
    for c in &causes {
        body.push_str(&format!(
            "{} error{} from {} to {}.\n{}\nLast error: {}\n\n",
            c.n,
            if c.n == 1 { "" } else { "s" },
            local(c.first),
            local(c.last),
            Cause::advice(&c.cause),
            c.sample
        ));
    }
    body.push_str(&format!(
        "Dialer Preferences: {}/admin/preferences/dialer\n\
         You get this email because your address is on the dialer's error list. Further errors \
         are collected into at most one report every {} minutes.\n",
        email_preferences::origin(&portal_url),
        rules.every_minutes
    ));
    let report = sqlx::query_scalar!(
        "insert into error_report (subject, body, errors) values ($1, $2, $3) returning id",
        subject,
        body,
        total,
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
    sqlx::query!("update dialer_error set reported_at = now() where reported_at is null")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(report))
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
