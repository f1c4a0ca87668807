//! One-click unsubscribe links (RFC 8058): a link in each email turns off exactly one contact
//! reason for exactly one address, without signing in.
//!
//! What must stay true: the link turns a reason off and its page's undo turns it back on, both
//! through [`contact_preferences::write`], so the change is in the preference history; a token names a contact method and a reason and carries an HMAC-SHA256
//! over both under a key only Herald knows (the `app_secret` row `unsubscribe`, made once on first
//! use); a token cannot be forged or re-pointed at another address or reason. The key is never
//! printed or serialised.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use crate::contact_preferences::{self, ChangedBy};
use crate::domain::{ContactMethodId, ContactReason};

const MAC_LEN: usize = 16;

/// What a genuine token names: a contact method and the reason to turn off on it.
pub type Verified = (Uuid, ContactReason);

/// The key unsubscribe tokens are signed with.
#[derive(Clone)]
pub struct UnsubscribeKey(Vec<u8>);

impl std::fmt::Debug for UnsubscribeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeKey(redacted)")
    }
}

impl UnsubscribeKey {
    /// Loads the key, creating it the first time (two processes racing agree on one row).
    pub async fn load(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let mut fresh = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        sqlx::query!(
            "insert into app_secret (name, value) values ('unsubscribe', $1) on conflict (name) do nothing",
            fresh
        )
        .execute(pool)
        .await?;
        let value = sqlx::query_scalar!("select value from app_secret where name = 'unsubscribe'")
            .fetch_one(pool)
            .await?;
        Ok(Self(value))
    }

    fn mac(&self, method: Uuid, reason: ContactReason) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(method.as_bytes());
        mac.update(reason.as_str().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// The token for turning off `reason` on contact method `method`.
    pub fn token(&self, method: Uuid, reason: ContactReason) -> String {
        let mut raw = Vec::with_capacity(16 + 1 + MAC_LEN);
        raw.extend_from_slice(method.as_bytes());
        raw.push(reason_code(reason));
        raw.extend_from_slice(&self.mac(method, reason));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The contact method and reason a genuine token names; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if raw.len() != 16 + 1 + MAC_LEN {
            return None;
        }
        let method = Uuid::from_slice(&raw[..16]).ok()?;
        let reason = *ContactReason::ALL.get(usize::from(raw[16]))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(method.as_bytes());
        mac.update(reason.as_str().as_bytes());
        mac.verify_truncated_left(&raw[17..]).ok()?;
        Some((method, reason))
    }
}

fn reason_code(reason: ContactReason) -> u8 {
    ContactReason::ALL
        .iter()
        .position(|r| *r == reason)
        .map_or(0, |i| i as u8)
}

/// The address behind a token, partly hidden ("m•••@example.org"), for the confirmation page.
pub async fn describe(pool: &PgPool, method: Uuid) -> Result<Option<String>, sqlx::Error> {
    let email = sqlx::query_scalar!(
        "select email from contact_method where id = $1 and email is not null",
        method
    )
    .fetch_optional(pool)
    .await?
    .flatten();
    Ok(email.map(|e| mask(&e)))
}

/// What following an unsubscribe link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    /// The reason was on and is now off.
    TurnedOff,
    /// It was already off; nothing changed.
    AlreadyOff,
    /// The district requires it (Emergency on an emergency contact); nothing changed. Links are
    /// never made for Emergency, so only a token made before a district policy change gets here.
    Required,
    /// The contact method no longer exists.
    Gone,
}

/// Turns the reason off for the method, unless the district requires it.
pub async fn apply(
    pool: &PgPool,
    method: Uuid,
    reason: ContactReason,
) -> Result<Unsubscribed, sqlx::Error> {
    let method = ContactMethodId(method);
    if contact_preferences::required_on(pool, method, reason).await? {
        return Ok(Unsubscribed::Required);
    }
    Ok(
        match contact_preferences::write(pool, method, reason, false, &ChangedBy::UnsubscribeLink)
            .await?
        {
            None => Unsubscribed::Gone,
            Some(true) => Unsubscribed::TurnedOff,
            Some(false) => Unsubscribed::AlreadyOff,
        },
    )
}

/// Turns the reason back on, from the undo on the page that confirmed the unsubscribe. Returns
/// false when the method no longer exists.
pub async fn undo(pool: &PgPool, method: Uuid, reason: ContactReason) -> Result<bool, sqlx::Error> {
    Ok(contact_preferences::write(
        pool,
        ContactMethodId(method),
        reason,
        true,
        &ChangedBy::UnsubscribeUndo,
    )
    .await?
    .is_some())
}

fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UnsubscribeKey {
        UnsubscribeKey(vec![7; 32])
    }

    #[test]
    fn a_token_verifies_to_the_method_and_reason_it_was_made_for() {
        let m = Uuid::new_v4();
        for r in ContactReason::ALL {
            assert_eq!(key().verify(&key().token(m, r)), Some((m, r)));
        }
    }

    #[test]
    fn a_token_cannot_be_repointed_at_another_reason_or_key() {
        let m = Uuid::new_v4();
        let t = key().token(m, ContactReason::General);
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        raw[16] = reason_code(ContactReason::Attendance);
        assert_eq!(key().verify(&URL_SAFE_NO_PAD.encode(raw)), None);
        assert_eq!(UnsubscribeKey(vec![8; 32]).verify(&t), None);
        assert_eq!(key().verify("not-a-token"), None);
    }

    #[test]
    fn addresses_are_masked_on_the_confirmation_page() {
        assert_eq!(mask("maria@example.org"), "m•••@example.org");
    }
}
