//! `EmailAddress`: a trimmed, lower-cased address with one `@`, a non-empty local part and a
//! dotted domain. It is deliberately not a full RFC 5322 parser: it accepts what districts'
//! student systems hold and rejects what no SMTP server would deliver to.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically deliverable email address, normalised to lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

/// Why a string is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailAddressError {
    /// Nothing but whitespace was given.
    #[error("is empty")]
    Empty,
    /// The address is longer than 254 bytes, the most SMTP allows.
    #[error("'{0}' is longer than 254 characters")]
    TooLong(String),
    /// There is no `@`, or more than one.
    #[error("'{0}' must contain exactly one '@'")]
    At(String),
    /// Nothing comes before the `@`.
    #[error("'{0}' has an empty part before the '@'")]
    EmptyLocal(String),
    /// The domain has fewer than two labels, an empty label, or a label with other characters
    /// than letters, digits and inner hyphens.
    #[error("'{0}' has no dotted domain after the '@'")]
    Domain(String),
    /// The address contains a space or a control character.
    #[error("'{0}' contains a space or a control character")]
    Whitespace(String),
}

impl EmailAddress {
    /// Parses and normalises (trim, lower-case) an address.
    pub fn parse(raw: &str) -> Result<Self, EmailAddressError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(EmailAddressError::Empty);
        }
        let owned = || s.to_string();
        if s.len() > 254 {
            return Err(EmailAddressError::TooLong(owned()));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailAddressError::Whitespace(owned()));
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailAddressError::At(owned()));
        };
        if local.is_empty() {
            return Err(EmailAddressError::EmptyLocal(owned()));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(EmailAddressError::Domain(owned()));
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised address, as an owned string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailAddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_trimmed_and_lower_cased() {
        let e = EmailAddress::parse("  Pat.Lee@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "pat.lee@example.org");
    }

    #[test]
    fn addresses_without_one_at_or_a_dotted_domain_are_rejected() {
        assert_eq!(EmailAddress::parse(""), Err(EmailAddressError::Empty));
        assert!(matches!(
            EmailAddress::parse("a@b@c.org"),
            Err(EmailAddressError::At(_))
        ));
        assert!(matches!(
            EmailAddress::parse("nobody"),
            Err(EmailAddressError::At(_))
        ));
        assert!(matches!(
            EmailAddress::parse("@x.org"),
            Err(EmailAddressError::EmptyLocal(_))
        ));
        assert!(matches!(
            EmailAddress::parse("a@localhost"),
            Err(EmailAddressError::Domain(_))
        ));
        assert!(matches!(
            EmailAddress::parse("a@x..org"),
            Err(EmailAddressError::Domain(_))
        ));
        assert!(matches!(
            EmailAddress::parse("a b@x.org"),
            Err(EmailAddressError::Whitespace(_))
        ));
    }
}
