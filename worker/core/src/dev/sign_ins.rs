//! The demo district's sign-ins: a district admin, the first guardian and the first teacher of
//! the generated roster, so `./herald.sh run` can print accounts to try.
//!
//! What must stay true: an existing account is left as it is (its password is not reset), and a
//! roster person missing from the import is skipped, never invented.

use secrecy::SecretString;
use sqlx::PgPool;

use crate::accounts::{AccountError, Role, create};
use crate::domain::EmailAddress;

/// A sign-in the demo district comes with.
#[derive(Debug, Clone)]
pub struct DemoSignIn {
    /// The email to sign in with.
    pub email: String,
    /// The demo password (fixed, printed by `./herald.sh run`).
    pub password: &'static str,
    /// Which shell the account opens: admin, teacher or parent portal.
    pub role: Role,
}

/// The demo district's sign-ins: the district admin, the first guardian and the first teacher
/// of the generated roster, found by their roster emails. Existing accounts are left as they are.
pub async fn ensure(pool: &PgPool) -> Result<Vec<DemoSignIn>, AccountError> {
    let mut wanted: Vec<(String, &'static str, Role)> = vec![
        (
            "admin@demo.herald.test".into(),
            "herald-admin",
            Role::DistrictAdmin,
        ),
        (
            "parent@demo.herald.test".into(),
            "herald-parent",
            Role::Parent,
        ),
    ];
    if let Some(teacher) = first_teacher_email(pool).await? {
        wanted.push((teacher, "herald-teacher", Role::Teacher));
    }
    let mut made = Vec::new();
    for (email, password, role) in wanted {
        let Ok(address) = EmailAddress::parse(&email) else {
            continue;
        };
        let person = crate::directory::person_by_email(pool, address.as_str()).await?;
        let (person_id, name) = match (&person, role) {
            (Some((id, _, name)), _) => (Some(*id), name.clone()),
            (None, Role::DistrictAdmin) => (None, "District Administrator".to_string()),
            (None, _) => continue,
        };
        let secret = SecretString::from(password.to_string());
        match create(pool, &address, &name, &secret, role, person_id).await {
            Ok(_) | Err(AccountError::EmailTaken(_)) => made.push(DemoSignIn {
                email: address.into_inner(),
                password,
                role,
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(made)
}

async fn first_teacher_email(pool: &PgPool) -> Result<Option<String>, AccountError> {
    Ok(sqlx::query_scalar!(
        r#"select cm.email as "email!"
           from person p
           join staff_assignment sa on sa.staff_id = p.id and sa.title = 'teacher'
           join contact_method cm on cm.person_id = p.id and cm.email is not null and cm.removed_at is null
           where p.active
           order by p.sourced_id
           limit 1"#
    )
    .fetch_optional(pool)
    .await?)
}
