//! What more than one page shows the same way: a person and a contact method as the People page
//! and the parent portal list them ([`PersonView`], [`MethodView`]), who a message did not reach
//! ([`UnreachedLine`], on a message's page and its Delivery Report), and, on the server, what
//! builds them from `herald_core`, the notes several pages say (`workers_warning`,
//! `phone_note`), whether a message is still under way, and how a date-range field is read
//! (`day_start`).
//!
//! What must stay true: a page showing one of these ideas uses what is here, so every page says
//! it in the same words; how a single value reads (a moment, a phone number) is
//! [`crate::format`]'s, and pages never compare the words they show (they get booleans and
//! ids from the server instead).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A person in a list: a search hit, a household member, a relation, a parent's student.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonView {
    pub id: Uuid,
    /// `PersonKind::label` ("Student"), or empty where the list says it already.
    pub kind: String,
    pub name: String,
    /// "Grade 03 · Lincoln Elementary", an identifier, a relationship.
    pub detail: String,
}

/// A contact method with its preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodView {
    /// The address, or the phone number as people write it.
    pub label: String,
    /// "Email", or the phone's kind ("Cell").
    pub kind: String,
    pub household_phone: bool,
    pub sms_capable: bool,
    /// (reason label, on) for every contact reason.
    pub preferences: Vec<(String, bool)>,
}

/// How many recipients a message did not reach on a device, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreachedLine {
    /// `Device::label`.
    pub device: String,
    /// `UnreachedCause::label`.
    pub cause: String,
    pub people: i64,
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use chrono::{DateTime, Utc};
    use herald_core::directory::{ContactMethodView, PersonHit};
    use herald_core::messaging::sent_messages::{MessageState, UnreachedCount};

    use super::{MethodView, PersonView, UnreachedLine};
    use crate::error::AppError;
    use crate::format;
    use crate::state::AppState;

    /// A message in this state is still changing: its pages refresh themselves, and say so when
    /// no worker is running.
    pub fn under_way(state: MessageState) -> bool {
        matches!(state, MessageState::Scheduled | MessageState::Sending)
    }

    /// A search hit or a household member.
    pub fn person_view(h: PersonHit) -> PersonView {
        PersonView {
            id: h.id.0,
            kind: h.kind.label().into(),
            name: h.name,
            detail: h.detail,
        }
    }

    /// A contact method as the admin People page and the parent portal show it.
    pub fn method_view(m: ContactMethodView) -> MethodView {
        MethodView {
            label: format::contact(m.email.as_deref(), m.phone.as_deref()),
            kind: match (&m.email, m.phone_kind) {
                (Some(_), _) => "Email".into(),
                (None, Some(k)) => k.label().into(),
                (None, None) => "Phone".into(),
            },
            household_phone: m.household_phone,
            sms_capable: m.sms_capable,
            preferences: m
                .preferences
                .into_iter()
                .map(|(r, on)| (r.label().to_string(), on))
                .collect(),
        }
    }

    /// "Grade 03 · Lincoln Elementary", from whichever parts are known.
    pub fn student_detail(grade: Option<String>, school: Option<String>) -> String {
        [grade.map(|g| format!("Grade {g}")), school]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
    }

    pub fn unreached_line(u: &UnreachedCount) -> UnreachedLine {
        UnreachedLine {
            device: u.device.label().into(),
            cause: u.cause.label().into(),
            people: u.people,
        }
    }

    /// Midnight at the start of `date` plus `days`, in the district's time zone; none for an
    /// empty field. `field` names the field in the error.
    pub fn day_start(
        field: &str,
        date: &str,
        tz: chrono_tz::Tz,
        days: u64,
    ) -> Result<Option<DateTime<Utc>>, AppError> {
        let date = date.trim();
        if date.is_empty() {
            return Ok(None);
        }
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.checked_add_days(chrono::Days::new(days)))
            .ok_or_else(|| AppError::Invalid(format!("{field}: '{date}' is not a date.")))?;
        Ok(Some(herald_core::directory::day_start(tz, day)))
    }

    /// For a message still under way: a warning when no worker is running, since then nothing
    /// is delivered (the seed's "queued for more than a few minutes: the service is not
    /// running", said before anyone has to guess).
    pub async fn workers_warning(
        state: &AppState,
        under_way: bool,
    ) -> Result<Option<String>, AppError> {
        use herald_core::heartbeat::{self, Workers};
        if !under_way {
            return Ok(None);
        }
        let since = match heartbeat::status(&state.pool).await? {
            Workers::Running(_) => return Ok(None),
            Workers::Silent { last_seen: None } => String::new(),
            Workers::Silent { last_seen: Some(t) } => {
                let tz = herald_core::directory::time_zone(&state.pool).await?;
                format!(" since {}", format::when(t, tz))
            }
        };
        Ok(Some(format!(
            "No Herald worker has checked in{since}, so nothing is being delivered: deliveries wait until one runs (herald-worker run). Ask whoever runs Herald to start it."
        )))
    }

    /// Calls with the provider, and calls waiting and why: the dialer not set up, or the next
    /// opening of the dial window (or a retry).
    pub async fn phone_note(
        state: &AppState,
        id: herald_core::domain::MessageId,
        tz: chrono_tz::Tz,
    ) -> Result<Option<String>, AppError> {
        use herald_core::dialer::preferences::{self, DialerPreferencesError};
        let p = herald_core::messaging::sent_messages::phone_progress(&state.pool, id).await?;
        let mut parts = Vec::new();
        if p.calling > 0 {
            parts.push(format!("{} with the provider now", p.calling));
        }
        match preferences::config(&state.pool, &state.settings.dialer, &state.settings.secrets)
            .await
        {
            Err(DialerPreferencesError::NotConfigured(missing)) if p.due + p.waiting > 0 => {
                parts.push(format!(
                    "{} waiting: the dialer is not set up ({} missing on Dialer Preferences)",
                    p.due + p.waiting,
                    missing.join(", ")
                ));
            }
            _ => {
                if p.due > 0 {
                    parts.push(format!("{} being placed", p.due));
                }
                if let (true, Some(next)) = (p.waiting > 0, p.next_at) {
                    parts.push(format!(
                        "{} waiting for the dial window or a retry; the next at {}",
                        p.waiting,
                        format::when(next, tz)
                    ));
                }
            }
        }
        Ok((!parts.is_empty()).then(|| format!("Calls: {}.", parts.join("; "))))
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::ssr::{day_start, under_way};
    use herald_core::messaging::sent_messages::MessageState;

    #[test]
    fn a_date_range_is_whole_days_in_the_districts_time_zone() {
        let tz = chrono_tz::America::Chicago;
        let from = day_start("From", "2026-11-23", tz, 0).unwrap().unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-23T06:00:00+00:00");
        let until = day_start("To", "2026-11-23", tz, 1).unwrap().unwrap();
        assert_eq!(until.to_rfc3339(), "2026-11-24T06:00:00+00:00");
        assert_eq!(day_start("From", " ", tz, 0).unwrap(), None);
        let e = day_start("To", "11/23/2026", tz, 1).unwrap_err();
        assert_eq!(e.to_string(), "To: '11/23/2026' is not a date.");
        // Midnight does not exist on a day that starts daylight saving at midnight (Havana).
        let havana = chrono_tz::America::Havana;
        assert!(
            day_start("From", "2026-03-08", havana, 0)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_message_is_under_way_until_it_finishes_or_is_canceled() {
        assert!(under_way(MessageState::Scheduled) && under_way(MessageState::Sending));
        assert!(!under_way(MessageState::Finished) && !under_way(MessageState::Canceled));
    }
}
