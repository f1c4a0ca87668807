//! Read-side queries for the admin shell and the portal: schools and calendars for the Campus
//! Toolbar, the people search, one person's household, contact methods and preferences.
//!
//! What must stay true: these functions only read; whether a method receives a reason is computed
//! by the SQL function `method_allowed`, exactly as delivery will treat it; who a search finds is
//! decided by the SQL function `people_matching` (migration 0012) with a [`PeopleSearch`]
//! pattern, so the People page and the Delivery Report find the same people; whom a caller may
//! look up at all is a [`PeopleScope`]: a teacher's scope (the SQL function `people_taught_by`,
//! migration 0019) bounds the search, the person card and everything listed on it.

use serde::Serialize;
use sqlx::PgPool;

use crate::domain::{CalendarId, ContactReason, HouseholdId, PersonId, PersonKind, PhoneKind};

/// Whom a caller may look up on the People page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleScope {
    /// A district admin: everyone in the district.
    District,
    /// A teacher: the students of the sections they teach and those students' guardians.
    TaughtBy(PersonId),
}

impl PeopleScope {
    /// The teacher whose sections bound the scope, if any: the `$n` the queries take.
    fn teacher(self) -> Option<PersonId> {
        match self {
            Self::District => None,
            Self::TaughtBy(teacher) => Some(teacher),
        }
    }
}

/// One calendar (a school year at one school), as the toolbar lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CalendarRow {
    /// The calendar's id, as the toolbar's choice and the compose form send it.
    pub id: CalendarId,
    /// The school the calendar belongs to.
    pub school_name: String,
    /// The calendar's name: its school year written `2026-27`.
    pub name: String,
    /// The school year by the year it ends in, e.g. 2027 for 2026-27.
    pub school_year: i32,
}

/// One line of the people search.
#[derive(Debug, Clone, Serialize)]
pub struct PersonHit {
    /// The person's id.
    pub id: PersonId,
    /// Student, guardian or staff.
    pub kind: PersonKind,
    /// Given and family name.
    pub name: String,
    /// A short line beside the name: `Grade 5 · #12345` for a student, else `Guardian` or `Staff`
    /// (a household member's grade only, or nothing).
    pub detail: String,
}

/// A contact method with its per-reason preferences.
#[derive(Debug, Clone, Serialize)]
pub struct ContactMethodView {
    /// The contact method's id.
    pub id: uuid::Uuid,
    /// The email address, for an email method.
    pub email: Option<String>,
    /// The phone number (E.164), for a phone method.
    pub phone: Option<String>,
    /// What kind of phone it is, when the roster says.
    pub phone_kind: Option<PhoneKind>,
    /// The roster says the phone can take text messages.
    pub sms_capable: bool,
    /// The phone belongs to the person's household rather than to the person.
    pub household_phone: bool,
    /// Every contact reason, in `ContactReason::ALL` order, with whether it is on.
    pub preferences: Vec<(ContactReason, bool)>,
}

/// A person linked to the one shown (a guardian's students, a student's guardians).
#[derive(Debug, Clone, Serialize)]
pub struct Relation {
    /// The linked person's id.
    pub id: PersonId,
    /// Given and family name.
    pub name: String,
    /// The relationship as the roster gives it, e.g. `parent` or `guardian`.
    pub relationship: String,
    /// Whether the guardian receives messages about the student (`metadata.herald.messengerContact`).
    pub messenger_contact: bool,
    /// For a student: their grade level and the school of their latest calendar.
    pub grade_level: Option<String>,
    /// The school of their latest calendar, if they have one.
    pub school: Option<String>,
}

/// Everything the people search shows about one person.
#[derive(Debug, Clone, Serialize)]
pub struct PersonDetail {
    /// The person's id.
    pub id: PersonId,
    /// Student, guardian or staff.
    pub kind: PersonKind,
    /// Given and family name.
    pub name: String,
    /// A student's grade level, as the roster gives it.
    pub grade_level: Option<String>,
    /// A student's student number (the roster's `identifier`).
    pub identifier: Option<String>,
    /// Whether the roster lists the person as active (enabled and not deleted).
    pub active: bool,
    /// The person's household, if they are in one.
    pub household_id: Option<HouseholdId>,
    /// The household's name.
    pub household_name: Option<String>,
    /// The household's other active members (the person included), students' grades as detail.
    pub household_members: Vec<PersonHit>,
    /// Guardians of a student, or students of a guardian.
    pub relations: Vec<Relation>,
    /// A staff member's assignments, each as `title · school` (`District` for district-wide).
    pub assignments: Vec<String>,
    /// The person's contact methods and their household's phones, with their preferences.
    pub contact_methods: Vec<ContactMethodView>,
}

/// Every calendar, newest school year first, then by school name.
pub async fn calendars(pool: &PgPool) -> Result<Vec<CalendarRow>, sqlx::Error> {
    sqlx::query_as!(
        CalendarRow,
        r#"select c.id as "id: CalendarId", s.name as school_name, c.name, c.school_year
           from calendar c join school s on s.id = c.school_id
           order by c.school_year desc, s.name"#
    )
    .fetch_all(pool)
    .await
}

/// Whether a calendar exists.
pub async fn calendar_exists(pool: &PgPool, id: CalendarId) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from calendar where id = $1) as "e!""#,
        id as CalendarId
    )
    .fetch_one(pool)
    .await
}

/// What someone typed to find people, as the case-insensitive "contains" pattern that
/// `people_matching` takes: part of a name ("Given Family" or "Family, Given"), a student number,
/// an email address or a phone number. `%`, `_` and `\` match themselves. A query that is only
/// a phone number's digits and punctuation, "(612) 555-0100" or "+1 612 555 0100", is searched
/// by its digits, so it finds the stored E.164 number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeopleSearch(String);

impl PeopleSearch {
    /// The search for `query`, or `None` when it is blank.
    pub fn parse(query: &str) -> Option<Self> {
        let query = query.trim();
        if query.is_empty() {
            return None;
        }
        let digits: String = query.chars().filter(char::is_ascii_digit).collect();
        let phone_like = digits.len() >= 4
            && query
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '(' | ')' | '-' | '.' | '+'));
        let text = if phone_like { digits.as_str() } else { query };
        let mut pattern = String::with_capacity(text.len() + 2);
        pattern.push('%');
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(Self(pattern))
    }

    /// The `ilike` pattern.
    pub fn pattern(&self) -> &str {
        &self.0
    }
}

/// People in `scope` whose name, student number, email or phone contains `query`, at most
/// `limit`, students and guardians of the calendar first when one is given. A blank query finds
/// nobody.
pub async fn search_people(
    pool: &PgPool,
    query: &str,
    calendar: Option<CalendarId>,
    scope: PeopleScope,
    limit: i64,
) -> Result<Vec<PersonHit>, sqlx::Error> {
    let Some(search) = PeopleSearch::parse(query) else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query!(
        r#"select p.id as "id: PersonId", p.kind as "kind: PersonKind",
                  p.given_name || ' ' || p.family_name as "name!",
                  coalesce(
                      case p.kind
                          when 'student' then 'Grade ' || coalesce(p.grade_level, '?')
                              || coalesce(' · #' || p.identifier, '')
                          when 'guardian' then 'Guardian'
                          else 'Staff'
                      end, '') as "detail!",
                  exists (
                      select 1 from enrollment e
                      where e.calendar_id = $2
                        and (e.student_id = p.id or e.student_id in
                             (select gs.student_id from guardian_student gs where gs.guardian_id = p.id))
                  ) as "in_calendar!"
           from person p
           where p.id in (select id from people_matching($1))
             and ($4::uuid is null or p.id in (select id from people_taught_by($4)))
           order by 5 desc, p.family_name, p.given_name
           limit $3"#,
        search.pattern(),
        calendar as Option<CalendarId>,
        limit,
        scope.teacher() as Option<PersonId>
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PersonHit {
            id: r.id,
            kind: r.kind,
            name: r.name,
            detail: r.detail,
        })
        .collect())
}

/// The household a person belongs to.
pub async fn household_of(
    pool: &PgPool,
    person: PersonId,
) -> Result<Option<HouseholdId>, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        r#"select household_id as "h: HouseholdId" from person where id = $1"#,
        person as PersonId
    )
    .fetch_optional(pool)
    .await?
    .flatten())
}

/// The person who has `email` as a contact method, if exactly that address is on file.
pub async fn person_by_email(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(PersonId, PersonKind, String)>, sqlx::Error> {
    let row = sqlx::query!(
        r#"select p.id as "id: PersonId", p.kind as "kind: PersonKind",
                  p.given_name || ' ' || p.family_name as "name!"
           from contact_method cm join person p on p.id = cm.person_id
           where cm.email = $1 and cm.removed_at is null
           order by p.sourced_id
           limit 1"#,
        email
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.id, r.kind, r.name)))
}

/// One person with household, relations, assignments and contact methods, or `None` when there
/// is no such person in `scope`. The household members and relations listed are those in
/// `scope` too.
pub async fn person_detail(
    pool: &PgPool,
    id: PersonId,
    scope: PeopleScope,
) -> Result<Option<PersonDetail>, sqlx::Error> {
    let Some(p) = sqlx::query!(
        r#"select p.id as "id: PersonId", p.kind as "kind: PersonKind",
                  p.given_name || ' ' || p.family_name as "name!", p.grade_level, p.identifier,
                  p.active, p.household_id as "household_id: HouseholdId",
                  h.name as "household_name?"
           from person p left join household h on h.id = p.household_id
           where p.id = $1
             and ($2::uuid is null or p.id in (select id from people_taught_by($2)))"#,
        id as PersonId,
        scope.teacher() as Option<PersonId>
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let household_members = match p.household_id {
        Some(h) => household_members(pool, h, scope).await?,
        None => Vec::new(),
    };
    Ok(Some(PersonDetail {
        id: p.id,
        kind: p.kind,
        name: p.name,
        grade_level: p.grade_level,
        identifier: p.identifier,
        active: p.active,
        household_id: p.household_id,
        household_name: p.household_name,
        household_members,
        relations: relations(pool, id, scope).await?,
        assignments: assignments(pool, id).await?,
        contact_methods: contact_methods(pool, id).await?,
    }))
}

/// Whether the person `id` is in `scope`: one a teacher may not look up is, to them, not there.
pub async fn in_scope(
    pool: &PgPool,
    id: PersonId,
    scope: PeopleScope,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists(
               select 1 from person p
               where p.id = $1
                 and ($2::uuid is null or p.id in (select id from people_taught_by($2)))
           ) as "e!""#,
        id as PersonId,
        scope.teacher() as Option<PersonId>
    )
    .fetch_one(pool)
    .await
}

async fn household_members(
    pool: &PgPool,
    h: HouseholdId,
    scope: PeopleScope,
) -> Result<Vec<PersonHit>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select id as "id: PersonId", kind as "kind: PersonKind",
                  given_name || ' ' || family_name as "name!", grade_level
           from person
           where household_id = $1 and active
             and ($2::uuid is null or id in (select id from people_taught_by($2)))
           order by kind, family_name, given_name"#,
        h as HouseholdId,
        scope.teacher() as Option<PersonId>
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PersonHit {
            id: r.id,
            kind: r.kind,
            name: r.name,
            detail: r
                .grade_level
                .map(|g| format!("Grade {g}"))
                .unwrap_or_default(),
        })
        .collect())
}

async fn relations(
    pool: &PgPool,
    id: PersonId,
    scope: PeopleScope,
) -> Result<Vec<Relation>, sqlx::Error> {
    sqlx::query_as!(
        Relation,
        r#"select o.id as "id: PersonId", o.given_name || ' ' || o.family_name as "name!",
                  gs.relationship, gs.messenger_contact, o.grade_level, latest.school as "school?"
           from guardian_student gs
           join person o on o.id = case when gs.guardian_id = $1 then gs.student_id else gs.guardian_id end
           left join lateral (
               select s.name as school
               from enrollment e
               join calendar c on c.id = e.calendar_id
               join school s on s.id = c.school_id
               where e.student_id = o.id
               order by c.school_year desc
               limit 1) latest on true
           where (gs.guardian_id = $1 or gs.student_id = $1)
             and ($2::uuid is null or o.id in (select id from people_taught_by($2)))
           order by o.family_name, o.given_name"#,
        id as PersonId,
        scope.teacher() as Option<PersonId>
    )
    .fetch_all(pool)
    .await
}

async fn assignments(pool: &PgPool, id: PersonId) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select sa.title || ' · ' || coalesce(s.name, 'District') as "a!"
           from staff_assignment sa left join school s on s.id = sa.school_id
           where sa.staff_id = $1 order by 1"#,
        id as PersonId
    )
    .fetch_all(pool)
    .await
}

async fn contact_methods(
    pool: &PgPool,
    id: PersonId,
) -> Result<Vec<ContactMethodView>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select cm.id, cm.email, cm.phone, cm.phone_kind as "phone_kind: PhoneKind",
                  cm.sms_capable, cm.household_id is not null as "household_phone!",
                  coalesce(array_agg(r.reason)
                               filter (where not method_allowed(r.reason, cp.enabled, cm.emergency)),
                           '{}') as "off!: Vec<ContactReason>"
           from contact_method cm
           cross join unnest(enum_range(null::contact_reason)) as r(reason)
           left join contact_preference cp on cp.contact_method_id = cm.id and cp.reason = r.reason
           where cm.id in (select id from methods_of($1))
           group by cm.id
           order by cm.email nulls last, cm.phone"#,
        id as PersonId
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ContactMethodView {
            id: r.id,
            email: r.email,
            phone: r.phone,
            phone_kind: r.phone_kind,
            sms_capable: r.sms_capable,
            household_phone: r.household_phone,
            preferences: ContactReason::ALL
                .into_iter()
                .map(|reason| (reason, !r.off.contains(&reason)))
                .collect(),
        })
        .collect())
}

/// Head counts for the admin overview.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Schools in the district.
    pub schools: i64,
    /// Active students.
    pub students: i64,
    /// Active guardians.
    pub guardians: i64,
    /// Active staff.
    pub staff: i64,
    /// Students enrolled in the given calendar, when one was given.
    pub calendar_students: Option<i64>,
}

/// Active people by kind, schools, and enrollment in `calendar`.
pub async fn counts(pool: &PgPool, calendar: Option<CalendarId>) -> Result<Counts, sqlx::Error> {
    let r = sqlx::query!(
        r#"select
             (select count(*) from school) as "schools!",
             count(*) filter (where kind = 'student') as "students!",
             count(*) filter (where kind = 'guardian') as "guardians!",
             count(*) filter (where kind = 'staff') as "staff!",
             case when $1::uuid is null then null
                  else (select count(*) from enrollment where calendar_id = $1) end as "calendar_students"
           from person where active"#,
        calendar as Option<CalendarId>
    )
    .fetch_one(pool)
    .await?;
    Ok(Counts {
        schools: r.schools,
        students: r.students,
        guardians: r.guardians,
        staff: r.staff,
        calendar_students: r.calendar_students,
    })
}

/// The district's time zone, in which admins type dates and dial windows apply. The first
/// district's; America/Chicago before any roster is imported or when the stored name is unknown.
pub async fn time_zone(pool: &PgPool) -> Result<chrono_tz::Tz, sqlx::Error> {
    let name = sqlx::query_scalar!("select time_zone from district order by name limit 1")
        .fetch_optional(pool)
        .await?;
    Ok(name
        .and_then(|n| n.parse().ok())
        .unwrap_or(chrono_tz::America::Chicago))
}

/// The first instant of `date` in the time zone `tz`: midnight, or, where a daylight-saving
/// change skips midnight, the first local time that exists.
pub fn day_start(tz: chrono_tz::Tz, date: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    (0..=3)
        .find_map(|h| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
}

/// The grade levels enrolled in a calendar, in school order (K before 1 before 12).
pub async fn grade_levels(pool: &PgPool, calendar: CalendarId) -> Result<Vec<String>, sqlx::Error> {
    let mut grades = sqlx::query_scalar!(
        r#"select distinct grade_level as "g!" from enrollment
           where calendar_id = $1 and grade_level is not null"#,
        calendar as CalendarId
    )
    .fetch_all(pool)
    .await?;
    grades.sort_by_key(|g| match g.as_str() {
        "PK" => -2,
        "KG" | "K" => -1,
        other => other.parse::<i32>().unwrap_or(100),
    });
    Ok(grades)
}

#[cfg(test)]
mod tests {
    use super::PeopleSearch;

    fn pattern(q: &str) -> Option<String> {
        PeopleSearch::parse(q).map(|s| s.pattern().to_string())
    }

    #[test]
    fn a_blank_search_finds_nobody() {
        assert_eq!(pattern("   "), None);
    }

    #[test]
    fn a_search_matches_percent_underscore_and_backslash_literally() {
        assert_eq!(pattern(" 50%_a\\b ").as_deref(), Some("%50\\%\\_a\\\\b%"));
    }

    #[test]
    fn a_phone_number_as_people_write_it_is_searched_by_its_digits() {
        assert_eq!(pattern("(612) 555-0100").as_deref(), Some("%6125550100%"));
        assert_eq!(pattern("+1 612.555.0100").as_deref(), Some("%16125550100%"));
    }

    #[test]
    fn names_addresses_and_short_numbers_are_searched_as_typed() {
        assert_eq!(pattern("Garcia, Ana").as_deref(), Some("%Garcia, Ana%"));
        assert_eq!(
            pattern("ana+school@x.org").as_deref(),
            Some("%ana+school@x.org%")
        );
        assert_eq!(pattern("12-3").as_deref(), Some("%12-3%"));
    }
}
