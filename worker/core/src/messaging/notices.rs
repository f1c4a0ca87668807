//! The parent portal's User Notices: a person's notices newest first, a page at a time, with the
//! school and sender of each; the unread count; marking one or all read.
//!
//! What must stay true:
//! - Every statement is scoped by the person: a notice id of another person reads as absent and
//!   marks nothing, so a parent can never see or touch another household's notice.
//! - Pages are keyset pages on (created_at, id) newest first: a page costs the same with 10 or
//!   10,000 notices, and a notice arriving while a parent pages never shifts or repeats a row.
//! - A notice stores no copy of its message: a page renders each notice from its message's
//!   templates and its recipient row ([`delivery::notice`], as the inbox lane once did), loading
//!   each message of the page once. Notices written before that keep, and show, their stored copy.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use std::collections::HashMap;

use super::delivery::{self, Loaded, RenderError};
use crate::domain::{ContactReason, MessageId, PersonId};

/// A notice as the portal lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalNotice {
    /// The notice's id.
    pub id: Uuid,
    /// Why the message was sent.
    pub reason: ContactReason,
    /// The subject, rendered for this recipient.
    pub subject: String,
    /// The portal notice's text, rendered for this recipient.
    pub body: String,
    /// The message's HTML for this recipient, as stored (see [`sanitize`] before showing it).
    pub body_html: Option<String>,
    /// The message's school (empty if the message is gone).
    pub school: String,
    /// The sender's name (empty if the message is gone).
    pub sender: String,
    /// When the notice was written.
    pub created_at: DateTime<Utc>,
    /// Whether the person has read it.
    pub read: bool,
}

/// Where the next page starts: after this notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The notice's creation time.
    pub created_at: DateTime<Utc>,
    /// The notice's id, which breaks ties between notices of the same instant.
    pub id: Uuid,
}

impl Cursor {
    /// `<unix micros>.<uuid>`, for a URL or a server-function argument.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at.timestamp_micros(), self.id)
    }

    /// Reads [`Cursor::encode`]'s form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        let (micros, id) = s.split_once('.')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// One page of notices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The notices of this page, newest first.
    pub notices: Vec<PortalNotice>,
    /// The newest notice shown, to poll for newer ones.
    pub newest: Option<Cursor>,
    /// Set when older notices follow.
    pub next: Option<Cursor>,
    /// How many of the person's notices are unread, over all pages.
    pub unread: i64,
}

/// A message's HTML made safe to put into the portal page: only an allow-list of formatting
/// tags and attributes survives (no scripts, styles, event handlers, forms or frames); links
/// keep only http, https, mailto and tel URLs and open with `rel="noopener noreferrer"`.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto", "tel"].into())
        .clean(html)
        .to_string()
}

/// What a notice whose message no longer exists (or no longer renders) shows as its subject.
pub const GONE: &str = "This message is no longer available";

/// Up to `size` of a person's notices older than `after` (from the newest when `None`), each
/// rendered for the person; `portal_url` is what `{{portal_url}}` merges as.
pub async fn page(
    pool: &PgPool,
    person: PersonId,
    after: Option<Cursor>,
    size: i64,
    portal_url: &str,
) -> Result<Page, RenderError> {
    let (at, id) = match after {
        Some(c) => (Some(c.created_at), Some(c.id)),
        None => (None, None),
    };
    let mut rows = sqlx::query!(
        r#"select n.id, n.message_id as "message_id: MessageId", n.reason as "reason: ContactReason",
                  n.subject, n.body, n.body_html,
                  coalesce(s.name, '') as "school!", coalesce(m.sender_name, '') as "sender!",
                  n.created_at, n.read_at is not null as "read!"
           from portal_notice n
           left join message m on m.id = n.message_id
           left join calendar c on c.id = m.calendar_id
           left join school s on s.id = c.school_id
           where n.person_id = $1
             and ($2::timestamptz is null or (n.created_at, n.id) < ($2, $3::uuid))
           order by n.created_at desc, n.id desc
           limit $4"#,
        person as PersonId,
        at,
        id,
        size + 1,
    )
    .fetch_all(pool)
    .await?;
    let next = if rows.len() as i64 > size {
        rows.truncate(size as usize);
        rows.last().map(|n| Cursor {
            created_at: n.created_at,
            id: n.id,
        })
    } else {
        None
    };
    let newest = rows.first().map(|n| Cursor {
        created_at: n.created_at,
        id: n.id,
    });
    // The messages and recipient rows the page's unstored notices render from, each read once.
    let to_render: Vec<(MessageId, PersonId)> = rows
        .iter()
        .filter(|n| n.subject.is_none())
        .map(|n| (n.message_id, person))
        .collect();
    let recipients = delivery::recipients_of(pool, &to_render).await?;
    let mut messages: HashMap<MessageId, Loaded> = HashMap::new();
    for (message, _) in &to_render {
        if messages.contains_key(message) {
            continue;
        }
        match delivery::load(pool, *message).await {
            Ok(m) => {
                messages.insert(*message, m);
            }
            // Messages are never deleted; should one be, its notices say so instead of failing
            // the whole page. A stored template that no longer parses (it did when composed)
            // costs its own notices, not the parent's whole list.
            Err(RenderError::Db(sqlx::Error::RowNotFound)) => {}
            Err(e @ RenderError::Template(..)) => {
                tracing::error!(error = %e, "a notice's message does not render");
            }
            Err(e) => return Err(e),
        }
    }
    let notices = rows
        .into_iter()
        .map(|n| {
            let (subject, body, body_html) = match (n.subject, n.body) {
                (Some(subject), Some(body)) => (subject, body, n.body_html),
                _ => match messages.get(&n.message_id) {
                    Some(m) => {
                        let r = recipients.get(&(n.message_id, person));
                        let c = delivery::notice(m, r, portal_url);
                        (c.subject, c.body, Some(c.body_html))
                    }
                    None => (GONE.to_string(), String::new(), None),
                },
            };
            PortalNotice {
                id: n.id,
                reason: n.reason,
                subject,
                body,
                body_html,
                school: n.school,
                sender: n.sender,
                created_at: n.created_at,
                read: n.read,
            }
        })
        .collect();
    Ok(Page {
        notices,
        newest,
        next,
        unread: unread(pool, person).await?,
    })
}

/// How many of a person's notices are unread.
pub async fn unread(pool: &PgPool, person: PersonId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from portal_notice where person_id = $1 and read_at is null"#,
        person as PersonId
    )
    .fetch_one(pool)
    .await
}

/// How many of a person's notices are newer than `than` (the newest one the page shows): what
/// an open portal page polls to offer "new notices".
pub async fn count_newer(
    pool: &PgPool,
    person: PersonId,
    than: Cursor,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from portal_notice
           where person_id = $1 and (created_at, id) > ($2, $3)"#,
        person as PersonId,
        than.created_at,
        than.id,
    )
    .fetch_one(pool)
    .await
}

/// Marks one of a person's notices read; false when it is not theirs.
pub async fn mark_read(pool: &PgPool, person: PersonId, notice: Uuid) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query!(
        "update portal_notice set read_at = coalesce(read_at, now()) where id = $1 and person_id = $2",
        notice,
        person as PersonId
    )
    .execute(pool)
    .await?
    .rows_affected()
        > 0)
}

/// Marks all of a person's notices read; returns how many were unread.
pub async fn mark_all_read(pool: &PgPool, person: PersonId) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!(
        "update portal_notice set read_at = now() where person_id = $1 and read_at is null",
        person as PersonId
    )
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_keeps_formatting_and_drops_anything_that_runs() {
        let dirty = r#"<p onclick="steal()">Field <b>trip</b> <a href="javascript:alert(1)">x</a> <a href="https://district.org/trip">details</a></p><script>alert(1)</script><img src=x onerror=alert(1)><iframe src="https://evil.example"></iframe>"#;
        let clean = sanitize(dirty);
        assert!(clean.contains("<b>trip</b>"), "{clean}");
        assert!(
            clean.contains(
                r#"<a href="https://district.org/trip" rel="noopener noreferrer">details</a>"#
            ),
            "{clean}"
        );
        for bad in [
            "script",
            "onclick",
            "onerror",
            "javascript:",
            "iframe",
            "steal",
        ] {
            assert!(!clean.contains(bad), "{bad} survived: {clean}");
        }
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_nothing_else() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_795_443_472_566_123).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("garbage"), None);
        assert_eq!(Cursor::decode("12.not-a-uuid"), None);
    }
}
