//! `PhoneNumber` in E.164 (`+` then 7–15 digits, no leading zero) and the kind of a phone.
//!
//! Numbers without a `+` are read as North American (NANP, the districts Herald serves today):
//! ten digits, or eleven starting with 1, with area code and exchange not starting with 0 or 1.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A phone number in E.164 form, e.g. `+15555550123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but whitespace was given.
    #[error("is empty")]
    Empty,
    /// Something other than digits, spaces, `+`, `-`, `.`, `(` and `)`.
    #[error("'{0}' contains characters other than digits, spaces, '+', '-', '.', '(' and ')'")]
    Characters(String),
    /// Starts with `+` but is not `+` and 7 to 15 digits without a leading zero.
    #[error("'{0}' is not an E.164 number: '+' then 7 to 15 digits, not starting with 0")]
    E164(String),
    /// Without `+`, not ten digits (or eleven starting with 1) with area code and exchange
    /// starting 2 to 9.
    #[error("'{0}' is not a 10-digit North American number (area code and exchange start 2-9)")]
    Nanp(String),
}

impl PhoneNumber {
    /// Parses `+CC…` as E.164 and anything else as a North American number.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '(' | ')' | ' '))
        {
            return Err(PhoneError::Characters(s.to_string()));
        }
        let digits: String = s.chars().filter(char::is_ascii_digit).collect();
        if let Some(rest) = s.strip_prefix('+') {
            if rest.contains('+') || !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
                return Err(PhoneError::E164(s.to_string()));
            }
            return Ok(Self(format!("+{digits}")));
        }
        if s.contains('+') {
            return Err(PhoneError::E164(s.to_string()));
        }
        let national = match digits.len() {
            10 => digits.as_str(),
            11 if digits.starts_with('1') => &digits[1..],
            _ => return Err(PhoneError::Nanp(s.to_string())),
        };
        let b = national.as_bytes();
        if b[0] < b'2' || b[3] < b'2' {
            return Err(PhoneError::Nanp(s.to_string()));
        }
        Ok(Self(format!("+1{national}")))
    }

    /// The number in E.164, e.g. `+15555550123`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What kind of line a phone is; only cell phones can be SMS capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "phone_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PhoneKind {
    /// A mobile phone: it can take text messages.
    Cell,
    /// A home landline; also what a roster phone without a `phoneType` is taken to be.
    Home,
    /// A work phone.
    Work,
    /// Any other line (the roster's `metadata.herald.phoneType` says `other`).
    Other,
}

impl PhoneKind {
    /// The name the pages show.
    pub fn label(self) -> &'static str {
        match self {
            Self::Cell => "Cell",
            Self::Home => "Home",
            Self::Work => "Work",
            Self::Other => "Other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn north_american_numbers_in_any_common_format_become_e164() {
        for raw in [
            "(612) 555-0123",
            "612.555.0123",
            "1 612 555 0123",
            "6125550123",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw).unwrap().as_str(),
                "+16125550123",
                "{raw}"
            );
        }
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn malformed_numbers_are_rejected_with_the_reason() {
        assert_eq!(PhoneNumber::parse(" "), Err(PhoneError::Empty));
        assert!(matches!(
            PhoneNumber::parse("612-555-01x3"),
            Err(PhoneError::Characters(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("555-0123"),
            Err(PhoneError::Nanp(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("(112) 555-0123"),
            Err(PhoneError::Nanp(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("+0123456789"),
            Err(PhoneError::E164(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("+1234"),
            Err(PhoneError::E164(_))
        ));
    }
}
