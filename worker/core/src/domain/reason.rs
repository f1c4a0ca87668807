//! Contact reasons (the eight of the Contact Preferences Batch) and person kinds, mirrored by the
//! Postgres enums `contact_reason` and `person_kind`.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A string that names none of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not one of: {expected}")]
pub struct UnknownValue {
    /// The text that was given.
    pub value: String,
    /// The accepted values, comma-separated, for the error message.
    pub expected: &'static str,
}

/// Why a message is sent; each contact method is switched on or off per reason.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(type_name = "contact_reason", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ContactReason {
    /// Closures, lockdowns and other urgent news; cannot be turned off on an emergency contact.
    Emergency,
    /// Absences and tardies.
    Attendance,
    /// Behavior Messenger: notices about a student's behavior events.
    Behavior,
    /// Messages to staff; offered only to staff.
    Staff,
    /// School news and everything else without a more specific reason.
    General,
    /// Meal accounts and food service.
    FoodService,
    /// Important but not emergency messages.
    Priority,
    /// Messages from a student's teachers about their classes.
    Teacher,
}

impl ContactReason {
    /// Every reason, in the order the pages list them.
    pub const ALL: [Self; 8] = [
        Self::Emergency,
        Self::Attendance,
        Self::Behavior,
        Self::Staff,
        Self::General,
        Self::FoodService,
        Self::Priority,
        Self::Teacher,
    ];

    /// The name as stored (`contact_reason`) and written in forms, e.g. `food_service`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Attendance => "attendance",
            Self::Behavior => "behavior",
            Self::Staff => "staff",
            Self::General => "general",
            Self::FoodService => "food_service",
            Self::Priority => "priority",
            Self::Teacher => "teacher",
        }
    }

    /// The name district staff know it by.
    pub fn label(self) -> &'static str {
        match self {
            Self::Emergency => "Emergency",
            Self::Attendance => "Attendance",
            Self::Behavior => "Behavior Messenger",
            Self::Staff => "Staff",
            Self::General => "General",
            Self::FoodService => "Food Service",
            Self::Priority => "Priority",
            Self::Teacher => "Teacher",
        }
    }
}

impl FromStr for ContactReason {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownValue {
                value: s.to_string(),
                expected: "emergency, attendance, behavior, staff, general, food_service, priority, teacher",
            })
    }
}

/// Which kind of person a roster row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "person_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PersonKind {
    /// A student on the roster.
    Student,
    /// A parent, guardian or relative of a student.
    Guardian,
    /// District staff: administrators and teachers.
    Staff,
}

impl PersonKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Student, Self::Guardian, Self::Staff];

    /// The word the People page and the portal show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Student => "Student",
            Self::Guardian => "Guardian",
            Self::Staff => "Staff",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_name() {
        for r in ContactReason::ALL {
            assert_eq!(r.as_str().parse::<ContactReason>(), Ok(r));
        }
        assert!("sms".parse::<ContactReason>().is_err());
    }

    #[test]
    fn every_person_kind_has_its_own_label() {
        let labels: Vec<&str> = PersonKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(labels, ["Student", "Guardian", "Staff"]);
    }
}
