//! Who a search finds, against a real PostgreSQL: the People page (`directory::search_people`) and
//! the Delivery Report both ask `people_matching`, which finds a person by part of a name in either
//! order, a student number, an email address or a phone number as people write it, and finds a
//! whole household by its household phone. A teacher's search, and the cards they open, reach only
//! the students of their sections and those students' guardians.

use herald_testing::district;

use herald_core::directory::{self, PeopleScope, PersonHit};
use herald_core::domain::{ContactReason, Device, PersonId};
use herald_core::messaging::delivery_report::{self, RecipientQuery};
use sqlx::PgPool;

use district::{district, fan_out_all, send};

async fn find(pool: &PgPool, query: &str) -> Vec<PersonId> {
    directory::search_people(pool, query, None, PeopleScope::District, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|h: PersonHit| h.id)
        .collect()
}

/// (given, family, identifier) of a student with a student number.
async fn a_student(pool: &PgPool) -> (PersonId, String, String, String) {
    let r = sqlx::query!(
        r#"select id as "id: PersonId", given_name, family_name, identifier as "identifier!"
           from person where kind = 'student' and identifier is not null
           order by sourced_id limit 1"#
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (r.id, r.given_name, r.family_name, r.identifier)
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_person_is_found_by_name_in_either_order_and_by_student_number(pool: PgPool) {
    district(&pool, 40).await;
    let (id, given, family, identifier) = a_student(&pool).await;
    for query in [
        format!("{given} {family}"),
        format!("{} {}", given.to_lowercase(), family.to_uppercase()),
        format!("{family}, {given}"),
        identifier.clone(),
    ] {
        assert!(find(&pool, &query).await.contains(&id), "{query:?}");
    }
    assert!(
        !find(&pool, &format!("{family} | {given}"))
            .await
            .contains(&id),
        "the separators between the parts of the search text are not searchable"
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn an_email_or_a_phone_number_as_people_write_it_finds_its_owner(pool: PgPool) {
    district(&pool, 40).await;
    let r = sqlx::query!(
        r#"select cm.person_id as "person!: PersonId", cm.phone as "phone!",
                  (select email from contact_method e where e.person_id = cm.person_id
                   and e.email is not null limit 1) as "email!"
           from contact_method cm
           where cm.person_id is not null and cm.phone like '+1%'
             and exists (select 1 from contact_method e where e.person_id = cm.person_id
                         and e.email is not null)
           order by cm.phone limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // +1 NPA NXX XXXX as a parent would say it: (NPA) NXX-XXXX.
    let d = &r.phone[2..];
    let written = format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]);
    assert!(find(&pool, &written).await.contains(&r.person), "{written}");
    assert!(find(&pool, &r.phone).await.contains(&r.person));
    assert!(
        find(&pool, &r.email.to_uppercase())
            .await
            .contains(&r.person)
    );
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_household_phone_finds_everyone_in_the_household_and_no_one_else(pool: PgPool) {
    district(&pool, 40).await;
    let r = sqlx::query!(
        r#"select cm.phone as "phone!",
                  array(select id from person p where p.household_id = cm.household_id
                        order by id) as "members!: Vec<PersonId>"
           from contact_method cm where cm.household_id is not null
           order by cm.phone limit 1"#
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        r.members.len() >= 2,
        "a household of a guardian and a student"
    );
    let mut found = find(&pool, &r.phone).await;
    found.sort();
    // Others may carry the same number on a contact method of their own; the household is found
    // whole either way.
    assert!(r.members.iter().all(|m| found.contains(m)));
    let owners: Vec<PersonId> = sqlx::query_scalar!(
        r#"select p.id as "id!: PersonId" from person p
           where p.household_id in (select household_id from contact_method where phone = $1)
              or p.id in (select person_id from contact_method where phone = $1)
           order by 1"#,
        r.phone
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(found, owners);
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn the_delivery_report_finds_an_inbox_recipient_by_their_email_address(pool: PgPool) {
    let d = district(&pool, 40).await;
    let id = send(
        &pool,
        &d,
        ContactReason::General,
        &[Device::Email, Device::Inbox],
    )
    .await;
    fan_out_all(&pool).await;
    let (person, email): (PersonId, String) = sqlx::query_as(
        "select person_id, target from delivery_job
         where message_id = $1 and device = 'email' order by id limit 1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    // An inbox job's target is no address; the person is found by their email all the same.
    let by_email = RecipientQuery {
        device: Device::Inbox,
        status: None,
        search: Some(email.to_uppercase()),
    };
    let hits = delivery_report::recipients(&pool, id, &by_email, None, 50)
        .await
        .unwrap();
    let persons: Vec<PersonId> =
        sqlx::query_scalar("select person_id from delivery_job where id = any($1)")
            .bind(hits.iter().map(|h| h.job.0).collect::<Vec<_>>())
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(persons.contains(&person), "{email} finds the inbox row");
    assert!(
        persons.len() < 5,
        "an address finds its owner (and anyone sharing it), not the audience: {persons:?}"
    );
}

/// A teacher, one student of theirs with a guardian who also has a student the teacher does not
/// teach, and a student of another teacher's with their guardian.
struct Classroom {
    teacher: PersonId,
    student: PersonId,
    guardian: PersonId,
    guardians_other_child: PersonId,
    stranger: PersonId,
    strangers_guardian: PersonId,
}

async fn classroom(pool: &PgPool) -> Classroom {
    let r = sqlx::query!(
        r#"with taught as (
               select t.person_id as teacher, s.person_id as student
               from section_member t
               join section_member s on s.section_id = t.section_id and s.role = 'student'
               where t.role = 'teacher')
           select t.teacher as "teacher!: PersonId", t.student as "student!: PersonId",
                  g.guardian_id as "guardian!: PersonId", o.student_id as "other!: PersonId"
           from taught t
           join guardian_student g on g.student_id = t.student
           join guardian_student o on o.guardian_id = g.guardian_id and o.student_id <> t.student
           where not exists (select 1 from taught x where x.teacher = t.teacher and x.student = o.student_id)
           order by t.teacher, t.student limit 1"#
    )
    .fetch_one(pool)
    .await
    .expect("the demo district has a guardian with one child in a teacher's section and one not");
    let s = sqlx::query!(
        r#"select gs.student_id as "student!: PersonId", gs.guardian_id as "guardian!: PersonId"
           from guardian_student gs
           where not exists (
               select 1 from section_member t join section_member s using (section_id)
               where t.person_id = $1 and t.role = 'teacher'
                 and s.person_id in (select student_id from guardian_student
                                     where guardian_id = gs.guardian_id))
           order by gs.student_id limit 1"#,
        r.teacher as PersonId
    )
    .fetch_one(pool)
    .await
    .unwrap();
    Classroom {
        teacher: r.teacher,
        student: r.student,
        guardian: r.guardian,
        guardians_other_child: r.other,
        stranger: s.student,
        strangers_guardian: s.guardian,
    }
}

async fn name_of(pool: &PgPool, id: PersonId) -> String {
    sqlx::query_scalar!(
        r#"select given_name || ' ' || family_name as "n!" from person where id = $1"#,
        id as PersonId
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn find_in(pool: &PgPool, query: &str, scope: PeopleScope) -> Vec<PersonId> {
    directory::search_people(pool, query, None, scope, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_teacher_finds_only_the_students_of_their_sections_and_those_students_guardians(
    pool: PgPool,
) {
    district(&pool, 120).await;
    let c = classroom(&pool).await;
    let theirs = PeopleScope::TaughtBy(c.teacher);
    for (person, visible) in [
        (c.student, true),
        (c.guardian, true),
        (c.guardians_other_child, false),
        (c.stranger, false),
        (c.strangers_guardian, false),
    ] {
        let name = name_of(&pool, person).await;
        assert_eq!(
            find_in(&pool, &name, theirs).await.contains(&person),
            visible,
            "the teacher's search for {name}"
        );
        assert!(
            find_in(&pool, &name, PeopleScope::District)
                .await
                .contains(&person),
            "an admin's search finds {name}"
        );
        assert_eq!(
            directory::person_detail(&pool, person, theirs)
                .await
                .unwrap()
                .is_some(),
            visible,
            "the teacher opens {name}"
        );
        assert_eq!(
            directory::in_scope(&pool, person, theirs).await.unwrap(),
            visible,
            "{name} is in the teacher's scope"
        );
    }
}

#[sqlx::test(migrator = "herald_core::db::MIGRATOR")]
async fn a_teacher_sees_on_a_guardians_card_only_the_children_they_teach(pool: PgPool) {
    district(&pool, 120).await;
    let c = classroom(&pool).await;
    let card = |scope| directory::person_detail(&pool, c.guardian, scope);
    let listed = |d: directory::PersonDetail| {
        let mut ids: Vec<PersonId> = d.relations.iter().map(|r| r.id).collect();
        ids.extend(d.household_members.iter().map(|m| m.id));
        ids
    };
    let admins = listed(card(PeopleScope::District).await.unwrap().unwrap());
    assert!(admins.contains(&c.student) && admins.contains(&c.guardians_other_child));
    let teachers = listed(
        card(PeopleScope::TaughtBy(c.teacher))
            .await
            .unwrap()
            .unwrap(),
    );
    assert!(teachers.contains(&c.student), "{teachers:?}");
    assert!(
        !teachers.contains(&c.guardians_other_child),
        "a child the teacher does not teach is not listed: {teachers:?}"
    );
}
