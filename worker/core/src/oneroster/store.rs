//! Writing a checked [`Roster`] in one transaction, set-based, grouped by table.
//!
//! Each statement binds whole columns as arrays and `unnest`s them, so a table of 100,000 rows is
//! a handful of round trips. Upserts compare before they write (`where … is distinct from …`),
//! which is what makes a re-import change nothing; `returning (xmax = 0)` tells inserted rows from
//! updated ones for the summary. References are resolved by joining on `sourced_id`.
//!
//! What must stay true: every statement runs inside the one transaction [`write`] opens, so a
//! failure at any table leaves the database as it was.

use chrono::NaiveDate;
use sqlx::{PgConnection, PgPool};

use super::check::{
    CalendarRow, EnrollmentRow, HouseholdRow, LinkRow, MemberRow, MethodRow, PersonRow, Roster,
    StaffAssignmentRow,
};
use super::parse::{Class, Course, LineItem, Org, ResultRow, Session};
use super::{ImportError, ImportSummary, Progress, TableCount, report};

/// A boxed upsert future, so the chunked tables can share one loop.
type Fut<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Upserted, sqlx::Error>> + Send + 'a>>;

/// Rows per statement for the large tables.
const CHUNK: usize = 50_000;

/// What one upsert statement did.
#[derive(Debug, Default, Clone, Copy)]
struct Upserted {
    inserted: i64,
    updated: i64,
}

/// Writes the roster and returns what changed, table by table.
pub async fn write(
    pool: &PgPool,
    roster: &Roster,
    progress: Progress<'_>,
) -> Result<ImportSummary, ImportError> {
    let mut tx = pool.begin().await?;
    // An import is long by design; the web pool's per-statement deadline is for requests.
    crate::db::no_statement_timeout(&mut tx).await?;
    let total = roster.people.len()
        + roster.methods.len()
        + roster.links.len()
        + roster.enrollments.len()
        + roster.members.len()
        + roster.line_items.len()
        + roster.results.len()
        + 1;
    let mut w = Writer {
        conn: &mut tx,
        summary: ImportSummary::default(),
        progress,
        done: 0,
        total,
    };

    if let Some(d) = &roster.district {
        let n = district::upsert(w.conn, d).await?;
        w.count("district", 1, n, 0);
        let n = school::upsert(w.conn, &roster.schools, &d.sourced_id).await?;
        w.count("school", roster.schools.len(), n, 0);
    }
    let n = academic_session::upsert(w.conn, &roster.sessions).await?;
    academic_session::link_parents(w.conn, &roster.sessions).await?;
    w.count("academic_session", roster.sessions.len(), n, 0);
    let n = calendar::upsert(w.conn, &roster.calendars).await?;
    w.count("calendar", roster.calendars.len(), n, 0);
    let n = course::upsert(w.conn, &roster.courses).await?;
    w.count("course", roster.courses.len(), n, 0);
    let n = section::upsert(w.conn, &roster.sections).await?;
    w.count("section", roster.sections.len(), n, 0);
    let n = household::upsert(w.conn, &roster.households).await?;
    w.count("household", roster.households.len(), n, 0);

    w.chunked("person", &roster.people, person::upsert).await?;
    // Fresh rows are invisible to autovacuum until commit: give the planner real numbers so the
    // joins below on sourced_id hash instead of looping.
    analyze::person(w.conn).await?;
    w.chunked("guardian_student", &roster.links, guardian_student::upsert)
        .await?;
    let removed = guardian_student::remove_stale(w.conn, &roster.people, &roster.links).await?;
    w.removed("guardian_student", removed);
    let n = staff_assignment::upsert(w.conn, &roster.assignments).await?;
    w.count("staff_assignment", roster.assignments.len(), n, 0);
    w.chunked("contact_method", &roster.methods, contact_method::upsert)
        .await?;
    let removed =
        contact_method::remove_stale(w.conn, &roster.people, &roster.households, &roster.methods)
            .await?;
    w.removed("contact_method", removed);
    w.chunked("enrollment", &roster.enrollments, enrollment::upsert)
        .await?;
    let bulk_members =
        roster.members.len() >= BULK && bulk::is_empty_section_member(w.conn).await?;
    if bulk_members {
        bulk::drop_section_member_keys(w.conn).await?;
    }
    w.chunked("section_member", &roster.members, section_member::upsert)
        .await?;
    if bulk_members {
        bulk::add_section_member_keys(w.conn).await?;
    }
    // Who teaches whom follows the file: an enrollment the export no longer lists (dropped, or
    // marked tobedeleted) in one of its classes is removed, and with it a teacher's view of that
    // student (`people_taught_by`).
    let removed = section_member::remove_stale(w.conn, &roster.sections, &roster.members).await?;
    w.removed("section_member", removed);
    w.chunked("assignment", &roster.line_items, assignment::upsert)
        .await?;
    analyze::assignment(w.conn).await?;
    let bulk_scores = roster.results.len() >= BULK && bulk::is_empty_score(w.conn).await?;
    if bulk_scores {
        bulk::drop_score_keys(w.conn).await?;
    }
    w.chunked("score", &roster.results, score::upsert).await?;
    if bulk_scores {
        bulk::add_score_keys(w.conn).await?;
    }

    // Access follows the roster: whoever this import made inactive, or left a parent of no
    // student, is signed out when it commits.
    let ended = crate::accounts::end_barred_sessions(w.conn).await?;
    if ended > 0 {
        tracing::info!(
            sessions = ended,
            "ended the sessions of accounts the roster now bars"
        );
    }
    report(progress, "Committing", 99);
    let summary = w.summary;
    tx.commit().await?;
    Ok(summary)
}

struct Writer<'c, 'p> {
    conn: &'c mut PgConnection,
    summary: ImportSummary,
    progress: Progress<'p>,
    done: usize,
    total: usize,
}

impl Writer<'_, '_> {
    fn count(&mut self, table: &'static str, rows: usize, n: Upserted, removed: u64) {
        let inserted = u64::try_from(n.inserted).unwrap_or(0);
        let updated = u64::try_from(n.updated).unwrap_or(0);
        let entry = match self.summary.tables.iter_mut().find(|t| t.table == table) {
            Some(t) => t,
            None => {
                self.summary.tables.push(TableCount {
                    table,
                    ..TableCount::default()
                });
                self.summary.tables.last_mut().expect("just pushed")
            }
        };
        entry.inserted += inserted;
        entry.updated += updated + removed;
        entry.unchanged += (rows as u64).saturating_sub(inserted + updated);
    }

    fn removed(&mut self, table: &'static str, n: u64) {
        self.count(table, 0, Upserted::default(), n);
    }

    async fn chunked<T>(
        &mut self,
        table: &'static str,
        rows: &[T],
        upsert: for<'a> fn(&'a mut PgConnection, &'a [T]) -> Fut<'a>,
    ) -> Result<(), ImportError> {
        if rows.is_empty() {
            self.count(table, 0, Upserted::default(), 0);
        }
        for chunk in rows.chunks(CHUNK) {
            let n = upsert(self.conn, chunk).await?;
            self.count(table, chunk.len(), n, 0);
            self.done += chunk.len();
            let percent = 20 + (self.done * 78 / self.total.max(1));
            report(
                self.progress,
                &format!("Writing {table}"),
                u8::try_from(percent.min(98)).unwrap_or(98),
            );
        }
        Ok(())
    }
}

/// A district's first import of this many rows into an empty table drops that table's foreign
/// keys for the write and adds them back (validated in one set-based pass) before commit: the
/// per-row foreign-key triggers are about half the cost of writing a million scores. It stays
/// inside the one transaction, so still all or nothing. The price is a lock on the table (and
/// writes to the referenced tables) until commit, which is why later imports, when people are
/// using Herald, take the ordinary path.
const BULK: usize = 100_000;

/// The foreign keys of the bulk tables, exactly as `0001_roster.sql` declares them.
mod bulk {
    use super::*;

    pub async fn is_empty_score(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar!(r#"select not exists (select 1 from score) as "empty!""#)
            .fetch_one(conn)
            .await
    }

    pub async fn is_empty_section_member(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar!(r#"select not exists (select 1 from section_member) as "empty!""#)
            .fetch_one(conn)
            .await
    }

    pub async fn drop_score_keys(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "alter table score drop constraint score_assignment_id_fkey,
                               drop constraint score_student_id_fkey"
        )
        .execute(conn)
        .await
        .map(|_| ())
    }

    pub async fn add_score_keys(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "alter table score
               add constraint score_assignment_id_fkey foreign key (assignment_id)
                 references assignment (id) on delete cascade,
               add constraint score_student_id_fkey foreign key (student_id)
                 references person (id) on delete cascade"
        )
        .execute(conn)
        .await
        .map(|_| ())
    }

    pub async fn drop_section_member_keys(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "alter table section_member drop constraint section_member_section_id_fkey,
                                        drop constraint section_member_person_id_fkey"
        )
        .execute(conn)
        .await
        .map(|_| ())
    }

    pub async fn add_section_member_keys(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "alter table section_member
               add constraint section_member_section_id_fkey foreign key (section_id)
                 references section (id) on delete cascade,
               add constraint section_member_person_id_fkey foreign key (person_id)
                 references person (id) on delete cascade"
        )
        .execute(conn)
        .await
        .map(|_| ())
    }
}

fn opt_kind(k: Option<crate::domain::PhoneKind>) -> Option<String> {
    k.map(|k| k.label().to_lowercase())
}

mod analyze {
    use super::*;

    pub async fn person(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query!("analyze person")
            .execute(conn)
            .await
            .map(|_| ())
    }

    pub async fn assignment(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query!("analyze assignment")
            .execute(conn)
            .await
            .map(|_| ())
    }
}

mod district {
    use super::*;

    pub async fn upsert(conn: &mut PgConnection, d: &Org) -> Result<Upserted, sqlx::Error> {
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into district (sourced_id, name) values ($1, $2)
                 on conflict (sourced_id) do update set name = excluded.name, updated_at = now()
                 where district.name is distinct from excluded.name
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            d.sourced_id,
            d.name
        )
        .fetch_one(conn)
        .await
    }
}

mod school {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        schools: &[Org],
        district: &str,
    ) -> Result<Upserted, sqlx::Error> {
        let ids: Vec<&str> = schools.iter().map(|s| s.sourced_id.as_str()).collect();
        let names: Vec<&str> = schools.iter().map(|s| s.name.as_str()).collect();
        let idents: Vec<Option<&str>> = schools.iter().map(|s| s.identifier.as_deref()).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into school (sourced_id, district_id, name, identifier)
                 select r.sourced_id, d.id, r.name, r.identifier
                 from unnest($1::text[], $2::text[], $3::text[]) as r(sourced_id, name, identifier)
                 cross join (select id from district where sourced_id = $4) d
                 on conflict (sourced_id) do update
                   set district_id = excluded.district_id, name = excluded.name,
                       identifier = excluded.identifier, updated_at = now()
                 where (school.district_id, school.name, school.identifier)
                       is distinct from (excluded.district_id, excluded.name, excluded.identifier)
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &ids as &[&str],
            &names as &[&str],
            &idents as &[Option<&str>],
            district
        )
        .fetch_one(conn)
        .await
    }
}

mod academic_session {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        sessions: &[Session],
    ) -> Result<Upserted, sqlx::Error> {
        let ids: Vec<&str> = sessions.iter().map(|s| s.sourced_id.as_str()).collect();
        let titles: Vec<&str> = sessions.iter().map(|s| s.title.as_str()).collect();
        let kinds: Vec<&str> = sessions.iter().map(|s| s.kind).collect();
        let starts: Vec<NaiveDate> = sessions.iter().map(|s| s.start).collect();
        let ends: Vec<NaiveDate> = sessions.iter().map(|s| s.end).collect();
        let years: Vec<i32> = sessions.iter().map(|s| s.school_year).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into academic_session (sourced_id, title, kind, start_date, end_date, school_year)
                 select * from unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[], $6::int4[])
                 on conflict (sourced_id) do update
                   set title = excluded.title, kind = excluded.kind, start_date = excluded.start_date,
                       end_date = excluded.end_date, school_year = excluded.school_year, updated_at = now()
                 where (academic_session.title, academic_session.kind, academic_session.start_date,
                        academic_session.end_date, academic_session.school_year)
                       is distinct from (excluded.title, excluded.kind, excluded.start_date,
                                         excluded.end_date, excluded.school_year)
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &ids as &[&str],
            &titles as &[&str],
            &kinds as &[&str],
            &starts,
            &ends,
            &years
        )
        .fetch_one(conn)
        .await
    }

    pub async fn link_parents(
        conn: &mut PgConnection,
        sessions: &[Session],
    ) -> Result<u64, sqlx::Error> {
        let ids: Vec<&str> = sessions.iter().map(|s| s.sourced_id.as_str()).collect();
        let parents: Vec<Option<&str>> = sessions.iter().map(|s| s.parent.as_deref()).collect();
        Ok(sqlx::query!(
            r#"update academic_session c set parent_id = p.id
               from unnest($1::text[], $2::text[]) as r(child, parent)
               left join academic_session p on p.sourced_id = r.parent
               where c.sourced_id = r.child and c.parent_id is distinct from p.id"#,
            &ids as &[&str],
            &parents as &[Option<&str>]
        )
        .execute(conn)
        .await?
        .rows_affected())
    }
}

mod calendar {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        calendars: &[CalendarRow],
    ) -> Result<Upserted, sqlx::Error> {
        let schools: Vec<&str> = calendars.iter().map(|c| c.school.as_str()).collect();
        let years: Vec<i32> = calendars.iter().map(|c| c.school_year).collect();
        let names: Vec<&str> = calendars.iter().map(|c| c.name.as_str()).collect();
        let starts: Vec<NaiveDate> = calendars.iter().map(|c| c.start).collect();
        let ends: Vec<NaiveDate> = calendars.iter().map(|c| c.end).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into calendar (school_id, school_year, name, start_date, end_date)
                 select s.id, r.school_year, r.name, r.start_date, r.end_date
                 from unnest($1::text[], $2::int4[], $3::text[], $4::date[], $5::date[])
                      as r(school, school_year, name, start_date, end_date)
                 join school s on s.sourced_id = r.school
                 on conflict (school_id, school_year) do update
                   set name = excluded.name, start_date = excluded.start_date, end_date = excluded.end_date
                 where (calendar.name, calendar.start_date, calendar.end_date)
                       is distinct from (excluded.name, excluded.start_date, excluded.end_date)
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &schools as &[&str],
            &years,
            &names as &[&str],
            &starts,
            &ends
        )
        .fetch_one(conn)
        .await
    }
}

mod course {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        courses: &[Course],
    ) -> Result<Upserted, sqlx::Error> {
        let ids: Vec<&str> = courses.iter().map(|c| c.sourced_id.as_str()).collect();
        let titles: Vec<&str> = courses.iter().map(|c| c.title.as_str()).collect();
        let codes: Vec<Option<&str>> = courses.iter().map(|c| c.code.as_deref()).collect();
        let schools: Vec<Option<&str>> = courses.iter().map(|c| c.org.as_deref()).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into course (sourced_id, title, course_code, school_id)
                 select r.sourced_id, r.title, r.code, s.id
                 from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as r(sourced_id, title, code, school)
                 left join school s on s.sourced_id = r.school
                 on conflict (sourced_id) do update
                   set title = excluded.title, course_code = excluded.course_code,
                       school_id = excluded.school_id, updated_at = now()
                 where (course.title, course.course_code, course.school_id)
                       is distinct from (excluded.title, excluded.course_code, excluded.school_id)
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &ids as &[&str],
            &titles as &[&str],
            &codes as &[Option<&str>],
            &schools as &[Option<&str>]
        )
        .fetch_one(conn)
        .await
    }
}

mod section {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        sections: &[(Class, i32)],
    ) -> Result<Upserted, sqlx::Error> {
        let ids: Vec<&str> = sections
            .iter()
            .map(|(c, _)| c.sourced_id.as_str())
            .collect();
        let titles: Vec<&str> = sections.iter().map(|(c, _)| c.title.as_str()).collect();
        let codes: Vec<Option<&str>> = sections.iter().map(|(c, _)| c.code.as_deref()).collect();
        let courses: Vec<&str> = sections.iter().map(|(c, _)| c.course.as_str()).collect();
        let schools: Vec<&str> = sections.iter().map(|(c, _)| c.school.as_str()).collect();
        let years: Vec<i32> = sections.iter().map(|(_, y)| *y).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into section (sourced_id, title, class_code, course_id, school_id, calendar_id)
                 select r.sourced_id, r.title, r.code, co.id, s.id, cal.id
                 from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[])
                      as r(sourced_id, title, code, course, school, school_year)
                 join course co on co.sourced_id = r.course
                 join school s on s.sourced_id = r.school
                 join calendar cal on cal.school_id = s.id and cal.school_year = r.school_year
                 on conflict (sourced_id) do update
                   set title = excluded.title, class_code = excluded.class_code, course_id = excluded.course_id,
                       school_id = excluded.school_id, calendar_id = excluded.calendar_id, updated_at = now()
                 where (section.title, section.class_code, section.course_id, section.school_id, section.calendar_id)
                       is distinct from (excluded.title, excluded.class_code, excluded.course_id,
                                         excluded.school_id, excluded.calendar_id)
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &ids as &[&str],
            &titles as &[&str],
            &codes as &[Option<&str>],
            &courses as &[&str],
            &schools as &[&str],
            &years
        )
        .fetch_one(conn)
        .await
    }
}

mod household {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        households: &[HouseholdRow],
    ) -> Result<Upserted, sqlx::Error> {
        let keys: Vec<&str> = households.iter().map(|h| h.key.as_str()).collect();
        let names: Vec<&str> = households.iter().map(|h| h.name.as_str()).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into household (key, name)
                 select * from unnest($1::text[], $2::text[])
                 on conflict (key) do update set name = excluded.name, updated_at = now()
                 where household.name is distinct from excluded.name
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &keys as &[&str],
            &names as &[&str]
        )
        .fetch_one(conn)
        .await
    }
}

mod person {
    use super::*;

    pub fn upsert<'a>(conn: &'a mut PgConnection, people: &'a [PersonRow]) -> Fut<'a> {
        Box::pin(async move {
            let ids: Vec<&str> = people.iter().map(|p| p.sourced_id.as_str()).collect();
            let kinds: Vec<&str> = people.iter().map(|p| p.kind).collect();
            let given: Vec<&str> = people.iter().map(|p| p.given_name.as_str()).collect();
            let family: Vec<&str> = people.iter().map(|p| p.family_name.as_str()).collect();
            let middle: Vec<Option<&str>> =
                people.iter().map(|p| p.middle_name.as_deref()).collect();
            let usernames: Vec<Option<&str>> =
                people.iter().map(|p| p.username.as_deref()).collect();
            let identifiers: Vec<Option<&str>> =
                people.iter().map(|p| p.identifier.as_deref()).collect();
            let grades: Vec<Option<&str>> =
                people.iter().map(|p| p.grade_level.as_deref()).collect();
            let births: Vec<Option<NaiveDate>> = people.iter().map(|p| p.birth_date).collect();
            let households: Vec<Option<&str>> =
                people.iter().map(|p| p.household.as_deref()).collect();
            let active: Vec<bool> = people.iter().map(|p| p.active).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into person (sourced_id, kind, given_name, family_name, middle_name, username,
                                         identifier, grade_level, birth_date, household_id, active)
                     select r.sourced_id, r.kind::person_kind, r.given_name, r.family_name, r.middle_name,
                            r.username, r.identifier, r.grade_level, r.birth_date, h.id, r.active
                     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::text[], $8::text[], $9::date[], $10::text[], $11::bool[])
                          as r(sourced_id, kind, given_name, family_name, middle_name, username,
                               identifier, grade_level, birth_date, household, active)
                     left join household h on h.key = r.household
                     on conflict (sourced_id) do update
                       set kind = excluded.kind, given_name = excluded.given_name,
                           family_name = excluded.family_name, middle_name = excluded.middle_name,
                           username = excluded.username, identifier = excluded.identifier,
                           grade_level = excluded.grade_level, birth_date = excluded.birth_date,
                           household_id = excluded.household_id, active = excluded.active, updated_at = now()
                     where (person.kind, person.given_name, person.family_name, person.middle_name,
                            person.username, person.identifier, person.grade_level, person.birth_date,
                            person.household_id, person.active)
                           is distinct from (excluded.kind, excluded.given_name, excluded.family_name,
                                             excluded.middle_name, excluded.username, excluded.identifier,
                                             excluded.grade_level, excluded.birth_date,
                                             excluded.household_id, excluded.active)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &ids as &[&str],
                &kinds as &[&str],
                &given as &[&str],
                &family as &[&str],
                &middle as &[Option<&str>],
                &usernames as &[Option<&str>],
                &identifiers as &[Option<&str>],
                &grades as &[Option<&str>],
                &births as &[Option<NaiveDate>],
                &households as &[Option<&str>],
                &active
            )
            .fetch_one(conn)
            .await
        })
    }
}

mod guardian_student {
    use super::*;

    pub fn upsert<'a>(conn: &'a mut PgConnection, links: &'a [LinkRow]) -> Fut<'a> {
        Box::pin(async move {
            let guardians: Vec<&str> = links.iter().map(|l| l.guardian.as_str()).collect();
            let students: Vec<&str> = links.iter().map(|l| l.student.as_str()).collect();
            let relationships: Vec<&str> = links.iter().map(|l| l.relationship.as_str()).collect();
            let contacts: Vec<bool> = links.iter().map(|l| l.messenger_contact).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into guardian_student (guardian_id, student_id, relationship, messenger_contact)
                     select g.id, s.id, r.relationship, r.contact
                     from unnest($1::text[], $2::text[], $3::text[], $4::bool[])
                          as r(guardian, student, relationship, contact)
                     join person g on g.sourced_id = r.guardian
                     join person s on s.sourced_id = r.student
                     on conflict (guardian_id, student_id) do update
                       set relationship = excluded.relationship, messenger_contact = excluded.messenger_contact
                     where (guardian_student.relationship, guardian_student.messenger_contact)
                           is distinct from (excluded.relationship, excluded.messenger_contact)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &guardians as &[&str],
                &students as &[&str],
                &relationships as &[&str],
                &contacts
            )
            .fetch_one(conn)
            .await
        })
    }

    /// Removes links of the roster's students that the roster no longer lists.
    pub async fn remove_stale(
        conn: &mut PgConnection,
        people: &[PersonRow],
        links: &[LinkRow],
    ) -> Result<u64, sqlx::Error> {
        let students: Vec<&str> = people
            .iter()
            .filter(|p| p.kind == "student")
            .map(|p| p.sourced_id.as_str())
            .collect();
        let guardians: Vec<&str> = links.iter().map(|l| l.guardian.as_str()).collect();
        let linked: Vec<&str> = links.iter().map(|l| l.student.as_str()).collect();
        Ok(sqlx::query!(
            r#"with keep as (
                 select g.id as guardian_id, s.id as student_id
                 from unnest($2::text[], $3::text[]) as r(guardian, student)
                 join person g on g.sourced_id = r.guardian
                 join person s on s.sourced_id = r.student)
               delete from guardian_student gs
               where gs.student_id in (select id from person where sourced_id = any($1::text[]))
                 and not exists (
                     select 1 from keep
                     where keep.guardian_id = gs.guardian_id and keep.student_id = gs.student_id)"#,
            &students as &[&str],
            &guardians as &[&str],
            &linked as &[&str]
        )
        .execute(conn)
        .await?
        .rows_affected())
    }
}

mod staff_assignment {
    use super::*;

    pub async fn upsert(
        conn: &mut PgConnection,
        rows: &[StaffAssignmentRow],
    ) -> Result<Upserted, sqlx::Error> {
        let staff: Vec<&str> = rows.iter().map(|r| r.staff.as_str()).collect();
        let schools: Vec<Option<&str>> = rows.iter().map(|r| r.school.as_deref()).collect();
        let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
        sqlx::query_as!(
            Upserted,
            r#"with up as (
                 insert into staff_assignment (staff_id, school_id, title)
                 select p.id, s.id, r.title
                 from unnest($1::text[], $2::text[], $3::text[]) as r(staff, school, title)
                 join person p on p.sourced_id = r.staff
                 left join school s on s.sourced_id = r.school
                 on conflict (staff_id, school_id) do update set title = excluded.title
                 where staff_assignment.title is distinct from excluded.title
                 returning (xmax = 0) as inserted)
               select count(*) filter (where inserted) as "inserted!",
                      count(*) filter (where not inserted) as "updated!" from up"#,
            &staff as &[&str],
            &schools as &[Option<&str>],
            &titles as &[&str]
        )
        .fetch_one(conn)
        .await
    }
}

mod contact_method {
    use super::*;

    pub fn upsert<'a>(conn: &'a mut PgConnection, methods: &'a [MethodRow]) -> Fut<'a> {
        Box::pin(async move {
            let people: Vec<Option<&str>> = methods.iter().map(|m| m.person.as_deref()).collect();
            let households: Vec<Option<&str>> =
                methods.iter().map(|m| m.household.as_deref()).collect();
            let emails: Vec<Option<&str>> = methods.iter().map(|m| m.email.as_deref()).collect();
            let phones: Vec<Option<&str>> = methods.iter().map(|m| m.phone.as_deref()).collect();
            let kinds: Vec<Option<String>> =
                methods.iter().map(|m| opt_kind(m.phone_kind)).collect();
            let sms: Vec<bool> = methods.iter().map(|m| m.sms_capable).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into contact_method (person_id, household_id, email, phone, phone_kind, sms_capable)
                     select p.id, h.id, r.email, r.phone, r.kind::phone_kind, r.sms
                     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
                          as r(person, household, email, phone, kind, sms)
                     left join person p on p.sourced_id = r.person
                     left join household h on h.key = r.household
                     on conflict (person_id, household_id, email, phone) do update
                       set phone_kind = excluded.phone_kind, sms_capable = excluded.sms_capable,
                           removed_at = null, updated_at = now()
                     where (contact_method.phone_kind, contact_method.sms_capable, contact_method.removed_at)
                           is distinct from (excluded.phone_kind, excluded.sms_capable, null)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &people as &[Option<&str>],
                &households as &[Option<&str>],
                &emails as &[Option<&str>],
                &phones as &[Option<&str>],
                &kinds as &[Option<String>],
                &sms
            )
            .fetch_one(conn)
            .await
        })
    }

    /// Marks removed the methods of the roster's people and households that the roster no longer
    /// lists. They are kept, with their preferences, consents and history, for when they return.
    pub async fn remove_stale(
        conn: &mut PgConnection,
        people: &[PersonRow],
        households: &[HouseholdRow],
        methods: &[MethodRow],
    ) -> Result<u64, sqlx::Error> {
        let person_ids: Vec<&str> = people.iter().map(|p| p.sourced_id.as_str()).collect();
        let household_keys: Vec<&str> = households.iter().map(|h| h.key.as_str()).collect();
        let owners: Vec<&str> = methods
            .iter()
            .map(|m| {
                m.person
                    .as_deref()
                    .or(m.household.as_deref())
                    .unwrap_or_default()
            })
            .collect();
        let values: Vec<&str> = methods
            .iter()
            .map(|m| {
                m.email
                    .as_deref()
                    .or(m.phone.as_deref())
                    .unwrap_or_default()
            })
            .collect();
        let households: Vec<bool> = methods.iter().map(|m| m.person.is_none()).collect();
        Ok(sqlx::query!(
            r#"with keep as (
                 select coalesce(p.id, h.id) as owner_id, k.value
                 from unnest($3::text[], $4::text[], $5::bool[]) as k(owner, value, is_household)
                 left join person p on not k.is_household and p.sourced_id = k.owner
                 left join household h on k.is_household and h.key = k.owner)
               update contact_method cm set removed_at = now(), updated_at = now()
               where cm.removed_at is null
                 and (cm.person_id in (select id from person where sourced_id = any($1::text[]))
                      or cm.household_id in (select id from household where key = any($2::text[])))
                 and not exists (
                     select 1 from keep
                     where keep.owner_id = coalesce(cm.person_id, cm.household_id)
                       and keep.value = coalesce(cm.email, cm.phone))"#,
            &person_ids as &[&str],
            &household_keys as &[&str],
            &owners as &[&str],
            &values as &[&str],
            &households
        )
        .execute(conn)
        .await?
        .rows_affected())
    }
}

mod enrollment {
    use super::*;

    pub fn upsert<'a>(conn: &'a mut PgConnection, rows: &'a [EnrollmentRow]) -> Fut<'a> {
        Box::pin(async move {
            let students: Vec<&str> = rows.iter().map(|r| r.student.as_str()).collect();
            let schools: Vec<&str> = rows.iter().map(|r| r.school.as_str()).collect();
            let years: Vec<i32> = rows.iter().map(|r| r.school_year).collect();
            let grades: Vec<Option<&str>> = rows.iter().map(|r| r.grade_level.as_deref()).collect();
            let starts: Vec<NaiveDate> = rows.iter().map(|r| r.start).collect();
            let ends: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.end).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into enrollment (student_id, calendar_id, grade_level, start_date, end_date)
                     select p.id, c.id, r.grade, r.start_date, r.end_date
                     from unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::date[], $6::date[])
                          as r(student, school, school_year, grade, start_date, end_date)
                     join person p on p.sourced_id = r.student
                     join school s on s.sourced_id = r.school
                     join calendar c on c.school_id = s.id and c.school_year = r.school_year
                     on conflict (student_id, calendar_id) do update
                       set grade_level = excluded.grade_level, start_date = excluded.start_date,
                           end_date = excluded.end_date
                     where (enrollment.grade_level, enrollment.start_date, enrollment.end_date)
                           is distinct from (excluded.grade_level, excluded.start_date, excluded.end_date)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &students as &[&str],
                &schools as &[&str],
                &years,
                &grades as &[Option<&str>],
                &starts,
                &ends as &[Option<NaiveDate>]
            )
            .fetch_one(conn)
            .await
        })
    }
}

mod section_member {
    use super::*;

    /// Removes the enrollments of the roster's classes that the roster no longer lists.
    pub async fn remove_stale(
        conn: &mut PgConnection,
        sections: &[(Class, i32)],
        members: &[MemberRow],
    ) -> Result<u64, sqlx::Error> {
        let classes: Vec<&str> = sections
            .iter()
            .map(|(c, _)| c.sourced_id.as_str())
            .collect();
        let listed: Vec<&str> = members.iter().map(|m| m.sourced_id.as_str()).collect();
        Ok(sqlx::query!(
            r#"with keep as (select unnest($2::text[]) as sourced_id)
               delete from section_member m
               using section s
               where s.id = m.section_id and s.sourced_id = any($1::text[])
                 and not exists (select 1 from keep where keep.sourced_id = m.sourced_id)"#,
            &classes as &[&str],
            &listed as &[&str]
        )
        .execute(conn)
        .await?
        .rows_affected())
    }

    pub fn upsert<'a>(conn: &'a mut PgConnection, rows: &'a [MemberRow]) -> Fut<'a> {
        Box::pin(async move {
            let ids: Vec<&str> = rows.iter().map(|r| r.sourced_id.as_str()).collect();
            let classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
            let users: Vec<&str> = rows.iter().map(|r| r.user.as_str()).collect();
            let roles: Vec<&str> = rows.iter().map(|r| r.role).collect();
            let begins: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.begin).collect();
            let ends: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.end).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into section_member (section_id, person_id, sourced_id, role, begin_date, end_date)
                     select s.id, p.id, r.sourced_id, r.role, r.begin_date, r.end_date
                     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[])
                          as r(sourced_id, class, person, role, begin_date, end_date)
                     join section s on s.sourced_id = r.class
                     join person p on p.sourced_id = r.person
                     on conflict (sourced_id) do update
                       set section_id = excluded.section_id, person_id = excluded.person_id, role = excluded.role,
                           begin_date = excluded.begin_date, end_date = excluded.end_date
                     where (section_member.section_id, section_member.person_id, section_member.role,
                            section_member.begin_date, section_member.end_date)
                           is distinct from (excluded.section_id, excluded.person_id, excluded.role,
                                             excluded.begin_date, excluded.end_date)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &ids as &[&str],
                &classes as &[&str],
                &users as &[&str],
                &roles as &[&str],
                &begins as &[Option<NaiveDate>],
                &ends as &[Option<NaiveDate>]
            )
            .fetch_one(conn)
            .await
        })
    }
}

mod assignment {
    use super::*;

    pub fn upsert<'a>(
        conn: &'a mut PgConnection,
        rows: &'a [(LineItem, Option<String>)],
    ) -> Fut<'a> {
        Box::pin(async move {
            let ids: Vec<&str> = rows.iter().map(|(l, _)| l.sourced_id.as_str()).collect();
            let classes: Vec<&str> = rows.iter().map(|(l, _)| l.class.as_str()).collect();
            let titles: Vec<&str> = rows.iter().map(|(l, _)| l.title.as_str()).collect();
            let categories: Vec<Option<&str>> = rows.iter().map(|(_, c)| c.as_deref()).collect();
            let assigned: Vec<Option<NaiveDate>> =
                rows.iter().map(|(l, _)| l.assign_date).collect();
            let due: Vec<NaiveDate> = rows.iter().map(|(l, _)| l.due_date).collect();
            let max: Vec<&str> = rows.iter().map(|(l, _)| l.max_score.as_str()).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into assignment (sourced_id, section_id, title, category, assign_date, due_date, max_score)
                     select r.sourced_id, s.id, r.title, r.category, r.assign_date, r.due_date, r.max_score::numeric
                     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[], $7::text[])
                          as r(sourced_id, class, title, category, assign_date, due_date, max_score)
                     join section s on s.sourced_id = r.class
                     on conflict (sourced_id) do update
                       set section_id = excluded.section_id, title = excluded.title, category = excluded.category,
                           assign_date = excluded.assign_date, due_date = excluded.due_date,
                           max_score = excluded.max_score, updated_at = now()
                     where (assignment.section_id, assignment.title, assignment.category, assignment.assign_date,
                            assignment.due_date, assignment.max_score)
                           is distinct from (excluded.section_id, excluded.title, excluded.category,
                                             excluded.assign_date, excluded.due_date, excluded.max_score)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &ids as &[&str],
                &classes as &[&str],
                &titles as &[&str],
                &categories as &[Option<&str>],
                &assigned as &[Option<NaiveDate>],
                &due,
                &max as &[&str]
            )
            .fetch_one(conn)
            .await
        })
    }
}

mod score {
    use super::*;

    pub fn upsert<'a>(conn: &'a mut PgConnection, rows: &'a [ResultRow]) -> Fut<'a> {
        Box::pin(async move {
            let ids: Vec<&str> = rows.iter().map(|r| r.sourced_id.as_str()).collect();
            let items: Vec<&str> = rows.iter().map(|r| r.line_item.as_str()).collect();
            let students: Vec<&str> = rows.iter().map(|r| r.student.as_str()).collect();
            let scores: Vec<Option<&str>> = rows.iter().map(|r| r.score.as_deref()).collect();
            let statuses: Vec<&str> = rows.iter().map(|r| r.status).collect();
            let missing: Vec<bool> = rows.iter().map(|r| r.missing).collect();
            let dates: Vec<Option<NaiveDate>> = rows.iter().map(|r| r.score_date).collect();
            let comments: Vec<Option<&str>> = rows.iter().map(|r| r.comment.as_deref()).collect();
            sqlx::query_as!(
                Upserted,
                r#"with up as (
                     insert into score (sourced_id, assignment_id, student_id, score, status, missing, score_date, comment)
                     select r.sourced_id, a.id, p.id, r.score::numeric, r.status, r.missing, r.score_date, r.comment
                     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
                                 $7::date[], $8::text[])
                          as r(sourced_id, item, student, score, status, missing, score_date, comment)
                     join assignment a on a.sourced_id = r.item
                     join person p on p.sourced_id = r.student
                     on conflict (sourced_id) do update
                       set assignment_id = excluded.assignment_id, student_id = excluded.student_id,
                           score = excluded.score, status = excluded.status, missing = excluded.missing,
                           score_date = excluded.score_date, comment = excluded.comment, updated_at = now()
                     where (score.assignment_id, score.student_id, score.score, score.status, score.missing,
                            score.score_date, score.comment)
                           is distinct from (excluded.assignment_id, excluded.student_id, excluded.score,
                                             excluded.status, excluded.missing, excluded.score_date,
                                             excluded.comment)
                     returning (xmax = 0) as inserted)
                   select count(*) filter (where inserted) as "inserted!",
                          count(*) filter (where not inserted) as "updated!" from up"#,
                &ids as &[&str],
                &items as &[&str],
                &students as &[&str],
                &scores as &[Option<&str>],
                &statuses as &[&str],
                &missing,
                &dates as &[Option<NaiveDate>],
                &comments as &[Option<&str>]
            )
            .fetch_one(conn)
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::bulk;
    use sqlx::{PgConnection, PgPool};

    /// The bulk tables' foreign keys: name, definition, validated.
    async fn keys(conn: &mut PgConnection) -> Vec<(String, String, bool)> {
        sqlx::query!(
            r#"select conname::text as "name!", pg_get_constraintdef(oid) as "definition!",
                      convalidated as "valid!"
               from pg_constraint
               where contype = 'f' and conrelid in ('score'::regclass, 'section_member'::regclass)
               order by 1"#
        )
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.name, k.definition, k.valid))
        .collect()
    }

    // Against the real schema: a first import into empty tables takes this path only from
    // 100,000 rows, too many for a test import.
    #[sqlx::test(migrator = "crate::db::MIGRATOR")]
    async fn the_keys_a_first_bulk_import_drops_come_back_exactly_as_the_schema_declares(
        pool: PgPool,
    ) {
        let mut conn = pool.acquire().await.unwrap();
        let declared = keys(&mut conn).await;
        let names: Vec<&str> = declared.iter().map(|k| k.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "score_assignment_id_fkey",
                "score_student_id_fkey",
                "section_member_person_id_fkey",
                "section_member_section_id_fkey"
            ]
        );
        bulk::drop_score_keys(&mut conn).await.unwrap();
        bulk::drop_section_member_keys(&mut conn).await.unwrap();
        assert!(keys(&mut conn).await.is_empty(), "all four dropped");
        bulk::add_score_keys(&mut conn).await.unwrap();
        bulk::add_section_member_keys(&mut conn).await.unwrap();
        assert_eq!(keys(&mut conn).await, declared);
    }
}
