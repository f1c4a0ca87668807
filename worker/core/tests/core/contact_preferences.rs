//! Contact preferences against a real PostgreSQL: every change is on record (who, when, old,
//! new), whatever path made it; a parent changes only their own and their household's methods;
//! Emergency stays on where the district requires it; text-message consent keeps its wording.

use herald_testing::district;

use herald_core::contact_preferences::{self, Change, ChangedBy, PreferenceError, Texts};
use herald_core::domain::{ContactMethodId, ContactReason, PersonId};
use sqlx::PgPool;

use district::district;

/// The demo parent, and a guardian of another household with a household phone.
async fn two_households(pool: &PgPool) -> (PersonId, PersonId) {
    district(pool, 40).await;
    let (parent, _, _) = herald_core::directory::person_by_email(pool, "parent@demo.herald.test")
        .await
        .unwrap()
        .expect("the demo parent");
    let other = sqlx::query_scalar!(
        r#"select p.id as "id: PersonId" from person p
           join contact_method cm on cm.household_id = p.household_id
           where p.kind = 'guardian'
             and p.household_id is distinct from (select household_id from person where id = $1)
           order by p.sourced_id limit 1"#,
        parent as PersonId
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (parent, other)
}

fn portal(email: &str) -> ChangedBy {
    ChangedBy::Portal(email.into())
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_parent_changes_their_own_and_household_methods_and_nobody_elses(pool: PgPool) {
    let (parent, other) = two_households(&pool).await;
    let theirs = contact_preferences::of_person(&pool, other).await.unwrap();
    let household_phone = theirs.iter().find(|m| m.household_phone).unwrap().id;
    let by = portal("parent@demo.herald.test");
    for method in theirs.iter().map(|m| m.id) {
        let r = contact_preferences::set(&pool, parent, method, ContactReason::General, false, &by)
            .await;
        assert!(matches!(r, Err(PreferenceError::NotYours)), "{r:?}");
        let r = contact_preferences::withdraw_texts(&pool, parent, method, &by).await;
        assert!(matches!(r, Err(PreferenceError::NotYours)), "{r:?}");
        let r =
            contact_preferences::consent_to_texts(&pool, parent, method, |_| "words".into(), &by)
                .await;
        assert!(matches!(r, Err(PreferenceError::NotYours)), "{r:?}");
    }
    let r = contact_preferences::set(
        &pool,
        parent,
        ContactMethodId(uuid::Uuid::new_v4()),
        ContactReason::General,
        false,
        &by,
    )
    .await;
    assert!(matches!(r, Err(PreferenceError::NotYours)));
    let written: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from contact_preference"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(written, 0, "nothing of theirs was written");

    // The other guardian changes their household phone; it is every household member's.
    let change = contact_preferences::set(
        &pool,
        other,
        household_phone,
        ContactReason::General,
        false,
        &portal("other@home.example"),
    )
    .await
    .unwrap();
    assert_eq!(
        change,
        Change {
            was: true,
            now: false
        }
    );
    let mine = contact_preferences::of_person(&pool, parent).await.unwrap();
    assert!(mine.iter().all(|m| m.id != household_phone));
    let general = |ms: &[contact_preferences::MethodPreferences]| {
        ms.iter()
            .find(|m| m.id == household_phone)
            .unwrap()
            .reasons
            .iter()
            .find(|r| r.reason == ContactReason::General)
            .unwrap()
            .enabled
    };
    assert!(!general(
        &contact_preferences::of_person(&pool, other).await.unwrap()
    ));
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn emergency_stays_on_for_an_emergency_contact_and_can_be_chosen_elsewhere(pool: PgPool) {
    let (parent, _) = two_households(&pool).await;
    let by = portal("parent@demo.herald.test");
    let mine = contact_preferences::of_person(&pool, parent).await.unwrap();
    let email = mine.iter().find(|m| m.email.is_some()).unwrap();
    let emergency = &email.reasons[0];
    assert_eq!(emergency.reason, ContactReason::Emergency);
    assert!(emergency.enabled && emergency.required);
    assert!(
        email
            .reasons
            .iter()
            .all(|r| r.reason != ContactReason::Staff),
        "a guardian is not offered Staff messages"
    );
    let r = contact_preferences::set(
        &pool,
        parent,
        email.id,
        ContactReason::Emergency,
        false,
        &by,
    )
    .await;
    assert!(
        matches!(r, Err(PreferenceError::EmergencyRequired)),
        "{r:?}"
    );

    // A method the district does not mark as an emergency contact: Emergency is off by default
    // (as fan-out treats it), and the parent may turn it on and off again.
    sqlx::query!(
        "update contact_method set emergency = false where id = $1",
        email.id as ContactMethodId
    )
    .execute(&pool)
    .await
    .unwrap();
    let shown = |ms: Vec<contact_preferences::MethodPreferences>| {
        let r = ms.into_iter().find(|m| m.id == email.id).unwrap().reasons[0].clone();
        (r.enabled, r.required)
    };
    assert_eq!(
        shown(contact_preferences::of_person(&pool, parent).await.unwrap()),
        (false, false)
    );
    for on in [true, false] {
        contact_preferences::set(&pool, parent, email.id, ContactReason::Emergency, on, &by)
            .await
            .unwrap();
        assert_eq!(
            shown(contact_preferences::of_person(&pool, parent).await.unwrap()),
            (on, false)
        );
    }
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_history_marks_an_admins_change_that_overrode_the_parents_choice(pool: PgPool) {
    let (parent, _) = two_households(&pool).await;
    let email = contact_preferences::of_person(&pool, parent).await.unwrap()[0].id;
    contact_preferences::set(
        &pool,
        parent,
        email,
        ContactReason::Attendance,
        false,
        &portal("parent@demo.herald.test"),
    )
    .await
    .unwrap();
    // As the Contact Preferences Batch will write it.
    contact_preferences::write(
        &pool,
        email,
        ContactReason::Attendance,
        true,
        &ChangedBy::Other("Contact Preferences Batch (principal@district.example)".into()),
    )
    .await
    .unwrap();
    let history = contact_preferences::history(&pool, parent, 10)
        .await
        .unwrap();
    let seen: Vec<(Option<bool>, Option<bool>, bool)> = history
        .iter()
        .map(|h| (h.old, h.new, h.overrode_owner))
        .collect();
    assert_eq!(
        seen,
        [(Some(false), Some(true), true), (None, Some(false), false)]
    );
    assert_eq!(
        history[1].by.describe(),
        "parent@demo.herald.test on the portal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_consent_keeps_the_words_agreed_to_and_only_one_is_in_force() {
    let db = herald_testing::db::TestDb::new().await;
    let pool = db.pool.clone();
    let (parent, _) = two_households(&pool).await;
    let by = portal("parent@demo.herald.test");
    let mine = contact_preferences::of_person(&pool, parent).await.unwrap();
    let email = mine.iter().find(|m| m.email.is_some()).unwrap();
    assert_eq!(email.texts, Texts::NotOffered);
    let r = contact_preferences::consent_to_texts(&pool, parent, email.id, |_| "words".into(), &by)
        .await;
    assert!(matches!(r, Err(PreferenceError::NotMobile)), "{r:?}");
    let cell = mine
        .iter()
        .find(|m| m.texts == Texts::Off)
        .expect("the demo parent has a cell phone")
        .id;

    // Two tabs agreeing at once: one consent in force.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (pool, by) = (pool.clone(), by.clone());
            tokio::spawn(async move {
                contact_preferences::consent_to_texts(
                    &pool,
                    parent,
                    cell,
                    |_| format!("words {i}"),
                    &by,
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let in_force: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from sms_consent where withdrawn_at is null"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(in_force, 1);
    let shown = contact_preferences::of_person(&pool, parent).await.unwrap();
    let Texts::On { wording, .. } = &shown.iter().find(|m| m.id == cell).unwrap().texts else {
        panic!("texts are on");
    };
    assert!(wording.starts_with("words "));

    contact_preferences::withdraw_texts(&pool, parent, cell, &by)
        .await
        .unwrap();
    contact_preferences::consent_to_texts(&pool, parent, cell, |_| "again".into(), &by)
        .await
        .unwrap();
    let consents = contact_preferences::consents(&pool, parent).await.unwrap();
    assert_eq!(consents.len(), 2);
    assert_eq!(consents[0].wording, "again");
    assert!(consents[0].withdrawn.is_none());
    assert_eq!(
        consents[1]
            .withdrawn
            .as_ref()
            .map(|(_, by)| by.describe())
            .as_deref(),
        Some("parent@demo.herald.test on the portal")
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn every_preference_change_is_recorded_with_old_new_and_who(pool: PgPool) {
    district(&pool, 20).await;
    let method = sqlx::query_scalar!(r#"select id as "id!" from contact_method limit 1"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    let set = |enabled: bool, by: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query!(
                "insert into contact_preference (contact_method_id, reason, enabled, updated_by)
                 values ($1, 'attendance', $2, $3)
                 on conflict (contact_method_id, reason)
                 do update set enabled = $2, updated_by = $3, updated_at = now()",
                method,
                enabled,
                by
            )
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    set(false, "parent@home.example").await;
    set(false, "parent@home.example").await;
    set(true, "Contact Preferences Batch (admin@district.example)").await;
    sqlx::query!(
        "delete from contact_preference where contact_method_id = $1",
        method
    )
    .execute(&pool)
    .await
    .unwrap();
    let history = sqlx::query!(
        "select old_enabled, new_enabled, changed_by from contact_preference_change
         where contact_method_id = $1 order by id",
        method
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let seen: Vec<(Option<bool>, Option<bool>, &str)> = history
        .iter()
        .map(|h| (h.old_enabled, h.new_enabled, h.changed_by.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (None, Some(false), "parent@home.example"),
            (
                Some(false),
                Some(true),
                "Contact Preferences Batch (admin@district.example)"
            ),
            (Some(true), None, "removed"),
        ],
        "a repeat that changes nothing is not recorded"
    );
    // The history is kept: a method that has one cannot be deleted (a re-import marks it
    // removed instead).
    set(false, "parent@home.example").await;
    let deleted = sqlx::query!("delete from contact_method where id = $1", method)
        .execute(&pool)
        .await;
    assert!(
        deleted.is_err(),
        "deleting a method with history is refused"
    );
    let kept = sqlx::query_scalar!(
        r#"select count(*) as "n!" from contact_preference_change where contact_method_id = $1"#,
        method
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(kept, 4);
}
