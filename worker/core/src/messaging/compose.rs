//! Composing a message: what the admin typed becomes a [`Composed`] message (every template
//! parsed, the schedule consistent) and then one `message` row that a worker fans out when its
//! start time comes.
//!
//! What must stay true: nothing is written for a draft that does not compose, so a bad template
//! never reaches the queue; the audience is defined once, by the SQL function `audience_of`, and
//! the preview count, the recipient picker and the fan-out all use it.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::template::{MergeData, Template, TemplateError, html_to_text};
use crate::domain::{
    AccountId, AudienceKind, CalendarId, ContactReason, Device, DialWindow, EmailAddress,
    MessageId, PersonId,
};

/// The longest voice script: with merge values and the call's wrapping it must stay within the
/// provider's 4,000 characters of TwiML.
pub const MAX_VOICE_SCRIPT: usize = 3_000;

/// The largest message body, in bytes of UTF-8, for each of the HTML body, the plain-text body
/// and the portal notice's text. Gmail cuts off an email's HTML after 102 KB behind a "View
/// entire message" link, so a body much past that is one parents partly never see; 256 KB leaves
/// room for the markup and inline styles a body pasted from a word processor carries, while one
/// message can never grow the queue, the relay's traffic or a parent's page without bound.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The compose form, as typed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Draft {
    /// Why the message is sent; recipients' preferences for this reason decide who gets it.
    pub reason: ContactReason,
    /// The subject line, a template (trimmed, at most 200 characters).
    pub subject: String,
    /// The email's HTML body, a template; also the source of the plain-text body when that is empty.
    pub body_html: String,
    /// Empty: derived from the HTML body.
    pub body_text: String,
    /// Empty: the plain-text body.
    pub inbox_text: String,
    /// What the phone call says, a template; required when Phone is chosen.
    pub voice_script: String,
    /// Guardians of the calendar's students, or staff.
    pub audience: AudienceKind,
    /// The calendar (a school year at one school) chosen in the Campus Toolbar.
    pub calendar_id: CalendarId,
    /// Every school's calendar of the same school year (a district-wide message).
    pub all_schools: bool,
    /// Grade levels to limit a guardian audience to; empty: every grade.
    pub grade_levels: Vec<String>,
    /// The devices to deliver on; duplicates are dropped at compose.
    pub devices: Vec<Device>,
    /// None: now.
    pub start_at: Option<DateTime<Utc>>,
    /// None: at the start.
    pub email_at: Option<DateTime<Utc>>,
    /// The local hours calls may be placed; required when Phone is chosen.
    pub dial_window: Option<DialWindow>,
    /// Email the sender when every job of the message has ended.
    pub confirm_to_sender: bool,
}

/// Who sends: the signed-in admin.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The signed-in account, recorded on the message.
    pub account_id: AccountId,
    /// The name recipients see as the sender.
    pub name: String,
    /// The sender's address: test copies and the confirmation go to it; Sent Messages filters by it.
    pub email: EmailAddress,
}

/// Why a draft cannot be sent, naming the form field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// A template does not parse; the error names the field.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A required field is empty; the value is the field's name.
    #[error("{0} is required")]
    Missing(&'static str),
    /// No delivery device is chosen.
    #[error("choose at least one delivery device")]
    NoDevice,
    #[error(
        "Voice script: at most {MAX_VOICE_SCRIPT} characters (it has {0}); the provider takes 4,000 characters of call instructions"
    )]
    /// The voice script is longer than [`MAX_VOICE_SCRIPT`]; the value is its length in characters.
    VoiceScriptTooLong(usize),
    /// Phone is chosen without a voice script or a dial window.
    #[error("the phone device needs a voice script and a dial window")]
    PhoneNeedsScriptAndWindow,
    /// The email send time is before the start of delivery.
    #[error("the email send time is before the start of delivery")]
    EmailBeforeStart,
    /// The subject is longer than 200 characters.
    #[error("the subject is longer than 200 characters")]
    SubjectTooLong,
    /// A body is longer than [`MAX_BODY_BYTES`]: the field's name and its size in bytes.
    #[error(
        "{0}: at most 256 KB (it has {kb} KB); Gmail cuts off an email after 102 KB, so shorten it or link to a longer document",
        kb = .1.div_ceil(1024)
    )]
    BodyTooLong(&'static str, usize),
}

/// A draft whose templates parse and whose schedule is consistent.
#[derive(Debug, Clone)]
pub struct Composed {
    draft: Draft,
    /// The subject line.
    pub subject: Template,
    /// The email's HTML body.
    pub html: Template,
    /// The email's plain-text body (typed, or derived from the HTML).
    pub text: Template,
    /// The portal notice's text (typed, or the plain-text body).
    pub inbox: Template,
    /// The phone call's script.
    pub voice: Template,
    body_text: String,
    inbox_text: String,
}

impl Composed {
    /// The draft as it composed: trimmed subject, devices sorted without duplicates.
    pub fn draft(&self) -> &Draft {
        &self.draft
    }
}

impl Draft {
    /// Parses every template and checks the schedule; the first problem wins.
    pub fn compose(mut self) -> Result<Composed, ComposeError> {
        self.subject = self.subject.trim().to_string();
        if self.subject.is_empty() {
            return Err(ComposeError::Missing("Subject"));
        }
        if self.subject.chars().count() > 200 {
            return Err(ComposeError::SubjectTooLong);
        }
        if self.body_html.trim().is_empty() {
            return Err(ComposeError::Missing("Message body"));
        }
        for (field, body) in [
            ("Message body", &self.body_html),
            ("Plain-text body", &self.body_text),
            ("Portal notice", &self.inbox_text),
        ] {
            if body.len() > MAX_BODY_BYTES {
                return Err(ComposeError::BodyTooLong(field, body.len()));
            }
        }
        self.devices.sort();
        self.devices.dedup();
        if self.devices.is_empty() {
            return Err(ComposeError::NoDevice);
        }
        if self.devices.contains(&Device::Phone)
            && (self.voice_script.trim().is_empty() || self.dial_window.is_none())
        {
            return Err(ComposeError::PhoneNeedsScriptAndWindow);
        }
        let voice_chars = self.voice_script.chars().count();
        if voice_chars > MAX_VOICE_SCRIPT {
            return Err(ComposeError::VoiceScriptTooLong(voice_chars));
        }
        if let (Some(email_at), Some(start)) = (self.email_at, self.start_at)
            && email_at < start
        {
            return Err(ComposeError::EmailBeforeStart);
        }
        let subject = Template::parse("Subject", &self.subject)?;
        let html = Template::parse_html("Message body", &self.body_html)?;
        let body_text = if self.body_text.trim().is_empty() {
            html_to_text(&self.body_html)
        } else {
            self.body_text.clone()
        };
        let text = Template::parse("Plain-text body", &body_text)?;
        let inbox_text = if self.inbox_text.trim().is_empty() {
            body_text.clone()
        } else {
            self.inbox_text.clone()
        };
        let inbox = Template::parse("Portal notice", &inbox_text)?;
        let voice = Template::parse("Voice script", &self.voice_script)?;
        Ok(Composed {
            draft: self,
            subject,
            html,
            text,
            inbox,
            voice,
            body_text,
            inbox_text,
        })
    }
}

/// Errors reading or writing messages.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
    /// The calendar does not exist.
    #[error("no such calendar")]
    UnknownCalendar,
    /// The person chosen to preview or test as is not in the message's audience.
    #[error("that person is not in this message's audience")]
    NotInAudience,
}

/// Saves a composed message; a worker fans it out once `start_at` has come.
pub async fn create(
    pool: &PgPool,
    composed: &Composed,
    sender: &Sender,
) -> Result<MessageId, MessageError> {
    insert_message(pool, composed, sender, false).await
}

async fn insert_message<'e>(
    db: impl sqlx::PgExecutor<'e>,
    composed: &Composed,
    sender: &Sender,
    is_test: bool,
) -> Result<MessageId, MessageError> {
    let d = &composed.draft;
    let start = d.start_at.unwrap_or_else(Utc::now);
    let id = sqlx::query_scalar!(
        r#"insert into message (sender_account_id, sender_name, sender_email, reason, subject,
               body_html, body_text, inbox_text, voice_script, audience, calendar_id, grade_levels,
               devices, start_at, email_at, dial_from, dial_until, confirm_to_sender, is_test,
               fanned_out_at, all_schools)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
               $19, case when $19 then now() end, $20)
           returning id as "id: MessageId""#,
        sender.account_id as AccountId,
        sender.name,
        sender.email.as_str(),
        d.reason as ContactReason,
        d.subject,
        d.body_html,
        composed.body_text,
        composed.inbox_text,
        d.voice_script,
        d.audience as AudienceKind,
        d.calendar_id as CalendarId,
        &d.grade_levels,
        &d.devices as &[Device],
        start,
        d.email_at,
        d.dial_window.map(DialWindow::from),
        d.dial_window.map(DialWindow::until),
        d.confirm_to_sender,
        is_test,
        d.all_schools,
    )
    .fetch_one(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => MessageError::UnknownCalendar,
        _ => MessageError::Db(e),
    })?;
    Ok(id)
}

/// A test copy: one email to the sender, rendered as `person` would receive it. It is a message
/// of its own (flagged `is_test`), delivered by the worker like any other, so a test proves the
/// SMTP settings too.
pub async fn create_test(
    pool: &PgPool,
    composed: &Composed,
    sender: &Sender,
    person: PersonId,
) -> Result<MessageId, MessageError> {
    let d = &composed.draft;
    let mut tx = pool.begin().await?;
    let student_ids = sqlx::query_scalar!(
        r#"select a.student_ids as "student_ids!" from audience_of($1, $5, $2, $3) a where a.person_id = $4"#,
        d.calendar_id as CalendarId,
        d.audience as AudienceKind,
        &d.grade_levels,
        person as PersonId,
        d.all_schools,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MessageError::NotInAudience)?;
    let id = insert_message(&mut *tx, composed, sender, true).await?;
    sqlx::query!(
        "insert into message_recipient (message_id, person_id, student_ids) values ($1, $2, $3)",
        id as MessageId,
        person as PersonId,
        &student_ids,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "with job as (
             insert into delivery_job (message_id, kind, device, person_id, target, due_at)
             values ($1, 'test', 'email', $2, $3, now())
             returning id)
         insert into message_tally (message_id, device, total, first_job, last_job)
         select $1, 'email', 1, id, id from job",
        id as MessageId,
        person as PersonId,
        sender.email.as_str(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Who a message is for, as the compose form chooses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Guardians or staff.
    pub kind: AudienceKind,
    /// The calendar chosen in the Campus Toolbar.
    pub calendar: CalendarId,
    /// Every school's calendar of the same school year, not only `calendar`'s (district-wide).
    pub all_schools: bool,
    /// Grade levels to limit a guardian audience to; empty: every grade.
    pub grades: Vec<String>,
}

impl Draft {
    /// The audience the draft addresses.
    pub fn audience(&self) -> Audience {
        Audience {
            kind: self.audience,
            calendar: self.calendar_id,
            all_schools: self.all_schools,
            grades: self.grade_levels.clone(),
        }
    }
}

/// How many people an audience reaches, for the preview before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudienceCount {
    /// People the message would go to (guardians or staff), each once.
    pub people: i64,
    /// Distinct students the guardians are reached about (0 for staff).
    pub students: i64,
    /// People with an email address of their own.
    pub with_email: i64,
    /// People with a phone, their own or their household's.
    pub with_phone: i64,
}

/// How many people `a` reaches (by `audience_of`, as fan-out will), for the compose preview.
pub async fn audience_count(pool: &PgPool, a: &Audience) -> Result<AudienceCount, MessageError> {
    let row = sqlx::query!(
        r#"select count(*) as "people!",
               (select count(distinct s) from audience_of($1, $4, $2, $3) b, unnest(b.student_ids) s) as "students!",
               count(*) filter (where exists (
                   select 1 from contact_method cm where cm.person_id = a.person_id and cm.email is not null
                     and cm.removed_at is null
               )) as "with_email!",
               count(*) filter (where exists (
                   select 1 from contact_method cm join person p on p.id = a.person_id
                   where (cm.person_id = p.id or cm.household_id = p.household_id) and cm.phone is not null
                     and cm.removed_at is null
               )) as "with_phone!"
           from audience_of($1, $4, $2, $3) a"#,
        a.calendar as CalendarId,
        a.kind as AudienceKind,
        &a.grades,
        a.all_schools,
    )
    .fetch_one(pool)
    .await?;
    Ok(AudienceCount {
        people: row.people,
        students: row.students,
        with_email: row.with_email,
        with_phone: row.with_phone,
    })
}

/// One person of an audience, for the "preview as" picker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudienceMember {
    /// The member's id.
    pub person_id: PersonId,
    /// Given and family name.
    pub name: String,
    /// The names of the students they would be reached about, by given name (empty for staff).
    pub students: Vec<String>,
}

/// Up to `limit` members of an audience whose name contains `query` (all when empty).
pub async fn audience_members(
    pool: &PgPool,
    a: &Audience,
    query: &str,
    limit: i64,
) -> Result<Vec<AudienceMember>, MessageError> {
    let pattern = format!("%{}%", query.trim().replace(['%', '_'], ""));
    let rows = sqlx::query!(
        r#"select p.id as "id: PersonId", p.given_name || ' ' || p.family_name as "name!",
               array(select s.given_name || ' ' || s.family_name from person s
                     where s.id = any(a.student_ids) order by s.given_name) as "students!"
           from audience_of($1, $6, $2, $3) a
           join person p on p.id = a.person_id
           where (p.given_name || ' ' || p.family_name) ilike $4
           order by p.family_name, p.given_name
           limit $5"#,
        a.calendar as CalendarId,
        a.kind as AudienceKind,
        &a.grades,
        pattern,
        limit,
        a.all_schools,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AudienceMember {
            person_id: r.id,
            name: r.name,
            students: r.students,
        })
        .collect())
}

/// The merge data a member of the draft's audience would be rendered with.
pub async fn merge_data_for(
    pool: &PgPool,
    draft: &Draft,
    person: PersonId,
    sender_name: &str,
    portal_url: &str,
) -> Result<MergeData, MessageError> {
    let row = sqlx::query!(
        r#"select p.given_name || ' ' || p.family_name as "guardian!",
               array(select s.given_name || ' ' || s.family_name from person s
                     where s.id = any(a.student_ids) order by s.given_name) as "students!",
               sc.name as school, c.name as calendar
           from audience_of($1, $5, $2, $3) a
           join person p on p.id = a.person_id
           join calendar c on c.id = $1
           join school sc on sc.id = c.school_id
           where a.person_id = $4"#,
        draft.calendar_id as CalendarId,
        draft.audience as AudienceKind,
        &draft.grade_levels,
        person as PersonId,
        draft.all_schools,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MessageError::NotInAudience)?;
    Ok(MergeData {
        students: row.students,
        guardian: row.guardian,
        school: row.school,
        calendar: row.calendar,
        sender: sender_name.to_string(),
        portal_url: portal_url.to_string(),
    })
}

/// Cancels a message that is still active: marks it canceled and cancels its jobs not in a
/// worker's hands (see [`super::cancel`]); returns how many jobs were canceled. Nothing is
/// recorded: a person's cancel goes through [`super::cancel::cancel`], which records it.
pub async fn cancel(pool: &PgPool, id: MessageId) -> Result<u64, MessageError> {
    let mut tx = pool.begin().await?;
    let (_, jobs) = super::cancel::cancel_active(&mut tx, &[id]).await?;
    tx.commit().await?;
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeDelta};
    use uuid::Uuid;

    fn draft() -> Draft {
        Draft {
            reason: ContactReason::General,
            subject: "Hello {{guardian}}".into(),
            body_html: "<p>About {{student}}</p>".into(),
            body_text: String::new(),
            inbox_text: String::new(),
            voice_script: String::new(),
            audience: AudienceKind::Guardians,
            calendar_id: CalendarId(Uuid::nil()),
            all_schools: false,
            grade_levels: vec![],
            devices: vec![Device::Email, Device::Inbox, Device::Email],
            start_at: None,
            email_at: None,
            dial_window: None,
            confirm_to_sender: false,
        }
    }

    #[test]
    fn an_empty_plain_text_and_notice_are_made_from_the_html_body() {
        let c = draft().compose().unwrap();
        assert_eq!(c.body_text, "About {{student}}");
        assert_eq!(c.inbox_text, c.body_text);
        assert_eq!(c.draft().devices, vec![Device::Email, Device::Inbox]);
    }

    #[test]
    fn a_bad_template_in_any_field_is_refused_with_that_field_named() {
        let mut d = draft();
        d.inbox_text = "See {{portal}}".into();
        match d.compose() {
            Err(ComposeError::Template(e)) => assert_eq!(e.field, "Portal notice"),
            other => panic!("{other:?}"),
        }
        let mut d = draft();
        d.body_html = "<p>About <b>{{student}}</p>".into();
        assert!(matches!(d.compose(), Err(ComposeError::Template(e)) if e.field == "Message body"));
    }

    #[test]
    fn a_body_past_256_kb_is_refused_naming_the_field_and_one_at_the_cap_composes() {
        let at_cap = format!("<p>{}</p>", "a".repeat(MAX_BODY_BYTES - 7));
        assert_eq!(at_cap.len(), MAX_BODY_BYTES);
        let mut d = draft();
        d.body_html = at_cap.clone();
        assert!(d.compose().is_ok());
        let mut d = draft();
        d.body_html = format!("{at_cap} ");
        let e = d.compose().unwrap_err();
        assert_eq!(
            e,
            ComposeError::BodyTooLong("Message body", MAX_BODY_BYTES + 1)
        );
        assert!(
            e.to_string()
                .starts_with("Message body: at most 256 KB (it has 257 KB)"),
            "{e}"
        );
        let mut d = draft();
        d.inbox_text = "é".repeat(MAX_BODY_BYTES / 2 + 1);
        assert!(matches!(
            d.compose(),
            Err(ComposeError::BodyTooLong("Portal notice", _))
        ));
    }

    #[test]
    fn the_phone_needs_a_script_and_a_dial_window() {
        let window = DialWindow::new(
            NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
        )
        .unwrap();
        for (script, window, ok) in [
            ("", None, false),
            ("This is {{school}}.", None, false),
            ("", Some(window), false),
            ("This is {{school}}.", Some(window), true),
        ] {
            let mut d = draft();
            d.devices = vec![Device::Phone];
            d.voice_script = script.into();
            d.dial_window = window;
            match d.compose() {
                Ok(_) => assert!(ok, "{script:?} {window:?} was accepted"),
                Err(e) => {
                    assert!(!ok, "{script:?} {window:?}: {e}");
                    assert_eq!(e, ComposeError::PhoneNeedsScriptAndWindow);
                }
            }
        }
    }

    #[test]
    fn emails_cannot_be_set_to_go_before_delivery_starts() {
        let mut d = draft();
        let start = Utc::now() + TimeDelta::hours(3);
        d.start_at = Some(start);
        d.email_at = Some(start - TimeDelta::hours(1));
        assert_eq!(d.compose().unwrap_err(), ComposeError::EmailBeforeStart);
    }

    #[test]
    fn a_subject_and_at_least_one_device_are_required() {
        let mut d = draft();
        d.subject = "  ".into();
        assert_eq!(d.compose().unwrap_err(), ComposeError::Missing("Subject"));
        let mut d = draft();
        d.devices.clear();
        assert_eq!(d.compose().unwrap_err(), ComposeError::NoDevice);
    }
}
