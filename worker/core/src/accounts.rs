//! Sign-in accounts: argon2id password hashes, server-side sessions and the failed-attempt
//! throttle. Owns the `account`, `auth_session` and `sign_in_failure` tables.
//!
//! What must stay true:
//! - a password is only ever stored as an argon2id PHC string;
//! - the session cookie carries a random token whose SHA-256 alone is stored, so reading the
//!   database does not yield a usable cookie;
//! - the throttle is checked and the attempt counted in one locked step *before* the password is
//!   checked, whether or not an account exists for the email (no account probing), and refuses:
//!   an email after `max_failures` failures from one address; an address after
//!   `max_failures_per_address` failures for any emails (spraying); an email after
//!   `max_failures_per_account` failures from anywhere, except from an address that signed in to
//!   it within `known_address_days` (so guessing from elsewhere cannot lock its owner out);
//! - an unknown email costs the same argon2 work as a wrong password;
//! - access follows the roster: an account the SQL function `account_bar` bars (disabled by an
//!   admin, its person inactive, a parent linked to no student) cannot sign in and none of its
//!   sessions count; disabling one, or an import that bars one, also deletes its sessions.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::net::IpAddr;

use crate::config::AuthConfig;
use crate::domain::{AccountId, CalendarId, EmailAddress, PersonId};

/// What an account may do. Mirrors the Postgres enum `account_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "account_role", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the district: composes and sends messages, imports rosters, sets preferences.
    DistrictAdmin,
    /// Staff who sign in to the admin shell for their own sections.
    Teacher,
    /// A guardian who signs in to the parent portal; linked to their `person` row.
    Parent,
}

/// Why an account may not sign in. Mirrors the Postgres enum `account_bar`, which the SQL function
/// of that name computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "account_bar", rename_all = "snake_case")]
pub enum Bar {
    /// An admin disabled the account.
    Disabled,
    /// The person the account belongs to is inactive in the roster.
    Inactive,
    /// A parent account whose guardian is linked to no student any more.
    Unlinked,
}

impl Bar {
    /// Why, as the People page says it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Disabled => "Disabled by an admin",
            Self::Inactive => "Cannot sign in: inactive in the roster",
            Self::Unlinked => "Cannot sign in: linked to no student in the roster",
        }
    }
}

/// A signed-in account as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's primary key.
    pub id: AccountId,
    /// The sign-in email, stored trimmed and lowercased.
    pub email: String,
    /// The name the pages greet the account with.
    pub display_name: String,
    /// What the account may do.
    pub role: Role,
    /// The roster person this account belongs to (a parent's guardian record); `None` for accounts
    /// not tied to the roster.
    pub person_id: Option<PersonId>,
}

/// An account together with its session's state.
#[derive(Debug, Clone)]
pub struct SessionAccount {
    /// The signed-in account.
    pub account: Account,
    /// The calendar chosen in the Campus Toolbar for this session; `None` until one is picked.
    pub calendar_id: Option<CalendarId>,
}

/// The random value in a session cookie. Never serialised, redacted in `Debug`.
pub struct SessionToken(SecretString);

impl SessionToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(SecretString::from(hex::encode(bytes)))
    }

    /// Wraps the value read from a cookie.
    pub fn from_cookie(value: &str) -> Self {
        Self(SecretString::from(value.to_string()))
    }

    /// The value to put in the cookie.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.expose_secret().as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The email is unknown or the password does not match it (deliberately not told apart).
    #[error("the email or password is not right")]
    InvalidCredentials,
    /// Every password check was taken for longer than `auth.password_check_wait_ms`.
    #[error("too many sign-ins at once; no password check came free in time")]
    Busy,
    /// The password was right, and something bars the account from signing in.
    #[error("this account may not sign in ({0:?})")]
    Barred(Bar),
    /// One of the throttle's limits is reached (see the module's rules).
    #[error("too many failed sign-ins; try again in {minutes} minutes")]
    Throttled {
        /// The throttle window in minutes (`failure_window_minutes`), shown as the wait.
        minutes: i64,
    },
    /// Another account already uses this email (the value is that email).
    #[error("an account with email {0} already exists")]
    EmailTaken(String),
    /// argon2 could not hash the password.
    #[error("could not hash the password")]
    Hash(#[source] argon2::password_hash::Error),
    /// The blocking task that hashes or verifies the password panicked or was cancelled.
    #[error("the password hashing task failed")]
    Join(#[source] tokio::task::JoinError),
    /// A database statement failed.
    #[error("database error")]
    Db(#[from] sqlx::Error),
}

/// Hashes a password with argon2id and a fresh random salt.
pub fn hash_password(password: &SecretString) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AccountError::Hash)
}

/// Checks a password against a PHC string; a malformed stored hash never verifies.
fn verify_password(password: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid hash of a password nobody knows, verified when the email is unknown so that both
/// paths cost the same.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Q0+2ZF9sN5sVv1l1W4oTbKxw2h5I8u3ZJ7Qk6dtc0Ew";

/// Creates an account; the email must not be taken.
pub async fn create(
    pool: &PgPool,
    email: &EmailAddress,
    display_name: &str,
    password: &SecretString,
    role: Role,
    person_id: Option<PersonId>,
) -> Result<AccountId, AccountError> {
    let password = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(AccountError::Join)??;
    insert_account(pool, email, display_name, &hash, role, person_id).await
}

/// Checks the throttle and the password of a sign-in from the client address `from`, and opens
/// a session.
pub async fn sign_in(
    pool: &PgPool,
    settings: &AuthConfig,
    email: &str,
    password: &SecretString,
    from: IpAddr,
) -> Result<(Account, SessionToken), AccountError> {
    let email = email.trim().to_lowercase();
    let from = throttled_as(from);
    // The attempt is counted before the password is checked, in one locked step per email and
    // address, so parallel guesses cannot all slip in under the limits; a success clears the
    // email's count.
    if !reserve_attempt(pool, settings, &email, from).await? {
        return Err(AccountError::Throttled {
            minutes: settings.failure_window_minutes,
        });
    }
    let found = account_with_hash(pool, &email).await?;
    let phc = found
        .as_ref()
        .map_or_else(|| DECOY_HASH.to_string(), |(_, h)| h.clone());
    let candidate = password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&candidate, &phc))
        .await
        .map_err(AccountError::Join)?;
    match found {
        Some((account, _)) if ok => {
            if let Some(bar) = bar_of(pool, account.id).await? {
                // Still counted as a failure: a barred account is not a way around the throttle.
                return Err(AccountError::Barred(bar));
            }
            clear_failures(pool, &email).await?;
            remember_address(pool, &email, from).await?;
            let token = SessionToken::generate();
            let expires = Utc::now() + Duration::hours(settings.session_hours);
            insert_session(pool, &token, account.id, expires).await?;
            Ok((account, token))
        }
        // The failure was recorded when the attempt was reserved.
        _ => Err(AccountError::InvalidCredentials),
    }
}

/// The account behind a session cookie, if the session exists, has not expired, and nothing bars
/// its account.
pub async fn session_account(
    pool: &PgPool,
    token: &SessionToken,
) -> Result<Option<SessionAccount>, AccountError> {
    let row = sqlx::query!(
        r#"select a.id as "id: AccountId", a.email, a.display_name, a.role as "role: Role",
                  a.person_id as "person_id: PersonId", s.calendar_id as "calendar_id: CalendarId"
           from auth_session s join account a on a.id = s.account_id
           where s.token_hash = $1 and s.expires_at > now() and account_bar(a.id) is null"#,
        token.hash()
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| SessionAccount {
        account: Account {
            id: r.id,
            email: r.email,
            display_name: r.display_name,
            role: r.role,
            person_id: r.person_id,
        },
        calendar_id: r.calendar_id,
    }))
}

/// Ends a session; signing out twice is harmless.
pub async fn sign_out(pool: &PgPool, token: &SessionToken) -> Result<(), AccountError> {
    sqlx::query!(
        "delete from auth_session where token_hash = $1",
        token.hash()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Why `account` may not sign in, or `None` when it may.
async fn bar_of(pool: &PgPool, account: AccountId) -> Result<Option<Bar>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select account_bar($1) as "bar: Bar""#,
        account as AccountId
    )
    .fetch_one(pool)
    .await
}

/// Deletes the sessions of every account something now bars: what a roster import does in its
/// own transaction, so a person it makes inactive is signed out when it commits.
pub async fn end_barred_sessions(conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query!("delete from auth_session where account_bar(account_id) is not null")
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Disables an account (deleting its sessions) or enables it again; `by` is the admin doing it.
/// `false` when there is no such account. Disabling a disabled account keeps who did it first.
pub async fn set_disabled(
    pool: &PgPool,
    account: AccountId,
    disabled: bool,
    by: Option<AccountId>,
) -> Result<bool, AccountError> {
    let mut tx = pool.begin().await?;
    let found = sqlx::query!(
        "update account
         set disabled_at = case when $2 then coalesce(disabled_at, now()) end,
             disabled_by = case when $2 then
                               case when disabled_at is null then $3 else disabled_by end
                           end
         where id = $1",
        account as AccountId,
        disabled,
        by as Option<AccountId>
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if found && disabled {
        sqlx::query!(
            "delete from auth_session where account_id = $1",
            account as AccountId
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

/// The account that signs in with `email`, if any.
pub async fn id_by_email(
    pool: &PgPool,
    email: &EmailAddress,
) -> Result<Option<AccountId>, AccountError> {
    Ok(sqlx::query_scalar!(
        r#"select id as "id: AccountId" from account where email = $1"#,
        email.as_str()
    )
    .fetch_optional(pool)
    .await?)
}

/// A person's sign-in account as the People page shows it.
#[derive(Debug, Clone)]
pub struct AccountAccess {
    /// The account's primary key.
    pub id: AccountId,
    /// The sign-in email.
    pub email: String,
    /// What the account may do.
    pub role: Role,
    /// What bars it from signing in, if anything.
    pub bar: Option<Bar>,
    /// When an admin disabled it, and who (while disabled).
    pub disabled: Option<(DateTime<Utc>, Option<String>)>,
}

/// The sign-in accounts that belong to `person`.
pub async fn of_person(
    pool: &PgPool,
    person: PersonId,
) -> Result<Vec<AccountAccess>, AccountError> {
    let rows = sqlx::query!(
        r#"select a.id as "id: AccountId", a.email, a.role as "role: Role",
                  account_bar(a.id) as "bar: Bar", a.disabled_at, b.display_name as "by?"
           from account a left join account b on b.id = a.disabled_by
           where a.person_id = $1
           order by a.email"#,
        person as PersonId
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AccountAccess {
            id: r.id,
            email: r.email,
            role: r.role,
            bar: r.bar,
            disabled: r.disabled_at.map(|at| (at, r.by)),
        })
        .collect())
}

/// Records the calendar chosen in the Campus Toolbar for this session.
pub async fn set_session_calendar(
    pool: &PgPool,
    token: &SessionToken,
    calendar_id: CalendarId,
) -> Result<(), AccountError> {
    sqlx::query!(
        "update auth_session set calendar_id = $2 where token_hash = $1",
        token.hash(),
        calendar_id as CalendarId
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes expired sessions, failures older than the throttle window and sign-in addresses
/// older than `known_address_days`.
pub async fn purge_expired(pool: &PgPool, settings: &AuthConfig) -> Result<u64, AccountError> {
    let sessions = sqlx::query!("delete from auth_session where expires_at <= now()")
        .execute(pool)
        .await?
        .rows_affected();
    let cutoff = Utc::now() - Duration::minutes(settings.failure_window_minutes);
    sqlx::query!("delete from sign_in_failure where failed_at < $1", cutoff)
        .execute(pool)
        .await?;
    let known_cutoff = Utc::now() - Duration::days(settings.known_address_days);
    sqlx::query!(
        "delete from sign_in_known_address where signed_in_at < $1",
        known_cutoff
    )
    .execute(pool)
    .await?;
    Ok(sessions)
}

async fn insert_account(
    pool: &PgPool,
    email: &EmailAddress,
    display_name: &str,
    hash: &str,
    role: Role,
    person_id: Option<PersonId>,
) -> Result<AccountId, AccountError> {
    sqlx::query_scalar!(
        r#"insert into account (email, display_name, password_hash, role, person_id)
           values ($1, $2, $3, $4, $5)
           on conflict (email) do nothing
           returning id as "id: AccountId""#,
        email.as_str(),
        display_name,
        hash,
        role as Role,
        person_id as Option<PersonId>
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| AccountError::EmailTaken(email.to_string()))
}

async fn account_with_hash(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(Account, String)>, AccountError> {
    let row = sqlx::query!(
        r#"select id as "id: AccountId", email, display_name, role as "role: Role",
                  person_id as "person_id: PersonId", password_hash
           from account where email = $1"#,
        email
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        (
            Account {
                id: r.id,
                email: r.email,
                display_name: r.display_name,
                role: r.role,
                person_id: r.person_id,
            },
            r.password_hash,
        )
    }))
}

async fn insert_session(
    pool: &PgPool,
    token: &SessionToken,
    account_id: AccountId,
    expires_at: DateTime<Utc>,
) -> Result<(), AccountError> {
    sqlx::query!(
        "insert into auth_session (token_hash, account_id, expires_at) values ($1, $2, $3)",
        token.hash(),
        account_id as AccountId,
        expires_at
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Bounds how many password checks (argon2id, 19 MiB each) one process runs at once, so a flood
/// of sign-ins costs waiting, not memory.
#[derive(Clone, Debug)]
pub struct PasswordChecks {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl PasswordChecks {
    /// `auth.concurrent_password_checks` checks at once, each waited for up to
    /// `auth.password_check_wait_ms`.
    pub fn new(settings: &AuthConfig) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(
                settings.concurrent_password_checks.max(1),
            )),
            wait: std::time::Duration::from_millis(settings.password_check_wait_ms),
        }
    }

    /// A turn to check a password, held until dropped; [`AccountError::Busy`] when none comes
    /// free in time.
    pub async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AccountError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AccountError::Busy),
        }
    }
}

/// The address a sign-in from `from` is throttled and remembered under: an IPv4 address (also
/// one written as IPv6) as it is, an IPv6 address by its /64, the block one household or phone
/// is given, so that rotating through it does not make a stranger many.
fn throttled_as(from: IpAddr) -> IpAddr {
    match from {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

/// Counts a sign-in attempt for `email` from `from` unless one of the throttle's limits is
/// reached: `false` when it is. Attempts for one email, and for one address, are serialised by
/// transaction-scoped advisory locks (always the email's first, so two attempts never wait on
/// each other in a cycle), so the counts and the insert are one step.
async fn reserve_attempt(
    pool: &PgPool,
    settings: &AuthConfig,
    email: &str,
    from: IpAddr,
) -> Result<bool, AccountError> {
    let since = Utc::now() - Duration::minutes(settings.failure_window_minutes);
    let known_since = Utc::now() - Duration::days(settings.known_address_days);
    let from = from.to_string();
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!(
        r#"select 1 as "locked!"
           from pg_advisory_xact_lock(hashtext('sign_in:' || $1)) as by_email,
                pg_advisory_xact_lock(hashtext('sign_in_from:' || $2::text)) as by_address"#,
        email,
        from
    )
    .fetch_one(&mut *tx)
    .await?;
    let recent = sqlx::query!(
        r#"select count(*) filter (where email = $1 and address = $2::text::inet) as "pair!",
                  count(*) filter (where address = $2::text::inet) as "address!",
                  count(*) filter (where email = $1) as "account!",
                  exists (select 1 from sign_in_known_address k
                          where k.email = $1 and k.address = $2::text::inet
                            and k.signed_in_at > $4) as "known!"
           from sign_in_failure
           where failed_at > $3 and (email = $1 or address = $2::text::inet)"#,
        email,
        from,
        since,
        known_since
    )
    .fetch_one(&mut *tx)
    .await?;
    let throttled = recent.pair >= settings.max_failures
        || recent.address >= settings.max_failures_per_address
        || (recent.account >= settings.max_failures_per_account && !recent.known);
    if throttled {
        tx.commit().await?;
        return Ok(false);
    }
    sqlx::query!(
        "insert into sign_in_failure (email, address) values ($1, $2::text::inet)",
        email,
        from
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

async fn clear_failures(pool: &PgPool, email: &str) -> Result<(), AccountError> {
    sqlx::query!("delete from sign_in_failure where email = $1", email)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records that `email` signed in from `from` just now.
async fn remember_address(pool: &PgPool, email: &str, from: IpAddr) -> Result<(), AccountError> {
    sqlx::query!(
        "insert into sign_in_known_address (email, address) values ($1, $2::text::inet)
         on conflict (email, address) do update set signed_in_at = now()",
        email,
        from.to_string()
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_throttled_by_its_64_block_and_ipv4_as_it_is() {
        let at = |a: &str| throttled_as(a.parse().unwrap()).to_string();
        assert_eq!(at("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(at("2001:db8:1:2::1"), at("2001:db8:1:2:ffff::9"));
        assert_ne!(at("2001:db8:1:2::1"), at("2001:db8:1:3::1"));
        assert_eq!(at("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(at("203.0.113.9"), "203.0.113.9");
    }

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let pw = SecretString::from("correct horse".to_string());
        let phc = hash_password(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(&pw, &phc));
        assert!(!verify_password(
            &SecretString::from("wrong".to_string()),
            &phc
        ));
    }

    #[test]
    fn the_decoy_hash_is_well_formed_so_unknown_emails_cost_a_full_verification() {
        let decoy = PasswordHash::new(DECOY_HASH).unwrap();
        // The same algorithm, version and cost parameters as every real hash.
        let real_phc = hash_password(&SecretString::from("x".to_string())).unwrap();
        let real = PasswordHash::new(&real_phc).unwrap();
        assert_eq!(decoy.algorithm, real.algorithm);
        assert_eq!(decoy.version, real.version);
        assert_eq!(
            decoy.params.to_string(),
            real.params.to_string(),
            "m, t and p"
        );
        assert_eq!(
            decoy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "output length"
        );
    }

    #[tokio::test]
    async fn a_password_check_waits_for_a_free_turn_and_is_busy_without_one() {
        let settings = crate::config::Config::load_from(|_| None).unwrap().auth;
        let checks = PasswordChecks::new(&AuthConfig {
            concurrent_password_checks: 1,
            password_check_wait_ms: 0,
            ..settings
        });
        let first = checks.admit().await.expect("a free turn");
        assert!(matches!(checks.admit().await, Err(AccountError::Busy)));
        drop(first);
        assert!(
            checks.admit().await.is_ok(),
            "free again once the first ends"
        );
    }

    #[test]
    fn session_tokens_do_not_show_in_debug_output() {
        let t = SessionToken::generate();
        assert_eq!(t.expose().len(), 64);
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
