//! Domain values that parse rather than validate: once constructed, a value is known to be valid,
//! because its fields are private and the only ways in are `parse()` / `TryFrom`.
//!
//! Ids are newtypes over `Uuid` (`#[sqlx(transparent)]`) so a person id cannot be passed where a
//! school id is expected.

mod delivery;
mod email;
mod ids;
mod phone;
mod reason;
mod unreached;

pub use delivery::{AudienceKind, Device, DialWindow, DialWindowError, JobKind, JobStatus};
pub use email::{EmailAddress, EmailAddressError};
pub use ids::{
    AccountId, CalendarId, ContactMethodId, HouseholdId, JobId, MessageId, PersonId, SchoolId,
};
pub use phone::{PhoneError, PhoneKind, PhoneNumber};
pub use reason::{ContactReason, PersonKind, UnknownValue};
pub use unreached::UnreachedCause;
