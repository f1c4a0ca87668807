//! Typed ids: one newtype per table whose rows are referred to from elsewhere.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A row of `account`.
    AccountId
);
id_type!(
    /// A row of `person`: a student, guardian or staff member.
    PersonId
);
id_type!(
    /// A row of `school`.
    SchoolId
);
id_type!(
    /// A row of `calendar`: one school year at one school.
    CalendarId
);
id_type!(
    /// A row of `household`.
    HouseholdId
);
id_type!(
    /// A row of `message`.
    MessageId
);
id_type!(
    /// A row of `contact_method`: one email address or phone number.
    ContactMethodId
);

/// A row of `delivery_job` (an identity column: jobs are many and only ever ordered by creation).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
