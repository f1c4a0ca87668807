//! Access follows the roster, against a real PostgreSQL and real imports: a person a re-import
//! makes inactive, or a guardian it leaves linked to no student, is signed out when the import
//! commits and cannot sign in again; an account an admin disables is signed out at once and can
//! sign in again once enabled.

use std::path::Path;

use herald_core::accounts::{self, AccountError, Bar, Role, SessionToken};
use herald_core::config::AuthConfig;
use herald_core::dev::district::{self, DemoOptions};
use herald_core::domain::{EmailAddress, PersonId};
use herald_core::oneroster;
use secrecy::SecretString;
use sqlx::PgPool;

fn settings() -> AuthConfig {
    // The limits the tests count against; the rest as herald.toml has them.
    AuthConfig {
        max_failures: 10,
        max_failures_per_address: 100,
        max_failures_per_account: 100,
        ..herald_core::config::Config::load_from(|_| None)
            .expect("default settings load")
            .auth
    }
}

async fn import(pool: &PgPool, dir: &Path) {
    oneroster::import_path(pool, dir, &|_| {})
        .await
        .expect("the district imports");
}

/// Rewrites users.csv: `edit` gets the rows (header first).
fn edit_users(dir: &Path, edit: impl FnOnce(&mut Vec<Vec<String>>)) {
    crate::roster_import::edit_csv(dir, "users.csv", edit);
}

/// A small generated district, imported; its files stay in the returned folder.
async fn imported(pool: &PgPool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    district::generate(
        &DemoOptions {
            seed: 11,
            schools: 1,
            students: 30,
        },
        dir.path(),
    )
    .unwrap();
    import(pool, dir.path()).await;
    dir
}

/// An account for the person with `sourced_id`, signed in: its email and session.
async fn signed_in(pool: &PgPool, sourced_id: &str, role: Role) -> (String, SessionToken) {
    let person = sqlx::query_scalar!(
        r#"select id as "id: PersonId" from person where sourced_id = $1"#,
        sourced_id
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let email = format!("{sourced_id}@accounts.example");
    accounts::create(
        pool,
        &EmailAddress::parse(&email).unwrap(),
        sourced_id,
        &SecretString::from("pw".to_string()),
        role,
        Some(person),
    )
    .await
    .unwrap();
    let (_, token) = sign_in(pool, &email).await.unwrap();
    (email, token)
}

async fn sign_in(
    pool: &PgPool,
    email: &str,
) -> Result<(accounts::Account, SessionToken), AccountError> {
    accounts::sign_in(
        pool,
        &settings(),
        email,
        &SecretString::from("pw".to_string()),
        herald_testing::HOME,
    )
    .await
}

async fn sessions(pool: &PgPool, email: &str) -> i64 {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from auth_session s join account a on a.id = s.account_id
           where a.email = $1"#,
        email
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_reimport_that_deactivates_a_teacher_or_unlinks_a_guardian_signs_them_out_for_good(
    pool: PgPool,
) {
    let dir = imported(&pool).await;
    let (teacher, teacher_session) = signed_in(&pool, "tch-00001", Role::Teacher).await;
    let (parent, parent_session) = signed_in(&pool, "gdn-000001", Role::Parent).await;
    let (other, other_session) = signed_in(&pool, "gdn-000002", Role::Parent).await;

    edit_users(dir.path(), |rows| {
        let enabled = crate::roster_import::column(rows, "enabledUser");
        let agents = crate::roster_import::column(rows, "agentSourcedIds");
        for r in rows.iter_mut().skip(1) {
            if r[0] == "tch-00001" {
                r[enabled] = "false".into();
            }
            let kept: Vec<&str> = r[agents]
                .split(',')
                .filter(|a| *a != "gdn-000001")
                .collect();
            r[agents] = kept.join(",");
            if r[0] == "gdn-000001" {
                r[agents] = String::new();
            }
        }
    });
    import(&pool, dir.path()).await;

    for (email, token, bar) in [
        (&teacher, &teacher_session, Bar::Inactive),
        (&parent, &parent_session, Bar::Unlinked),
    ] {
        assert!(
            accounts::session_account(&pool, token)
                .await
                .unwrap()
                .is_none(),
            "{email}'s session no longer counts"
        );
        assert_eq!(
            sessions(&pool, email).await,
            0,
            "{email}'s sessions are gone"
        );
        match sign_in(&pool, email).await {
            Err(AccountError::Barred(b)) => assert_eq!(b, bar, "{email}"),
            other => panic!("{email} signed in: {other:?}"),
        }
        assert_eq!(sessions(&pool, email).await, 0, "{email} got no session");
    }
    assert!(
        accounts::session_account(&pool, &other_session)
            .await
            .unwrap()
            .is_some(),
        "{other}, still linked, stays signed in"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_disabled_account_is_signed_out_at_once_and_signs_in_again_once_enabled(pool: PgPool) {
    let email = EmailAddress::parse("second@district.example").unwrap();
    let account = accounts::create(
        &pool,
        &email,
        "Second Admin",
        &SecretString::from("pw".to_string()),
        Role::DistrictAdmin,
        None,
    )
    .await
    .unwrap();
    let (_, token) = sign_in(&pool, email.as_str()).await.unwrap();
    assert!(
        accounts::set_disabled(&pool, account, true, None)
            .await
            .unwrap()
    );
    assert!(
        accounts::session_account(&pool, &token)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(sessions(&pool, email.as_str()).await, 0);
    assert!(matches!(
        sign_in(&pool, email.as_str()).await,
        Err(AccountError::Barred(Bar::Disabled))
    ));
    assert!(
        accounts::set_disabled(&pool, account, false, None)
            .await
            .unwrap()
    );
    let (_, token) = sign_in(&pool, email.as_str()).await.unwrap();
    assert!(
        accounts::session_account(&pool, &token)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !accounts::set_disabled(
            &pool,
            herald_core::domain::AccountId(uuid::Uuid::nil()),
            true,
            None
        )
        .await
        .unwrap(),
        "no such account"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_session_stops_counting_the_moment_its_account_is_barred_even_before_it_is_ended(
    pool: PgPool,
) {
    // A sign-in that commits just after an import ended the barred sessions leaves a session
    // row behind: the lookup itself must refuse it.
    let _dir = imported(&pool).await;
    let (teacher, token) = signed_in(&pool, "tch-00001", Role::Teacher).await;
    assert!(
        accounts::session_account(&pool, &token)
            .await
            .unwrap()
            .is_some()
    );
    sqlx::query!("update person set active = false where sourced_id = 'tch-00001'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(sessions(&pool, &teacher).await, 1, "the row is still there");
    assert!(
        accounts::session_account(&pool, &token)
            .await
            .unwrap()
            .is_none(),
        "but it no longer signs anyone in"
    );
}
