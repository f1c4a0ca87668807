//! Checking: resolves every reference between the parsed files and derives what OneRoster does
//! not carry itself — calendars (a school's school year), student enrollments per calendar,
//! households, household phones and staff assignments.
//!
//! What must stay true: every sourcedId a [`Roster`] mentions exists in the roster, so the
//! store's joins never drop a row; a problem becomes a [`RowError`] naming the referring row.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;

use super::RowError;
use super::parse::{self, OrgKind, ParsedRoster, UserKind};
use crate::domain::PhoneKind;

/// A roster with every reference resolved, ready to be written.
#[derive(Debug, Default)]
pub struct Roster {
    pub district: Option<parse::Org>,
    pub schools: Vec<parse::Org>,
    pub sessions: Vec<parse::Session>,
    pub calendars: Vec<CalendarRow>,
    pub courses: Vec<parse::Course>,
    /// Each class with the school year of its calendar.
    pub sections: Vec<(parse::Class, i32)>,
    pub households: Vec<HouseholdRow>,
    pub people: Vec<PersonRow>,
    pub links: Vec<LinkRow>,
    pub assignments: Vec<StaffAssignmentRow>,
    pub methods: Vec<MethodRow>,
    pub enrollments: Vec<EnrollmentRow>,
    pub members: Vec<MemberRow>,
    pub line_items: Vec<(parse::LineItem, Option<String>)>,
    pub results: Vec<parse::ResultRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    pub school: String,
    pub school_year: i32,
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct HouseholdRow {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct PersonRow {
    pub sourced_id: String,
    pub kind: &'static str,
    pub given_name: String,
    pub family_name: String,
    pub middle_name: Option<String>,
    pub username: Option<String>,
    pub identifier: Option<String>,
    pub grade_level: Option<String>,
    pub household: Option<String>,
    pub active: bool,
    pub birth_date: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct LinkRow {
    pub guardian: String,
    pub student: String,
    pub relationship: String,
    pub messenger_contact: bool,
}

#[derive(Debug, Clone)]
pub struct StaffAssignmentRow {
    pub staff: String,
    /// `None`: a district-wide assignment.
    pub school: Option<String>,
    pub title: String,
}

/// A contact method, owned by a person or (household phones) by a household.
#[derive(Debug, Clone)]
pub struct MethodRow {
    pub person: Option<String>,
    pub household: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub phone_kind: Option<PhoneKind>,
    pub sms_capable: bool,
}

#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    pub student: String,
    pub school: String,
    pub school_year: i32,
    pub grade_level: Option<String>,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub sourced_id: String,
    pub class: String,
    pub user: String,
    pub role: &'static str,
    pub begin: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

/// A student's first begin date, last end date, and whether any enrollment is open-ended.
type CalendarSpan = (Option<NaiveDate>, Option<NaiveDate>, bool);

struct Errors {
    errors: Vec<RowError>,
    /// The sourcedIds of rows that were present but rejected by [`parse`].
    rejected: HashSet<String>,
}

impl Errors {
    fn push(&mut self, file: &str, line: u64, field: &str, message: String) {
        self.errors.push(RowError {
            file: file.into(),
            line,
            field: field.into(),
            message,
        });
    }

    /// Records a reference to an unknown `id` — unless a row with that sourcedId was present but
    /// rejected for a bad field: that row already has its own error, and repeating it at every
    /// reference (a student's enrollments, results and guardians) would bury the real cause.
    /// Skipping is safe because the rejected row's error alone fails the import.
    fn unknown(&mut self, file: &str, line: u64, field: &str, id: &str, message: String) {
        if !self.rejected.contains(id) {
            self.push(file, line, field, message);
        }
    }

    /// Records duplicates of a sourcedId within one file; returns the index by id.
    fn index<'a, T>(
        &mut self,
        file: &str,
        field: &str,
        rows: &'a [T],
        id: impl Fn(&'a T) -> (&'a str, u64),
    ) -> HashMap<&'a str, usize> {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let (key, line) = id(row);
            if key.is_empty() {
                continue;
            }
            if let Some(&first) = seen.get(key) {
                let first_line = id(&rows[first]).1;
                self.push(
                    file,
                    line,
                    field,
                    format!("'{key}' is a duplicate (first on line {first_line})"),
                );
            } else {
                seen.insert(key, i);
            }
        }
        seen
    }
}

/// Resolves references and derives calendars, households and enrollments.
pub fn check(mut p: ParsedRoster) -> (Roster, Vec<RowError>) {
    let mut e = Errors {
        errors: std::mem::take(&mut p.errors),
        rejected: std::mem::take(&mut p.rejected),
    };
    let mut roster = Roster::default();

    // Orgs: exactly one district; schools.
    let org_ix = e.index("orgs.csv", "sourcedId", &p.orgs.rows, |o| {
        (o.sourced_id.as_str(), o.line)
    });
    let districts: Vec<&parse::Org> = p
        .orgs
        .rows
        .iter()
        .filter(|o| o.kind == OrgKind::District)
        .collect();
    if p.orgs.present && districts.len() != 1 {
        e.push(
            "orgs.csv",
            0,
            "type",
            format!(
                "there must be exactly one org of type district; found {}",
                districts.len()
            ),
        );
    }
    roster.district = districts.first().map(|d| (*d).clone());
    for o in &p.orgs.rows {
        if let Some(parent) = &o.parent
            && !org_ix.contains_key(parent.as_str())
        {
            e.unknown(
                "orgs.csv",
                o.line,
                "parentSourcedId",
                parent,
                format!("'{parent}' is not an org in orgs.csv"),
            );
        }
    }
    roster.schools = p
        .orgs
        .rows
        .iter()
        .filter(|o| o.kind == OrgKind::School)
        .cloned()
        .collect();
    let is_school = |id: &str| {
        org_ix
            .get(id)
            .is_some_and(|&i| p.orgs.rows[i].kind == OrgKind::School)
    };
    let is_district = |id: &str| {
        org_ix
            .get(id)
            .is_some_and(|&i| p.orgs.rows[i].kind == OrgKind::District)
    };

    // Sessions.
    let session_ix = e.index("academicSessions.csv", "sourcedId", &p.sessions.rows, |s| {
        (s.sourced_id.as_str(), s.line)
    });
    for s in &p.sessions.rows {
        if let Some(parent) = &s.parent
            && !session_ix.contains_key(parent.as_str())
        {
            e.unknown(
                "academicSessions.csv",
                s.line,
                "parentSourcedId",
                parent,
                format!("'{parent}' is not a session in academicSessions.csv"),
            );
        }
    }
    roster.sessions = p.sessions.rows.clone();

    // Courses.
    let course_ix = e.index("courses.csv", "sourcedId", &p.courses.rows, |c| {
        (c.sourced_id.as_str(), c.line)
    });
    for c in &p.courses.rows {
        if let Some(org) = &c.org
            && !org_ix.contains_key(org.as_str())
        {
            e.unknown(
                "courses.csv",
                c.line,
                "orgSourcedId",
                org,
                format!("'{org}' is not an org in orgs.csv"),
            );
        }
    }
    roster.courses = p
        .courses
        .rows
        .iter()
        .map(|c| {
            let mut c = c.clone();
            // A course owned by the district (or another non-school org) belongs to no school.
            if c.org.as_deref().is_some_and(|o| !is_school(o)) {
                c.org = None;
            }
            c
        })
        .collect();

    // Classes and the calendars they imply.
    let class_ix = e.index("classes.csv", "sourcedId", &p.classes.rows, |c| {
        (c.sourced_id.as_str(), c.line)
    });
    if p.classes.present && !p.courses.present {
        e.push(
            "courses.csv",
            0,
            "",
            "is missing, but classes.csv refers to courses".into(),
        );
    }
    let mut calendars: BTreeMap<(String, i32), (NaiveDate, NaiveDate)> = BTreeMap::new();
    let mut class_year: HashMap<&str, i32> = HashMap::new();
    for c in &p.classes.rows {
        let mut ok = true;
        if !course_ix.contains_key(c.course.as_str()) && p.courses.present {
            ok = false;
            e.unknown(
                "classes.csv",
                c.line,
                "courseSourcedId",
                &c.course,
                format!("'{}' is not a course in courses.csv", c.course),
            );
        }
        if !is_school(&c.school) {
            ok = false;
            e.unknown(
                "classes.csv",
                c.line,
                "schoolSourcedId",
                &c.school,
                format!("'{}' is not a school in orgs.csv", c.school),
            );
        }
        let mut year = None;
        for t in &c.terms {
            match session_ix.get(t.as_str()) {
                Some(&i) => {
                    year.get_or_insert(p.sessions.rows[i].school_year);
                }
                None => {
                    ok = false;
                    e.unknown(
                        "classes.csv",
                        c.line,
                        "termSourcedIds",
                        t,
                        format!("'{t}' is not a session in academicSessions.csv"),
                    );
                }
            }
        }
        if let (true, Some(y)) = (ok, year) {
            class_year.insert(c.sourced_id.as_str(), y);
            let (start, end) = school_year_dates(&p.sessions.rows, y);
            calendars.insert((c.school.clone(), y), (start, end));
            roster.sections.push((c.clone(), y));
        }
    }
    roster.calendars = calendars
        .into_iter()
        .map(|((school, y), (start, end))| CalendarRow {
            school,
            school_year: y,
            name: format!("{}-{:02}", y - 1, y.rem_euclid(100)),
            start,
            end,
        })
        .collect();

    // Users: kinds (1.1 `role`, or 1.2 roles.csv), orgs, agents.
    let mut users = std::mem::take(&mut p.users.rows);
    let mut role_orgs: HashMap<String, Vec<String>> = HashMap::new();
    if p.roles.present {
        let by_id: HashMap<String, usize> = users
            .iter()
            .enumerate()
            .rev()
            .map(|(i, u)| (u.sourced_id.clone(), i))
            .collect();
        for r in &p.roles.rows {
            match by_id.get(r.user.as_str()) {
                None => e.unknown(
                    "roles.csv",
                    r.line,
                    "userSourcedId",
                    &r.user,
                    format!("'{}' is not a user in users.csv", r.user),
                ),
                Some(&i) => {
                    if !org_ix.contains_key(r.org.as_str()) {
                        e.unknown(
                            "roles.csv",
                            r.line,
                            "orgSourcedId",
                            &r.org,
                            format!("'{}' is not an org in orgs.csv", r.org),
                        );
                    }
                    let u = &mut users[i];
                    if r.primary || u.kind.is_none() {
                        u.kind = parse::kind_of_role(&r.role);
                        u.role.clone_from(&r.role);
                    }
                    role_orgs
                        .entry(r.user.clone())
                        .or_default()
                        .push(r.org.clone());
                }
            }
        }
    }
    for u in &mut users {
        if let Some(orgs) = role_orgs.remove(&u.sourced_id) {
            for o in orgs {
                if !u.orgs.contains(&o) {
                    u.orgs.push(o);
                }
            }
        }
        if u.kind.is_none() {
            e.push(
                "users.csv",
                u.line,
                "role",
                "is required (a role column here, or a row in roles.csv)".into(),
            );
        }
        for o in &u.orgs {
            if !org_ix.contains_key(o.as_str()) {
                e.unknown(
                    "users.csv",
                    u.line,
                    "orgSourcedIds",
                    o,
                    format!("'{o}' is not an org in orgs.csv"),
                );
            }
        }
    }
    let users = users;
    let user_ix = e.index("users.csv", "sourcedId", &users, |u| {
        (u.sourced_id.as_str(), u.line)
    });
    let kind_of = |id: &str| user_ix.get(id).and_then(|&i| users[i].kind);

    // Guardian links, from either side's agentSourcedIds.
    let mut links: BTreeMap<(String, String), LinkRow> = BTreeMap::new();
    for u in &users {
        for a in &u.agents {
            let Some(agent_kind) = kind_of(a) else {
                if !user_ix.contains_key(a.as_str()) {
                    e.unknown(
                        "users.csv",
                        u.line,
                        "agentSourcedIds",
                        a,
                        format!("'{a}' is not a user in users.csv"),
                    );
                }
                continue;
            };
            let (guardian, student) = match (u.kind, agent_kind) {
                (Some(UserKind::Student), UserKind::Guardian) => (&users[user_ix[a.as_str()]], u),
                (Some(UserKind::Guardian), UserKind::Student) => (u, &users[user_ix[a.as_str()]]),
                _ => {
                    e.push(
                        "users.csv",
                        u.line,
                        "agentSourcedIds",
                        format!(
                            "'{a}' links a {} to a {}; only guardians and students are linked",
                            u.role,
                            users[user_ix[a.as_str()]].role
                        ),
                    );
                    continue;
                }
            };
            links
                .entry((guardian.sourced_id.clone(), student.sourced_id.clone()))
                .or_insert_with(|| LinkRow {
                    guardian: guardian.sourced_id.clone(),
                    student: student.sourced_id.clone(),
                    relationship: guardian.role.to_lowercase(),
                    messenger_contact: guardian.messenger_contact,
                });
        }
    }
    roster.links = links.into_values().collect();

    // Households: connected students and guardians.
    let households = households(&users, &user_ix, &roster.links);

    // Demographics.
    let mut birth: HashMap<&str, NaiveDate> = HashMap::new();
    for d in &p.demographics.rows {
        if !user_ix.contains_key(d.user.as_str()) {
            e.unknown(
                "demographics.csv",
                d.line,
                "sourcedId",
                &d.user,
                format!("'{}' is not a user in users.csv", d.user),
            );
        } else if let Some(b) = d.birth_date {
            birth.insert(d.user.as_str(), b);
        }
    }

    // Enrollments → section members, and per-calendar student enrollments.
    let mut member_seen: HashMap<(&str, &str), u64> = HashMap::new();
    let mut per_calendar: BTreeMap<(String, String, i32), CalendarSpan> = BTreeMap::new();
    let enrollment_ix = e.index("enrollments.csv", "sourcedId", &p.enrollments.rows, |x| {
        (x.sourced_id.as_str(), x.line)
    });
    let _ = enrollment_ix;
    for x in &p.enrollments.rows {
        let mut ok = true;
        if !class_ix.contains_key(x.class.as_str()) {
            ok = false;
            e.unknown(
                "enrollments.csv",
                x.line,
                "classSourcedId",
                &x.class,
                format!("'{}' is not a class in classes.csv", x.class),
            );
        }
        if !is_school(&x.school) {
            ok = false;
            e.unknown(
                "enrollments.csv",
                x.line,
                "schoolSourcedId",
                &x.school,
                format!("'{}' is not a school in orgs.csv", x.school),
            );
        }
        let role: &'static str = match x.role.as_str() {
            "student" => "student",
            _ => "teacher",
        };
        match kind_of(&x.user) {
            None => {
                ok = false;
                if !user_ix.contains_key(x.user.as_str()) {
                    e.unknown(
                        "enrollments.csv",
                        x.line,
                        "userSourcedId",
                        &x.user,
                        format!("'{}' is not a user in users.csv", x.user),
                    );
                }
            }
            Some(k) => {
                // OneRoster 1.2 also enrolls parents and guardians in classes; they are checked
                // against users.csv like everyone else, then skipped (no section membership).
                let expected = match x.role.as_str() {
                    "student" => UserKind::Student,
                    "guardian" | "parent" => UserKind::Guardian,
                    _ => UserKind::Staff,
                };
                if k != expected {
                    ok = false;
                    e.push(
                        "enrollments.csv",
                        x.line,
                        "role",
                        format!(
                            "'{}' is enrolled as {} but users.csv says {}",
                            x.user,
                            x.role,
                            users[user_ix[x.user.as_str()]].role
                        ),
                    );
                }
            }
        }
        if !ok || matches!(x.role.as_str(), "guardian" | "parent") {
            continue;
        }
        if let Some(first) = member_seen.insert((x.class.as_str(), x.user.as_str()), x.line) {
            e.push(
                "enrollments.csv",
                x.line,
                "userSourcedId",
                format!(
                    "'{}' is already enrolled in class '{}' (line {first})",
                    x.user, x.class
                ),
            );
            continue;
        }
        roster.members.push(MemberRow {
            sourced_id: x.sourced_id.clone(),
            class: x.class.clone(),
            user: x.user.clone(),
            role,
            begin: x.begin,
            end: x.end,
        });
        if role == "student"
            && let Some(&y) = class_year.get(x.class.as_str())
        {
            let class_school = &p.classes.rows[class_ix[x.class.as_str()]].school;
            let entry = per_calendar
                .entry((x.user.clone(), class_school.clone(), y))
                .or_insert((x.begin, x.end, x.end.is_none()));
            entry.0 = min_opt(entry.0, x.begin);
            entry.1 = max_opt(entry.1, x.end);
            entry.2 |= x.end.is_none();
        }
    }
    let calendar_start: HashMap<(&str, i32), NaiveDate> = roster
        .calendars
        .iter()
        .map(|c| ((c.school.as_str(), c.school_year), c.start))
        .collect();
    roster.enrollments = per_calendar
        .into_iter()
        .map(|((student, school, y), (begin, end, open))| {
            let grade = user_ix
                .get(student.as_str())
                .and_then(|&i| users[i].grades.first().cloned());
            let start = begin
                .or_else(|| calendar_start.get(&(school.as_str(), y)).copied())
                .unwrap_or(NaiveDate::MIN);
            EnrollmentRow {
                student,
                school,
                school_year: y,
                grade_level: grade,
                start,
                end: if open { None } else { end },
            }
        })
        .collect();

    // Grade book.
    let categories: HashMap<&str, &str> = p
        .categories
        .rows
        .iter()
        .map(|c| (c.sourced_id.as_str(), c.title.as_str()))
        .collect();
    let item_ix = e.index("lineItems.csv", "sourcedId", &p.line_items.rows, |l| {
        (l.sourced_id.as_str(), l.line)
    });
    for l in &p.line_items.rows {
        if !class_ix.contains_key(l.class.as_str()) {
            e.unknown(
                "lineItems.csv",
                l.line,
                "classSourcedId",
                &l.class,
                format!("'{}' is not a class in classes.csv", l.class),
            );
            continue;
        }
        let category = match &l.category {
            None => None,
            Some(c) if p.categories.present => match categories.get(c.as_str()) {
                Some(title) => Some((*title).to_string()),
                None => {
                    e.unknown(
                        "lineItems.csv",
                        l.line,
                        "categorySourcedId",
                        c,
                        format!("'{c}' is not a category in categories.csv"),
                    );
                    continue;
                }
            },
            Some(c) => Some(c.clone()),
        };
        roster.line_items.push((l.clone(), category));
    }
    let _ = e.index("results.csv", "sourcedId", &p.results.rows, |r| {
        (r.sourced_id.as_str(), r.line)
    });
    let mut result_seen: HashMap<(&str, &str), u64> = HashMap::new();
    for r in &p.results.rows {
        let mut ok = true;
        if !item_ix.contains_key(r.line_item.as_str()) {
            ok = false;
            e.unknown(
                "results.csv",
                r.line,
                "lineItemSourcedId",
                &r.line_item,
                format!("'{}' is not a line item in lineItems.csv", r.line_item),
            );
        }
        if kind_of(&r.student) != Some(UserKind::Student) {
            ok = false;
            e.unknown(
                "results.csv",
                r.line,
                "studentSourcedId",
                &r.student,
                format!("'{}' is not a student in users.csv", r.student),
            );
        }
        if let Some(first) = result_seen.insert((r.line_item.as_str(), r.student.as_str()), r.line)
        {
            ok = false;
            e.push(
                "results.csv",
                r.line,
                "studentSourcedId",
                format!(
                    "'{}' already has a result for '{}' (line {first})",
                    r.student, r.line_item
                ),
            );
        }
        if ok {
            roster.results.push(r.clone());
        }
    }

    // People, contact methods (household phones folded), staff assignments.
    roster.methods = contact_methods(&users, &households.member_of);
    for u in &users {
        let Some(kind) = u.kind else { continue };
        let household = households.member_of.get(u.sourced_id.as_str()).cloned();
        roster.people.push(PersonRow {
            sourced_id: u.sourced_id.clone(),
            kind: match kind {
                UserKind::Student => "student",
                UserKind::Guardian => "guardian",
                UserKind::Staff => "staff",
            },
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            middle_name: u.middle_name.clone(),
            username: u.username.clone(),
            identifier: u.identifier.clone(),
            grade_level: if kind == UserKind::Student {
                u.grades.first().cloned()
            } else {
                None
            },
            household,
            active: u.active,
            birth_date: birth.get(u.sourced_id.as_str()).copied(),
        });
        if kind == UserKind::Staff {
            let mut places = BTreeSet::new();
            for o in &u.orgs {
                if is_school(o) {
                    places.insert(Some(o.clone()));
                } else if is_district(o) {
                    places.insert(None);
                }
            }
            for school in places {
                roster.assignments.push(StaffAssignmentRow {
                    staff: u.sourced_id.clone(),
                    school,
                    title: u.role.clone(),
                });
            }
        }
    }
    roster.households = households.rows;

    (roster, e.errors)
}

fn min_opt(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// The dates of school year `y`: its schoolYear session's, else the span of its sessions.
fn school_year_dates(sessions: &[parse::Session], y: i32) -> (NaiveDate, NaiveDate) {
    if let Some(s) = sessions
        .iter()
        .find(|s| s.kind == "schoolYear" && s.school_year == y)
    {
        return (s.start, s.end);
    }
    let of_year = sessions.iter().filter(|s| s.school_year == y);
    let start = of_year
        .clone()
        .map(|s| s.start)
        .min()
        .unwrap_or(NaiveDate::MIN);
    let end = of_year.map(|s| s.end).max().unwrap_or(start);
    (start, end)
}

struct Households {
    rows: Vec<HouseholdRow>,
    /// Person sourcedId → household key.
    member_of: HashMap<String, String>,
}

/// Union-find over the guardian links: each connected group of students and guardians is one
/// household, keyed by its smallest sourcedId so the key survives re-imports.
fn households(
    users: &[parse::User],
    user_ix: &HashMap<&str, usize>,
    links: &[LinkRow],
) -> Households {
    let mut parent: Vec<usize> = (0..users.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for l in links {
        let (a, b) = (user_ix[l.guardian.as_str()], user_ix[l.student.as_str()]);
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, u) in users.iter().enumerate() {
        if matches!(u.kind, Some(UserKind::Student | UserKind::Guardian)) {
            let root = find(&mut parent, i);
            groups.entry(root).or_default().push(i);
        }
    }
    let mut rows = Vec::with_capacity(groups.len());
    let mut member_of = HashMap::with_capacity(users.len());
    for members in groups.values() {
        let key_member = members
            .iter()
            .map(|&i| users[i].sourced_id.as_str())
            .min()
            .unwrap_or_default();
        let key = format!("hh:{key_member}");
        let namesake = members
            .iter()
            .filter(|&&i| users[i].kind == Some(UserKind::Guardian))
            .min_by_key(|&&i| users[i].sourced_id.as_str())
            .or_else(|| members.first())
            .map(|&i| users[i].family_name.as_str())
            .unwrap_or("Unnamed");
        rows.push(HouseholdRow {
            key: key.clone(),
            name: format!("{namesake} household"),
        });
        for &i in members {
            member_of.insert(users[i].sourced_id.clone(), key.clone());
        }
    }
    Households { rows, member_of }
}

/// Each user's email, SMS cell and phone; a `phone` shared by two or more guardians of one
/// household becomes one household phone instead.
fn contact_methods(users: &[parse::User], member_of: &HashMap<String, String>) -> Vec<MethodRow> {
    let mut shared: HashMap<(String, String), usize> = HashMap::new();
    for u in users.iter().filter(|u| u.kind == Some(UserKind::Guardian)) {
        if let (Some(p), Some(h)) = (&u.phone, member_of.get(&u.sourced_id)) {
            *shared
                .entry((h.clone(), p.as_str().to_string()))
                .or_default() += 1;
        }
    }
    shared.retain(|_, n| *n >= 2);
    let mut out = Vec::new();
    for (household, phone) in shared.keys() {
        out.push(MethodRow {
            person: None,
            household: Some(household.clone()),
            email: None,
            phone: Some(phone.clone()),
            phone_kind: Some(PhoneKind::Home),
            sms_capable: false,
        });
    }
    for u in users.iter().filter(|u| u.kind.is_some()) {
        if let Some(email) = &u.email {
            out.push(MethodRow {
                person: Some(u.sourced_id.clone()),
                household: None,
                email: Some(email.as_str().to_string()),
                phone: None,
                phone_kind: None,
                sms_capable: false,
            });
        }
        if let Some(sms) = &u.sms {
            out.push(MethodRow {
                person: Some(u.sourced_id.clone()),
                household: None,
                email: None,
                phone: Some(sms.as_str().to_string()),
                phone_kind: Some(PhoneKind::Cell),
                sms_capable: true,
            });
        }
        if let Some(phone) = &u.phone {
            let in_household = member_of
                .get(&u.sourced_id)
                .is_some_and(|h| shared.contains_key(&(h.clone(), phone.as_str().to_string())));
            let same_as_sms = u.sms.as_ref().is_some_and(|s| s == phone);
            if !in_household && !same_as_sms {
                out.push(MethodRow {
                    person: Some(u.sourced_id.clone()),
                    household: None,
                    email: None,
                    phone: Some(phone.as_str().to_string()),
                    phone_kind: Some(u.phone_kind),
                    sms_capable: false,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::source::Files;
    use super::*;

    fn roster(files: &[(&str, &str)]) -> Vec<RowError> {
        let mut f = Files::default();
        for (name, text) in files {
            f.0.insert(name.to_lowercase(), text.as_bytes().to_vec());
        }
        check(parse::parse_all(&f)).1
    }

    const ORGS: &str = "sourcedId,name,type,parentSourcedId\nd1,D,district,\ns1,S,school,d1\n";
    const SESSIONS: &str = "sourcedId,title,type,startDate,endDate,schoolYear\n\
                            y1,2026-27,schoolYear,2026-08-24,2027-06-04,2027\n";
    const CLASSES: &str =
        "sourcedId,title,courseSourcedId,schoolSourcedId,termSourcedIds\nk1,K,c1,s1,y1\n";
    const COURSES: &str = "sourcedId,title\nc1,C\n";

    #[test]
    fn a_row_rejected_for_a_bad_field_is_reported_once_not_at_every_reference() {
        let errors = roster(&[
            ("orgs.csv", ORGS),
            ("academicSessions.csv", SESSIONS),
            ("courses.csv", COURSES),
            ("classes.csv", CLASSES),
            (
                "users.csv",
                "sourcedId,role,givenName,familyName,email,agentSourcedIds\n\
                 st1,student,Ana,Lee,ana@,g1\ng1,parent,Pat,Lee,,st1\n",
            ),
            (
                "enrollments.csv",
                "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\ne1,k1,s1,st1,student\n\
                 e2,k1,s1,nobody,student\n",
            ),
        ]);
        let at: Vec<(&str, u64, &str)> = errors
            .iter()
            .map(|e| (e.file.as_str(), e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            at,
            vec![
                ("users.csv", 2, "email"),
                ("enrollments.csv", 3, "userSourcedId")
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn parents_enrolled_in_a_class_are_accepted_and_get_no_section_membership() {
        let mut f = Files::default();
        for (name, text) in [
            ("orgs.csv", ORGS),
            ("academicSessions.csv", SESSIONS),
            ("courses.csv", COURSES),
            ("classes.csv", CLASSES),
            (
                "users.csv",
                "sourcedId,role,givenName,familyName,agentSourcedIds\nst1,student,Ana,Lee,g1\n\
                 g1,parent,Pat,Lee,st1\nt1,teacher,Tom,Ray,\n",
            ),
            (
                "enrollments.csv",
                "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\ne1,k1,s1,st1,student\n\
                 e2,k1,s1,g1,parent\ne3,k1,s1,t1,parent\n",
            ),
        ] {
            f.0.insert(name.to_lowercase(), text.as_bytes().to_vec());
        }
        let (roster, errors) = check(parse::parse_all(&f));
        let at: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            at,
            vec![(4, "role")],
            "only the teacher enrolled as a parent is wrong: {errors:#?}"
        );
        let members: Vec<&str> = roster.members.iter().map(|m| m.user.as_str()).collect();
        assert_eq!(members, vec!["st1"]);
    }
}
