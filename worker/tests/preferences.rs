//! Contact preferences against a real PostgreSQL: every change is on record (who, when, old,
//! new), whatever path made it.

#[path = "support/district.rs"]
mod district;

use sqlx::PgPool;

use district::district;

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
    // Deleting the contact method takes its history with it, without errors.
    set(false, "parent@home.example").await;
    sqlx::query!("delete from contact_method where id = $1", method)
        .execute(&pool)
        .await
        .unwrap();
}
