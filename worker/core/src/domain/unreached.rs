//! Why fan-out reached a recipient on no address of a device: the values of
//! `message_unreached.cause`, a text column whose check constraint (`0003_messages.sql`) lists
//! them.
//!
//! What must stay true: [`UnreachedCause::ALL`] is exactly the constraint's list (a test below
//! reads the migration), fan-out writes these values by binding them, never as literals of its
//! own, and pages show [`UnreachedCause::label`], never the stored value.

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

use super::UnknownValue;

/// Why a recipient was not reached on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreachedCause {
    /// Email: the person has no email address on file.
    NoEmail,
    /// Phone: neither the person nor their household has a phone number on file.
    NoPhone,
    /// Every address of the device is switched off for the message's reason.
    OptedOut,
    /// An emergency message, and no address of the device is marked as an emergency contact.
    NotEmergencyContact,
}

impl UnreachedCause {
    /// Every cause, in the order of the schema's check constraint.
    pub const ALL: [Self; 4] = [
        Self::NoEmail,
        Self::NoPhone,
        Self::OptedOut,
        Self::NotEmergencyContact,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoEmail => "no_email",
            Self::NoPhone => "no_phone",
            Self::OptedOut => "opted_out",
            Self::NotEmergencyContact => "not_emergency_contact",
        }
    }

    /// What a district admin reads on a message's page and its Delivery Report.
    pub fn label(self) -> &'static str {
        match self {
            Self::NoEmail => "No email address on file",
            Self::NoPhone => "No phone number on file",
            Self::OptedOut => "Opted out of this message type",
            Self::NotEmergencyContact => "No method marked for emergencies",
        }
    }
}

impl std::str::FromStr for UnreachedCause {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownValue {
                value: s.to_string(),
                expected: "no_email, no_phone, opted_out, not_emergency_contact",
            })
    }
}

/// Stored as `text` (not a Postgres enum), so it encodes and decodes as its [`as_str`] value.
///
/// [`as_str`]: UnreachedCause::as_str
impl Type<Postgres> for UnreachedCause {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for UnreachedCause {
    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as Encode<Postgres>>::encode_by_ref(&self.as_str(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for UnreachedCause {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_round_trips_through_its_stored_value_and_has_its_own_label() {
        for c in UnreachedCause::ALL {
            assert_eq!(c.as_str().parse::<UnreachedCause>(), Ok(c));
        }
        assert!("no_fax".parse::<UnreachedCause>().is_err());
        let labels: Vec<&str> = UnreachedCause::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(
            labels,
            [
                "No email address on file",
                "No phone number on file",
                "Opted out of this message type",
                "No method marked for emergencies",
            ]
        );
    }

    #[test]
    fn the_causes_are_the_ones_the_schema_allows() {
        let schema = include_str!("../../migrations/0003_messages.sql");
        let table = schema
            .split("create table message_unreached")
            .nth(1)
            .expect("0003_messages.sql creates message_unreached");
        let allowed = table
            .split("cause in (")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .expect("message_unreached.cause has a check constraint");
        let values: Vec<&str> = allowed
            .split(',')
            .map(|v| v.trim().trim_matches('\''))
            .collect();
        assert_eq!(values, UnreachedCause::ALL.map(UnreachedCause::as_str));
    }
}
