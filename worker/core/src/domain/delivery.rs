//! Delivery vocabulary: devices, audiences, job statuses, and the dial window. Each mirrors a
//! Postgres enum of `0003_messages.sql` (extended by `0004_dialer_states.sql`) or a pair of its
//! columns.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::UnknownValue;

/// How a message reaches someone.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(type_name = "delivery_device", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// An email to the contact method's address.
    Email,
    /// A notice on the parent portal.
    Inbox,
    /// A voice call to the contact method's phone, placed through the voice provider.
    Phone,
}

impl Device {
    /// Every device, in the order the pages list them.
    pub const ALL: [Self; 3] = [Self::Email, Self::Inbox, Self::Phone];

    /// The name as stored (`delivery_device`) and written in forms: `email`, `inbox`, `phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Inbox => "inbox",
            Self::Phone => "phone",
        }
    }

    /// The name the pages show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Email => "Email",
            Self::Inbox => "Portal inbox",
            Self::Phone => "Phone",
        }
    }
}

impl std::str::FromStr for Device {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownValue {
                value: s.to_string(),
                expected: "email, inbox, phone",
            })
    }
}

/// Who a message is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "audience_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum AudienceKind {
    /// Messenger contacts of students enrolled in the calendar.
    Guardians,
    /// Staff with a district assignment at the calendar's school (or district-wide).
    Staff,
}

/// Where a delivery job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "job_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Written by fan-out (or a send), waiting for its due time.
    Queued,
    /// Held by one worker until its lease runs out (`due_at`); an expired lease can be taken over.
    Leased,
    /// A phone job whose call the provider has; its status callbacks end it.
    Calling,
    /// A retryable failure; due again at `due_at`, after backoff.
    Retrying,
    /// Delivered: the email was accepted, the notice written, the call answered.
    Sent,
    /// Given up on: a fatal failure, or the last attempt failed.
    Failed,
    /// Stopped before it was delivered, because its message was canceled.
    Canceled,
}

/// What a delivery job carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "job_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// One recipient's copy of a message, written by fan-out.
    Message,
    /// A test send of a message to its sender's own email.
    Test,
    /// The email telling a sender their message has finished (when they asked for it).
    Confirmation,
    /// An email to the Dialer Preferences error list (see `herald_core::messaging::error_reports`).
    #[sqlx(rename = "error_report")]
    #[serde(rename = "error_report")]
    ErrorReport,
}

/// The hours of the day calls may be placed, in the district's time zone: `from` is before
/// `until`, both on the same day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "(NaiveTime, NaiveTime)", into = "(NaiveTime, NaiveTime)")]
pub struct DialWindow {
    from: NaiveTime,
    until: NaiveTime,
}

/// A dial window whose end is not after its start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the dial window must end after it starts ({from} is not before {until})")]
pub struct DialWindowError {
    /// The start that was given.
    pub from: NaiveTime,
    /// The end that was given.
    pub until: NaiveTime,
}

impl DialWindow {
    /// A window from `from` until `until`; refused unless `from` is before `until`.
    pub fn new(from: NaiveTime, until: NaiveTime) -> Result<Self, DialWindowError> {
        if from < until {
            Ok(Self { from, until })
        } else {
            Err(DialWindowError { from, until })
        }
    }

    /// When calls may start, local time.
    pub fn from(self) -> NaiveTime {
        self.from
    }

    /// When calls must stop, local time (exclusive).
    pub fn until(self) -> NaiveTime {
        self.until
    }

    /// Whether a local time of day falls inside the window.
    pub fn contains(self, t: NaiveTime) -> bool {
        self.from <= t && t < self.until
    }
}

impl TryFrom<(NaiveTime, NaiveTime)> for DialWindow {
    type Error = DialWindowError;
    fn try_from((from, until): (NaiveTime, NaiveTime)) -> Result<Self, Self::Error> {
        Self::new(from, until)
    }
}

impl From<DialWindow> for (NaiveTime, NaiveTime) {
    fn from(w: DialWindow) -> Self {
        (w.from, w.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn a_dial_window_must_end_after_it_starts() {
        assert!(DialWindow::new(t(17, 0), t(9, 0)).is_err());
        assert!(DialWindow::new(t(9, 0), t(9, 0)).is_err());
        let w = DialWindow::new(t(9, 0), t(17, 30)).unwrap();
        assert!(w.contains(t(9, 0)) && w.contains(t(17, 29)) && !w.contains(t(17, 30)));
    }

    #[test]
    fn a_dial_window_cannot_be_deserialised_backwards() {
        assert!(serde_json::from_str::<DialWindow>(r#"["18:00:00","08:00:00"]"#).is_err());
        assert!(serde_json::from_str::<DialWindow>(r#"["08:00:00","18:00:00"]"#).is_ok());
    }

    #[test]
    fn devices_round_trip_through_their_names() {
        for d in Device::ALL {
            assert_eq!(d.as_str().parse::<Device>(), Ok(d));
        }
    }
}
