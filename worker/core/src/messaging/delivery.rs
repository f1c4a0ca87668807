//! Rendering messages: a message's templates are loaded once per worker ([`MessageCache`]),
//! each batch's merge data is read in one query, and a job becomes an [`Outgoing`] email or the
//! words of a call ([`voice`]); a portal notice is rendered the same way when a parent reads it
//! ([`notice`]), so it is stored without a copy of the message.
//!
//! What must stay true: rendering is a pure function of the stored message, the recipient row
//! made at fan-out and the email settings, so a retried job renders the same email and a notice
//! reads the same each time it is opened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;

use super::email::Outgoing;
use super::email_preferences::SmtpConfig;
use super::queue::LeasedJob;
use super::sent_messages;
use super::template::{MergeData, Template};
use super::unsubscribe::UnsubscribeKey;
use crate::domain::{ContactReason, DialWindow, JobKind, MessageId, PersonId};

/// A message ready to render.
#[derive(Debug)]
pub struct Loaded {
    /// The message's id.
    pub id: MessageId,
    /// Why it was sent; Emergency emails carry no unsubscribe link.
    pub reason: ContactReason,
    /// The subject template as typed, for the sender's confirmation.
    pub raw_subject: String,
    /// The subject line.
    pub subject: Template,
    /// The email's HTML body.
    pub html: Template,
    /// The email's plain-text body.
    pub text: Template,
    /// The portal notice's text.
    pub inbox: Template,
    /// The phone call's script.
    pub voice: Template,
    /// When calls may be placed, in the district's time zone, as composed (the phone lane narrows
    /// it to the calling hours; see [`crate::dialer::window::effective`]).
    pub dial_window: Option<DialWindow>,
    /// The sender's name, merged as `{{sender}}`.
    pub sender_name: String,
    /// The name of the message's school (that of its calendar), merged as `{{school}}`.
    pub school: String,
    /// The calendar's name, merged as `{{calendar}}`.
    pub calendar: String,
    /// A test copy to the sender: its email's subject starts `[Test]`.
    pub is_test: bool,
}

/// Why a job could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A database statement failed, or the message no longer exists.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// A stored template does not parse (it did when the message was composed).
    #[error("the stored message {0} no longer parses: {1}")]
    Template(MessageId, super::template::TemplateError),
}

/// Loads and parses the message `id`.
pub async fn load(pool: &PgPool, id: MessageId) -> Result<Loaded, RenderError> {
    let r = sqlx::query!(
        r#"select m.reason as "reason: ContactReason", m.subject, m.body_html, m.body_text,
               m.inbox_text, m.voice_script, m.dial_from, m.dial_until, m.sender_name, m.is_test,
               s.name as school, c.name as calendar
           from message m
           join calendar c on c.id = m.calendar_id
           join school s on s.id = c.school_id
           where m.id = $1"#,
        id as MessageId
    )
    .fetch_one(pool)
    .await?;
    let t =
        |field, src: &str| Template::parse(field, src).map_err(|e| RenderError::Template(id, e));
    Ok(Loaded {
        id,
        reason: r.reason,
        subject: t("Subject", &r.subject)?,
        raw_subject: r.subject,
        html: Template::parse_html("Message body", &r.body_html)
            .map_err(|e| RenderError::Template(id, e))?,
        text: t("Plain-text body", &r.body_text)?,
        inbox: t("Portal notice", &r.inbox_text)?,
        voice: t("Voice script", &r.voice_script)?,
        dial_window: r
            .dial_from
            .zip(r.dial_until)
            .and_then(|(from, until)| DialWindow::new(from, until).ok()),
        sender_name: r.sender_name,
        school: r.school,
        calendar: r.calendar,
        is_test: r.is_test,
    })
}

/// Messages a worker has loaded, kept while it delivers them.
#[derive(Default)]
pub struct MessageCache {
    loaded: Mutex<HashMap<MessageId, Arc<Loaded>>>,
}

impl MessageCache {
    /// The message `id`, loaded on first use and kept; the cache is emptied when it holds 256.
    pub async fn get(&self, pool: &PgPool, id: MessageId) -> Result<Arc<Loaded>, RenderError> {
        if let Some(m) = self.lock().get(&id) {
            return Ok(m.clone());
        }
        let m = Arc::new(load(pool, id).await?);
        let mut map = self.lock();
        if map.len() >= 256 {
            map.clear();
        }
        map.insert(id, m.clone());
        Ok(m)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Arc<Loaded>>> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A recipient's name and the names of the students the message concerns.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    /// Given and family name, merged as `{{guardian}}`.
    pub name: String,
    /// The students the recipient is reached about, by given name.
    pub students: Vec<String>,
}

/// The recipients of a batch of jobs, in one query.
pub async fn recipients(
    pool: &PgPool,
    jobs: &[LeasedJob],
) -> Result<HashMap<(MessageId, PersonId), Recipient>, sqlx::Error> {
    let pairs: Vec<(MessageId, PersonId)> = jobs
        .iter()
        .filter_map(|j| j.person_id.map(|p| (j.message_id, p)))
        .collect();
    recipients_of(pool, &pairs).await
}

/// The recipient rows of these (message, person) pairs, in one query.
pub async fn recipients_of(
    pool: &PgPool,
    pairs: &[(MessageId, PersonId)],
) -> Result<HashMap<(MessageId, PersonId), Recipient>, sqlx::Error> {
    let (messages, people): (Vec<MessageId>, Vec<PersonId>) = pairs.iter().copied().unzip();
    if people.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        r#"select t.message_id as "message_id!: MessageId", t.person_id as "person_id!: PersonId",
               p.given_name || ' ' || p.family_name as "name!",
               array(select s.given_name || ' ' || s.family_name from person s
                     where s.id = any(r.student_ids) order by s.given_name, s.family_name) as "students!"
           from unnest($1::uuid[], $2::uuid[]) as t (message_id, person_id)
           join person p on p.id = t.person_id
           left join message_recipient r on r.message_id = t.message_id and r.person_id = t.person_id"#,
        &messages as &[MessageId],
        &people as &[PersonId],
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                (r.message_id, r.person_id),
                Recipient {
                    name: r.name,
                    students: r.students,
                },
            )
        })
        .collect())
}

fn merge(m: &Loaded, r: Option<&Recipient>, portal_url: &str) -> MergeData {
    MergeData {
        students: r.map(|r| r.students.clone()).unwrap_or_default(),
        guardian: r.map(|r| r.name.clone()).unwrap_or_default(),
        school: m.school.clone(),
        calendar: m.calendar.clone(),
        sender: m.sender_name.clone(),
        portal_url: portal_url.to_string(),
    }
}

/// A portal notice's words for its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContent {
    /// The subject line.
    pub subject: String,
    /// The portal notice's text.
    pub body: String,
    /// The message's HTML body (sanitized when shown, not here).
    pub body_html: String,
}

/// The portal notice of message `m` for recipient `r`.
pub fn notice(m: &Loaded, r: Option<&Recipient>, portal_url: &str) -> NoticeContent {
    let data = merge(m, r, portal_url);
    NoticeContent {
        subject: m.subject.render(&data),
        body: m.inbox.render(&data),
        body_html: m.html.render_html(&data),
    }
}

/// The words a phone job's call says.
pub fn voice(m: &Loaded, r: Option<&Recipient>, portal_url: &str) -> String {
    m.voice.render(&merge(m, r, portal_url))
}

/// The email for an email job (a message, or a test copy to the sender).
pub fn email(
    m: &Loaded,
    job: &LeasedJob,
    r: Option<&Recipient>,
    config: &SmtpConfig,
    key: &UnsubscribeKey,
) -> Outgoing {
    let data = merge(m, r, &config.portal_url);
    let mut subject = m.subject.render(&data);
    if job.kind == JobKind::Test {
        subject = format!("[Test] {subject}");
    }
    let unsubscribe_url = match (job.kind, job.contact_method_id) {
        (JobKind::Message, Some(method)) if m.reason != ContactReason::Emergency => Some(format!(
            "{}/unsubscribe/{}",
            config.origin(),
            key.token(method, m.reason)
        )),
        _ => None,
    };
    Outgoing {
        to: job.target.clone(),
        subject,
        html: m.html.render_html(&data),
        text: m.text.render(&data),
        message_key: format!("herald.{}.{}", m.id, job.id),
        unsubscribe_url,
    }
}

/// The sender's confirmation that a message finished, with what happened on each device.
pub async fn confirmation(
    pool: &PgPool,
    m: &Loaded,
    job: &LeasedJob,
) -> Result<Outgoing, sqlx::Error> {
    let tallies = sent_messages::tally(pool, m.id).await?;
    let mut text = format!(
        "Your message \"{}\" has finished delivering.\n\n",
        m.raw_subject
    );
    let mut html = format!(
        "<p>Your message <b>{}</b> has finished delivering.</p><table><tr><th>Device</th><th>Total</th><th>Sent</th><th>Failed</th><th>Canceled</th></tr>",
        super::template::escape_html(&m.raw_subject)
    );
    for t in &tallies {
        text.push_str(&format!(
            "{}: {} sent, {} failed, {} canceled (of {})\n",
            t.device.label(),
            t.sent,
            t.failed,
            t.canceled,
            t.total
        ));
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.device.label(),
            t.total,
            t.sent,
            t.failed,
            t.canceled
        ));
    }
    html.push_str("</table>");
    Ok(Outgoing {
        to: job.target.clone(),
        subject: format!("Delivery finished: {}", m.raw_subject),
        html,
        text,
        message_key: format!("herald.{}.{}", m.id, job.id),
        unsubscribe_url: None,
    })
}
