//! Contact preferences as their owner sees and changes them: the parent portal's "My contact
//! preferences", the one-click unsubscribe link, text-message consent, and the history an admin
//! reads on the People page.
//!
//! What must stay true:
//! - A person changes only their own contact methods and their household's phones (the SQL
//!   function `methods_of`, which every statement here asks); anything else is
//!   [`PreferenceError::NotYours`], indistinguishable from a method that does not exist.
//! - Emergency messages cannot be turned off on a method the district marks as an emergency
//!   contact (`contact_method.emergency`): that is how the district reaches every family in a
//!   lockdown or a closure. Every other reason is the owner's choice.
//! - Whether a method receives a reason is computed by the SQL function `method_allowed`, the
//!   same one fan-out uses, so the page never shows a setting delivery would not honour.
//! - Every write goes through [`write()`], and the `contact_preference_history` trigger records it
//!   with `updated_by` ([`ChangedBy`]).
//! - Text-message consent is given only by the phone's owner, one phone at a time, and the exact
//!   words shown are stored with it ([`texts_wording`]); there is no bulk path.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{ContactMethodId, ContactReason, PersonId, PersonKind, PhoneKind};

/// Who made a change, as `contact_preference.updated_by` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedBy {
    /// The method's owner on the portal, signed in with this email.
    Portal(String),
    /// The one-click unsubscribe link in an email.
    UnsubscribeLink,
    /// The undo on the unsubscribe link's page.
    UnsubscribeUndo,
    /// Anything else: `import`, an admin's batch, `removed`.
    Other(String),
}

const PORTAL_PREFIX: &str = "portal: ";
const UNSUBSCRIBE_LINK: &str = "unsubscribe link";
const UNSUBSCRIBE_UNDO: &str = "unsubscribe link, undone";

impl ChangedBy {
    /// Reads a stored `updated_by` value; text it does not recognise becomes [`ChangedBy::Other`].
    pub fn parse(stored: &str) -> Self {
        match stored {
            UNSUBSCRIBE_LINK => Self::UnsubscribeLink,
            UNSUBSCRIBE_UNDO => Self::UnsubscribeUndo,
            s => match s.strip_prefix(PORTAL_PREFIX) {
                Some(email) => Self::Portal(email.to_string()),
                None => Self::Other(s.to_string()),
            },
        }
    }

    /// The `updated_by` text to store; [`ChangedBy::parse`] reads it back as the same value.
    pub fn stored(&self) -> String {
        match self {
            Self::Portal(email) => format!("{PORTAL_PREFIX}{email}"),
            Self::UnsubscribeLink => UNSUBSCRIBE_LINK.into(),
            Self::UnsubscribeUndo => UNSUBSCRIBE_UNDO.into(),
            Self::Other(s) => s.clone(),
        }
    }

    /// The change was the recipient's own choice (on the portal or from their email).
    pub fn is_owner(&self) -> bool {
        !matches!(self, Self::Other(_))
    }

    /// How an admin reads it.
    pub fn describe(&self) -> String {
        match self {
            Self::Portal(email) => format!("{email} on the portal"),
            Self::UnsubscribeLink => "the unsubscribe link in an email".into(),
            Self::UnsubscribeUndo => "undo on the unsubscribe page".into(),
            Self::Other(s) if s == "import" => "roster import".into(),
            Self::Other(s) if s == "removed" => "preference removed".into(),
            Self::Other(s) => s.clone(),
        }
    }
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PreferenceError {
    /// No such method among the person's own and their household's.
    #[error("no such contact method for this person")]
    NotYours,
    /// The owner tried to turn Emergency off on a method the district marks as an emergency contact.
    #[error("emergency messages cannot be turned off for a contact the district requires")]
    EmergencyRequired,
    /// Text messages were asked for on a method that is not a mobile phone.
    #[error("text messages can only be turned on for a mobile phone")]
    NotMobile,
    /// A database statement failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The reasons a person of this kind can receive: Staff messages go only to staff.
pub fn reasons_for(kind: PersonKind) -> Vec<ContactReason> {
    ContactReason::ALL
        .into_iter()
        .filter(|r| *r != ContactReason::Staff || kind == PersonKind::Staff)
        .collect()
}

/// One reason on one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonSetting {
    /// The contact reason this setting is for.
    pub reason: ContactReason,
    /// Whether delivery sends this reason to the method (`method_allowed`, as fan-out computes it).
    pub enabled: bool,
    /// On, and the owner cannot turn it off (Emergency on an emergency contact).
    pub required: bool,
}

/// Whether a phone receives text messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Texts {
    /// Not a mobile phone (or an email address).
    NotOffered,
    /// A mobile phone without text-message consent in force.
    Off,
    /// A mobile phone whose owner consented to text messages.
    On {
        /// When the consent in force was given.
        since: DateTime<Utc>,
        /// The exact words the owner agreed to.
        wording: String,
    },
}

/// One contact method with its settings, as its owner sees them.
#[derive(Debug, Clone)]
pub struct MethodPreferences {
    /// The contact method's id.
    pub id: ContactMethodId,
    /// The email address, for an email method.
    pub email: Option<String>,
    /// The phone number (E.164), for a phone method.
    pub phone: Option<String>,
    /// What kind of phone it is, when the roster says.
    pub phone_kind: Option<PhoneKind>,
    /// The phone belongs to the person's household rather than to the person.
    pub household_phone: bool,
    /// The district marks this method as an emergency contact, so Emergency cannot be turned off.
    pub emergency_contact: bool,
    /// Every reason the person can receive, with whether this method gets it.
    pub reasons: Vec<ReasonSetting>,
    /// Whether the phone receives text messages.
    pub texts: Texts,
}

/// The person's kind, when they exist.
pub async fn person_kind(
    pool: &PgPool,
    person: PersonId,
) -> Result<Option<PersonKind>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select kind as "kind: PersonKind" from person where id = $1"#,
        person as PersonId
    )
    .fetch_optional(pool)
    .await
}

/// The person's contact methods (their own, then their household's phones) with every reason
/// that applies to them, as delivery would treat it.
pub async fn of_person(
    pool: &PgPool,
    person: PersonId,
) -> Result<Vec<MethodPreferences>, sqlx::Error> {
    let Some(kind) = person_kind(pool, person).await? else {
        return Ok(Vec::new());
    };
    let reasons = reasons_for(kind);
    let rows = sqlx::query!(
        r#"select cm.id as "id: ContactMethodId", cm.email, cm.phone,
                  cm.phone_kind as "phone_kind: PhoneKind", cm.household_id is not null as "household!",
                  cm.emergency, (coalesce(cm.phone_kind = 'cell', false) or cm.sms_capable) as "mobile!",
                  sc.given_at as "texts_since?", sc.wording as "texts_wording?",
                  array_agg(r.reason order by r.reason) as "reasons!: Vec<ContactReason>",
                  array_agg(method_allowed(r.reason, cp.enabled, cm.emergency) order by r.reason)
                      as "enabled!: Vec<bool>"
           from contact_method cm
           cross join unnest(enum_range(null::contact_reason)) as r(reason)
           left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = r.reason
           left join sms_consent sc on sc.contact_method_id = cm.id and sc.withdrawn_at is null
           where cm.id in (select id from methods_of($1))
           group by cm.id, sc.id
           order by cm.household_id is not null, cm.email nulls last, cm.phone"#,
        person as PersonId
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let texts = match (r.mobile, r.texts_since, r.texts_wording) {
                (false, _, _) => Texts::NotOffered,
                (true, Some(since), Some(wording)) => Texts::On { since, wording },
                (true, _, _) => Texts::Off,
            };
            MethodPreferences {
                id: r.id,
                reasons: r
                    .reasons
                    .iter()
                    .zip(&r.enabled)
                    .filter(|(reason, _)| reasons.contains(reason))
                    .map(|(&reason, &enabled)| ReasonSetting {
                        reason,
                        enabled,
                        required: enabled && required(reason, r.emergency),
                    })
                    .collect(),
                email: r.email,
                phone: r.phone,
                phone_kind: r.phone_kind,
                household_phone: r.household,
                emergency_contact: r.emergency,
                texts,
            }
        })
        .collect())
}

/// The district requires this reason on this method, whatever its owner prefers.
fn required(reason: ContactReason, emergency_contact: bool) -> bool {
    reason == ContactReason::Emergency && emergency_contact
}

/// What the person may know about one of their methods.
struct Owned {
    emergency: bool,
    /// The phone number (E.164) of a mobile phone: one that can take text messages.
    mobile: Option<String>,
}

async fn owned(
    pool: &PgPool,
    person: PersonId,
    method: ContactMethodId,
) -> Result<Owned, PreferenceError> {
    let row = sqlx::query!(
        r#"select cm.emergency,
                  case when coalesce(cm.phone_kind = 'cell', false) or cm.sms_capable
                       then cm.phone end as mobile
           from contact_method cm
           where cm.id = $2
             and cm.id in (select id from methods_of($1))"#,
        person as PersonId,
        method as ContactMethodId
    )
    .fetch_optional(pool)
    .await?
    .ok_or(PreferenceError::NotYours)?;
    Ok(Owned {
        emergency: row.emergency,
        mobile: row.mobile,
    })
}

/// A change as it was applied: what delivery did before, and does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Whether delivery sent the reason to the method before the change.
    pub was: bool,
    /// Whether it does after the change.
    pub now: bool,
}

/// Turns `reason` on or off on one of the person's methods.
pub async fn set(
    pool: &PgPool,
    person: PersonId,
    method: ContactMethodId,
    reason: ContactReason,
    enabled: bool,
    by: &ChangedBy,
) -> Result<Change, PreferenceError> {
    let facts = owned(pool, person, method).await?;
    if !enabled && required(reason, facts.emergency) {
        return Err(PreferenceError::EmergencyRequired);
    }
    let was = write(pool, method, reason, enabled, by)
        .await?
        .ok_or(PreferenceError::NotYours)?;
    Ok(Change { was, now: enabled })
}

/// Writes one preference row, whoever asks. Returns whether delivery sent `reason` to the method
/// before the write, or `None` when the method does not exist.
pub async fn write(
    pool: &PgPool,
    method: ContactMethodId,
    reason: ContactReason,
    enabled: bool,
    by: &ChangedBy,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"with before as (
               select method_allowed($2, cp.enabled, cm.emergency) as was
               from contact_method cm
               left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = $2
               where cm.id = $1)
           insert into contact_preference (contact_method_id, reason, enabled, updated_at, updated_by)
           select $1, $2, $3, now(), $4 from before
           on conflict (contact_method_id, reason)
           do update set enabled = excluded.enabled, updated_at = now(), updated_by = excluded.updated_by
           returning (select was from before) as "was!""#,
        method as ContactMethodId,
        reason as ContactReason,
        enabled,
        by.stored()
    )
    .fetch_optional(pool)
    .await
}

/// Whether the district requires `reason` on `method` (false for a method that does not exist).
pub async fn required_on(
    pool: &PgPool,
    method: ContactMethodId,
    reason: ContactReason,
) -> Result<bool, sqlx::Error> {
    let emergency = sqlx::query_scalar!(
        "select emergency from contact_method where id = $1",
        method as ContactMethodId
    )
    .fetch_optional(pool)
    .await?;
    Ok(emergency.is_some_and(|e| required(reason, e)))
}

/// The district's name, for the consent wording.
pub async fn district_name(pool: &PgPool) -> Result<String, sqlx::Error> {
    Ok(
        sqlx::query_scalar!("select name from district order by name limit 1")
            .fetch_optional(pool)
            .await?
            .unwrap_or_else(|| "your school district".into()),
    )
}

/// The words a parent agrees to when turning text messages on, for one phone. Shown on the page
/// and stored with the consent exactly as shown.
pub fn texts_wording(district: &str, phone: &str) -> String {
    format!(
        "I agree to receive text messages from {district} at {phone} about my students and their \
         schools, including emergencies, attendance and school news. Message frequency varies. \
         Message and data rates may apply. Reply STOP to stop, HELP for help. Agreeing is not \
         required to enrol or to receive other messages."
    )
}

/// Turns text messages on for one of the person's mobile phones, storing the words agreed to,
/// which `wording` writes for the phone's number (E.164). Consenting again while consent is in
/// force changes nothing.
pub async fn consent_to_texts(
    pool: &PgPool,
    person: PersonId,
    method: ContactMethodId,
    wording: impl FnOnce(&str) -> String,
    by: &ChangedBy,
) -> Result<(), PreferenceError> {
    let phone = owned(pool, person, method)
        .await?
        .mobile
        .ok_or(PreferenceError::NotMobile)?;
    let wording = wording(&phone);
    sqlx::query!(
        "insert into sms_consent (contact_method_id, wording, given_by) values ($1, $2, $3)
         on conflict (contact_method_id) where withdrawn_at is null do nothing",
        method as ContactMethodId,
        wording,
        by.stored()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Withdraws text-message consent on one of the person's phones (nothing to do when there is
/// none in force).
pub async fn withdraw_texts(
    pool: &PgPool,
    person: PersonId,
    method: ContactMethodId,
    by: &ChangedBy,
) -> Result<(), PreferenceError> {
    owned(pool, person, method).await?;
    sqlx::query!(
        "update sms_consent set withdrawn_at = now(), withdrawn_by = $2
         where contact_method_id = $1 and withdrawn_at is null",
        method as ContactMethodId,
        by.stored()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// One recorded change to a preference, for the admin's history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The email address or phone number.
    pub method: String,
    /// The contact reason that changed.
    pub reason: ContactReason,
    /// `None`: no preference row (the district default).
    pub old: Option<bool>,
    /// The setting after the change; `None`: the preference row was removed (the district default).
    pub new: Option<bool>,
    /// When the change was recorded.
    pub at: DateTime<Utc>,
    /// Who made the change.
    pub by: ChangedBy,
    /// Someone other than the recipient changed a choice the recipient had made.
    pub overrode_owner: bool,
}

/// The newest `limit` preference changes on the person's methods, newest first.
pub async fn history(
    pool: &PgPool,
    person: PersonId,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select coalesce(cm.email, cm.phone) as "method!", c.reason as "reason: ContactReason",
                  c.old_enabled, c.new_enabled, c.changed_at, c.changed_by,
                  lag(c.changed_by) over (partition by c.contact_method_id, c.reason order by c.id)
                      as previous_by
           from contact_preference_change c
           join contact_method cm on cm.id = c.contact_method_id
           where cm.id in (select id from methods_ever_of($1))
           order by c.id desc
           limit $2"#,
        person as PersonId,
        limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let by = ChangedBy::parse(&r.changed_by);
            let overrode_owner = !by.is_owner()
                && r.previous_by
                    .as_deref()
                    .is_some_and(|p| ChangedBy::parse(p).is_owner());
            HistoryEntry {
                method: r.method,
                reason: r.reason,
                old: r.old_enabled,
                new: r.new_enabled,
                at: r.changed_at,
                by,
                overrode_owner,
            }
        })
        .collect())
}

/// One text-message consent on the person's phones.
#[derive(Debug, Clone)]
pub struct ConsentEntry {
    /// The phone number (E.164) the consent is for.
    pub phone: String,
    /// The exact words the owner agreed to.
    pub wording: String,
    /// When consent was given.
    pub given_at: DateTime<Utc>,
    /// Who gave it (the owner, on the portal).
    pub given_by: ChangedBy,
    /// When and by whom consent was withdrawn; `None` while it is in force.
    pub withdrawn: Option<(DateTime<Utc>, ChangedBy)>,
}

/// Every text-message consent on the person's phones, newest first.
pub async fn consents(pool: &PgPool, person: PersonId) -> Result<Vec<ConsentEntry>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select cm.phone as "phone!", sc.wording, sc.given_at, sc.given_by, sc.withdrawn_at,
                  sc.withdrawn_by
           from sms_consent sc
           join contact_method cm on cm.id = sc.contact_method_id
           where cm.id in (select id from methods_ever_of($1))
           order by sc.id desc"#,
        person as PersonId
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ConsentEntry {
            phone: r.phone,
            wording: r.wording,
            given_at: r.given_at,
            given_by: ChangedBy::parse(&r.given_by),
            withdrawn: r
                .withdrawn_at
                .zip(r.withdrawn_by)
                .map(|(at, by)| (at, ChangedBy::parse(&by))),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_changed_a_preference_round_trips_through_its_stored_form() {
        for by in [
            ChangedBy::Portal("maria@example.org".into()),
            ChangedBy::UnsubscribeLink,
            ChangedBy::UnsubscribeUndo,
            ChangedBy::Other("import".into()),
        ] {
            assert_eq!(ChangedBy::parse(&by.stored()), by);
        }
        assert!(ChangedBy::Portal("a@b.c".into()).is_owner());
        assert!(!ChangedBy::Other("Contact Preferences Batch (admin@d.org)".into()).is_owner());
    }

    #[test]
    fn guardians_are_not_offered_staff_messages() {
        assert!(!reasons_for(PersonKind::Guardian).contains(&ContactReason::Staff));
        assert_eq!(reasons_for(PersonKind::Staff).len(), 8);
    }

    #[test]
    fn only_emergency_on_an_emergency_contact_is_required() {
        assert!(required(ContactReason::Emergency, true));
        assert!(!required(ContactReason::Emergency, false));
        assert!(!required(ContactReason::General, true));
    }
}
