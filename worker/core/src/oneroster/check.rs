//! Checking: resolves every reference between the parsed files and derives what OneRoster does
//! not carry itself — calendars (a school's school year), student enrollments per calendar,
//! households, household phones and staff assignments.
//!
//! [`check`] runs one step per file, each using only what the steps before it indexed: orgs,
//! sessions, courses, classes (and the calendars they imply), users (with roles.csv), guardian
//! links, households, demographics, enrollments, the grade book (line items, then results), and
//! last the people with their contact methods and staff assignments. [`errors`] is the sink
//! every step reports to.
//!
//! What must stay true: every sourcedId a [`Roster`] mentions exists in the roster, so the
//! store's joins never drop a row; a problem becomes a [`RowError`] naming the referring row,
//! found in the order above (the caller sorts them).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;

use super::RowError;
use super::parse::{self, OrgKind, ParsedRoster, UserKind};
use crate::domain::PhoneKind;
use errors::{Errors, Referenced};

mod errors;

/// A roster with every reference resolved, ready to be written.
#[derive(Debug, Default)]
pub struct Roster {
    /// The district (`orgs.csv`, type `district`); `None` when there is none, which the check
    /// reports as a problem.
    pub district: Option<parse::Org>,
    /// The schools of `orgs.csv`.
    pub schools: Vec<parse::Org>,
    /// The terms and school years of `academicSessions.csv`.
    pub sessions: Vec<parse::Session>,
    /// One calendar per school and school year, derived from the classes' terms.
    pub calendars: Vec<CalendarRow>,
    /// The courses of `courses.csv`.
    pub courses: Vec<parse::Course>,
    /// Each class with the school year of its calendar.
    pub sections: Vec<(parse::Class, i32)>,
    /// Households: students and guardians connected by guardian links.
    pub households: Vec<HouseholdRow>,
    /// Every student, guardian and staff member of `users.csv`.
    pub people: Vec<PersonRow>,
    /// Guardian–student links, from either side's `agentSourcedIds`.
    pub links: Vec<LinkRow>,
    /// Staff assignments: one per school among a staff member's orgs, or district-wide.
    pub assignments: Vec<StaffAssignmentRow>,
    /// Contact methods of people and (shared phones) of households.
    pub methods: Vec<MethodRow>,
    /// One enrollment per student and calendar, spanning their class enrollments.
    pub enrollments: Vec<EnrollmentRow>,
    /// Class members (teachers and students) of `enrollments.csv`.
    pub members: Vec<MemberRow>,
    /// The grade book's assignments (`lineItems.csv`), each with its category's title if it has one.
    pub line_items: Vec<(parse::LineItem, Option<String>)>,
    /// The grade book's scores (`results.csv`), at most one per line item and student.
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

/// Resolves references and derives calendars, households and enrollments.
pub fn check(mut p: ParsedRoster) -> (Roster, Vec<RowError>) {
    let errors = Errors::new(
        std::mem::take(&mut p.errors),
        std::mem::take(&mut p.rejected),
    );
    // Users are completed from roles.csv before they are indexed, so they leave the input.
    let mut users = std::mem::take(&mut p.users.rows);
    let mut c = Checker::new(&p, errors);
    c.orgs();
    c.sessions();
    c.courses();
    c.classes();
    c.users(&mut users);
    c.index_users(&users);
    c.links();
    c.households();
    c.demographics();
    c.enrollments();
    c.line_items();
    c.results();
    c.people();
    (c.roster, c.e.errors)
}

/// One check in progress: the parsed input, the error sink, the indexes by sourcedId built so
/// far, and the roster under construction. Its methods run in [`check`]'s order, each one file
/// (or derived part) of the roster, and each relies only on the indexes built before it.
struct Checker<'a> {
    p: &'a ParsedRoster,
    e: Errors,
    roster: Roster,
    org_ix: HashMap<&'a str, usize>,
    session_ix: HashMap<&'a str, usize>,
    course_ix: HashMap<&'a str, usize>,
    class_ix: HashMap<&'a str, usize>,
    /// The school year of each class that became a section.
    class_year: HashMap<&'a str, i32>,
    /// users.csv completed from roles.csv; empty until [`Checker::index_users`].
    users: &'a [parse::User],
    user_ix: HashMap<&'a str, usize>,
    item_ix: HashMap<&'a str, usize>,
    /// Person sourcedId → household key.
    member_of: HashMap<String, String>,
    birth: HashMap<&'a str, NaiveDate>,
}

impl<'a> Checker<'a> {
    fn new(p: &'a ParsedRoster, e: Errors) -> Self {
        Self {
            p,
            e,
            roster: Roster::default(),
            org_ix: HashMap::new(),
            session_ix: HashMap::new(),
            course_ix: HashMap::new(),
            class_ix: HashMap::new(),
            class_year: HashMap::new(),
            users: &[],
            user_ix: HashMap::new(),
            item_ix: HashMap::new(),
            member_of: HashMap::new(),
            birth: HashMap::new(),
        }
    }

    fn is_org(&self, id: &str, kind: OrgKind) -> bool {
        self.org_ix
            .get(id)
            .is_some_and(|&i| self.p.orgs.rows[i].kind == kind)
    }

    fn is_school(&self, id: &str) -> bool {
        self.is_org(id, OrgKind::School)
    }

    fn user(&self, id: &str) -> Option<&'a parse::User> {
        let users = self.users;
        self.user_ix.get(id).map(|&i| &users[i])
    }

    fn kind_of(&self, id: &str) -> Option<UserKind> {
        self.user(id).and_then(|u| u.kind)
    }

    /// Orgs: exactly one district; schools.
    fn orgs(&mut self) {
        let p = self.p;
        self.org_ix = self.e.index("orgs.csv", "sourcedId", &p.orgs.rows, |o| {
            (o.sourced_id.as_str(), o.line)
        });
        let districts: Vec<&parse::Org> = p
            .orgs
            .rows
            .iter()
            .filter(|o| o.kind == OrgKind::District)
            .collect();
        if p.orgs.present && districts.len() != 1 {
            self.e.push(
                "orgs.csv",
                0,
                "type",
                format!(
                    "there must be exactly one org of type district; found {}",
                    districts.len()
                ),
            );
        }
        self.roster.district = districts.first().map(|d| (*d).clone());
        for o in &p.orgs.rows {
            if let Some(parent) = &o.parent
                && !self.org_ix.contains_key(parent.as_str())
            {
                let field = "parentSourcedId";
                self.e
                    .unknown_ref(Referenced::Org, "orgs.csv", o.line, field, parent);
            }
        }
        self.roster.schools = p
            .orgs
            .rows
            .iter()
            .filter(|o| o.kind == OrgKind::School)
            .cloned()
            .collect();
    }

    /// Sessions.
    fn sessions(&mut self) {
        let p = self.p;
        let file = "academicSessions.csv";
        self.session_ix = self.e.index(file, "sourcedId", &p.sessions.rows, |s| {
            (s.sourced_id.as_str(), s.line)
        });
        for s in &p.sessions.rows {
            if let Some(parent) = &s.parent
                && !self.session_ix.contains_key(parent.as_str())
            {
                let field = "parentSourcedId";
                self.e
                    .unknown_ref(Referenced::Session, file, s.line, field, parent);
            }
        }
        self.roster.sessions = p.sessions.rows.clone();
    }

    /// Courses.
    fn courses(&mut self) {
        let p = self.p;
        self.course_ix = self
            .e
            .index("courses.csv", "sourcedId", &p.courses.rows, |c| {
                (c.sourced_id.as_str(), c.line)
            });
        for c in &p.courses.rows {
            if let Some(org) = &c.org
                && !self.org_ix.contains_key(org.as_str())
            {
                let field = "orgSourcedId";
                self.e
                    .unknown_ref(Referenced::Org, "courses.csv", c.line, field, org);
            }
        }
        self.roster.courses = p
            .courses
            .rows
            .iter()
            .map(|c| {
                let mut c = c.clone();
                // A course owned by the district (or another non-school org) belongs to no school.
                if c.org.as_deref().is_some_and(|o| !self.is_school(o)) {
                    c.org = None;
                }
                c
            })
            .collect();
    }

    /// Classes and the calendars they imply.
    fn classes(&mut self) {
        let p = self.p;
        self.class_ix = self
            .e
            .index("classes.csv", "sourcedId", &p.classes.rows, |c| {
                (c.sourced_id.as_str(), c.line)
            });
        if p.classes.present && !p.courses.present {
            self.e.push(
                "courses.csv",
                0,
                "",
                "is missing, but classes.csv refers to courses".into(),
            );
        }
        let mut calendars: BTreeMap<(String, i32), (NaiveDate, NaiveDate)> = BTreeMap::new();
        for c in &p.classes.rows {
            if let Some(y) = self.class_school_year(c) {
                self.class_year.insert(c.sourced_id.as_str(), y);
                let dates = school_year_dates(&p.sessions.rows, y);
                calendars.insert((c.school.clone(), y), dates);
                self.roster.sections.push((c.clone(), y));
            }
        }
        self.roster.calendars = calendars
            .into_iter()
            .map(|((school, y), (start, end))| CalendarRow {
                school,
                school_year: y,
                name: format!("{}-{:02}", y - 1, y.rem_euclid(100)),
                start,
                end,
            })
            .collect();
    }

    /// Reports a class's unknown course, school and terms; its school year (that of its first
    /// term) when every reference resolves.
    fn class_school_year(&mut self, c: &parse::Class) -> Option<i32> {
        let p = self.p;
        let file = "classes.csv";
        let mut ok = true;
        if !self.course_ix.contains_key(c.course.as_str()) && p.courses.present {
            ok = false;
            let field = "courseSourcedId";
            self.e
                .unknown_ref(Referenced::Course, file, c.line, field, &c.course);
        }
        if !self.is_school(&c.school) {
            ok = false;
            let field = "schoolSourcedId";
            self.e
                .unknown_ref(Referenced::School, file, c.line, field, &c.school);
        }
        let mut year = None;
        for t in &c.terms {
            match self.session_ix.get(t.as_str()) {
                Some(&i) => {
                    year.get_or_insert(p.sessions.rows[i].school_year);
                }
                None => {
                    ok = false;
                    let field = "termSourcedIds";
                    self.e
                        .unknown_ref(Referenced::Session, file, c.line, field, t);
                }
            }
        }
        year.filter(|_| ok)
    }

    /// Users: kinds (1.1 `role`, or 1.2 roles.csv) and orgs.
    fn users(&mut self, users: &mut [parse::User]) {
        let mut role_orgs = if self.p.roles.present {
            self.roles(users)
        } else {
            HashMap::new()
        };
        for u in users {
            if let Some(orgs) = role_orgs.remove(&u.sourced_id) {
                for o in orgs {
                    if !u.orgs.contains(&o) {
                        u.orgs.push(o);
                    }
                }
            }
            if u.kind.is_none() {
                self.e.push(
                    "users.csv",
                    u.line,
                    "role",
                    "is required (a role column here, or a row in roles.csv)".into(),
                );
            }
            for o in &u.orgs {
                if !self.org_ix.contains_key(o.as_str()) {
                    let field = "orgSourcedIds";
                    self.e
                        .unknown_ref(Referenced::Org, "users.csv", u.line, field, o);
                }
            }
        }
    }

    /// Applies roles.csv to `users` (a primary role, or the first one, sets the kind); returns
    /// the orgs each user's roles add.
    fn roles(&mut self, users: &mut [parse::User]) -> HashMap<String, Vec<String>> {
        let p = self.p;
        let file = "roles.csv";
        let by_id: HashMap<String, usize> = users
            .iter()
            .enumerate()
            .rev()
            .map(|(i, u)| (u.sourced_id.clone(), i))
            .collect();
        let mut role_orgs: HashMap<String, Vec<String>> = HashMap::new();
        for r in &p.roles.rows {
            let Some(&i) = by_id.get(r.user.as_str()) else {
                let field = "userSourcedId";
                self.e
                    .unknown_ref(Referenced::User, file, r.line, field, &r.user);
                continue;
            };
            if !self.org_ix.contains_key(r.org.as_str()) {
                let field = "orgSourcedId";
                self.e
                    .unknown_ref(Referenced::Org, file, r.line, field, &r.org);
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
        role_orgs
    }

    fn index_users(&mut self, users: &'a [parse::User]) {
        self.users = users;
        self.user_ix = self.e.index("users.csv", "sourcedId", users, |u| {
            (u.sourced_id.as_str(), u.line)
        });
    }

    /// Guardian links, from either side's agentSourcedIds.
    fn links(&mut self) {
        let mut links: BTreeMap<(String, String), LinkRow> = BTreeMap::new();
        for u in self.users {
            for a in &u.agents {
                let Some((guardian, student)) = self.link(u, a) else {
                    continue;
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
        self.roster.links = links.into_values().collect();
    }

    /// The guardian and the student that `u`'s agent `a` links, if it names a user of a kind that
    /// can be linked to `u`'s (a problem is reported).
    fn link(&mut self, u: &'a parse::User, a: &str) -> Option<(&'a parse::User, &'a parse::User)> {
        let field = "agentSourcedIds";
        let Some(agent) = self.user(a) else {
            self.e
                .unknown_ref(Referenced::User, "users.csv", u.line, field, a);
            return None;
        };
        let agent_kind = agent.kind?;
        match (u.kind, agent_kind) {
            (Some(UserKind::Student), UserKind::Guardian) => Some((agent, u)),
            (Some(UserKind::Guardian), UserKind::Student) => Some((u, agent)),
            _ => {
                self.e.push(
                    "users.csv",
                    u.line,
                    field,
                    format!(
                        "'{a}' links a {} to a {}; only guardians and students are linked",
                        u.role, agent.role
                    ),
                );
                None
            }
        }
    }

    /// Households: connected students and guardians.
    fn households(&mut self) {
        let h = households(self.users, &self.user_ix, &self.roster.links);
        self.roster.households = h.rows;
        self.member_of = h.member_of;
    }

    /// Demographics.
    fn demographics(&mut self) {
        let p = self.p;
        for d in &p.demographics.rows {
            if !self.user_ix.contains_key(d.user.as_str()) {
                let (file, field) = ("demographics.csv", "sourcedId");
                self.e
                    .unknown_ref(Referenced::User, file, d.line, field, &d.user);
            } else if let Some(b) = d.birth_date {
                self.birth.insert(d.user.as_str(), b);
            }
        }
    }

    /// Enrollments → section members, and per-calendar student enrollments.
    fn enrollments(&mut self) {
        let p = self.p;
        let mut member_seen: HashMap<(&str, &str), u64> = HashMap::new();
        let mut per_calendar: BTreeMap<(String, String, i32), CalendarSpan> = BTreeMap::new();
        let _ = self
            .e
            .index("enrollments.csv", "sourcedId", &p.enrollments.rows, |x| {
                (x.sourced_id.as_str(), x.line)
            });
        for x in &p.enrollments.rows {
            if !self.enrollment_resolves(x) || matches!(x.role.as_str(), "guardian" | "parent") {
                continue;
            }
            if let Some(first) = member_seen.insert((x.class.as_str(), x.user.as_str()), x.line) {
                self.e.push(
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
            let role: &'static str = match x.role.as_str() {
                "student" => "student",
                _ => "teacher",
            };
            self.roster.members.push(MemberRow {
                sourced_id: x.sourced_id.clone(),
                class: x.class.clone(),
                user: x.user.clone(),
                role,
                begin: x.begin,
                end: x.end,
            });
            if role == "student" {
                self.add_to_calendar(&mut per_calendar, x);
            }
        }
        self.roster.enrollments = self.calendar_enrollments(per_calendar);
    }

    /// Reports an enrollment's unknown class, school and user, and a role its user does not
    /// have; whether it had none of these.
    fn enrollment_resolves(&mut self, x: &parse::Enrollment) -> bool {
        let file = "enrollments.csv";
        let mut ok = true;
        if !self.class_ix.contains_key(x.class.as_str()) {
            ok = false;
            let field = "classSourcedId";
            self.e
                .unknown_ref(Referenced::Class, file, x.line, field, &x.class);
        }
        if !self.is_school(&x.school) {
            ok = false;
            let field = "schoolSourcedId";
            self.e
                .unknown_ref(Referenced::School, file, x.line, field, &x.school);
        }
        let Some(user) = self.user(&x.user) else {
            let field = "userSourcedId";
            self.e
                .unknown_ref(Referenced::User, file, x.line, field, &x.user);
            return false;
        };
        let Some(k) = user.kind else { return false };
        // OneRoster 1.2 also enrolls parents and guardians in classes; they are checked against
        // users.csv like everyone else, then skipped (no section membership).
        let expected = match x.role.as_str() {
            "student" => UserKind::Student,
            "guardian" | "parent" => UserKind::Guardian,
            _ => UserKind::Staff,
        };
        if k != expected {
            self.e.push(
                file,
                x.line,
                "role",
                format!(
                    "'{}' is enrolled as {} but users.csv says {}",
                    x.user, x.role, user.role
                ),
            );
            return false;
        }
        ok
    }

    /// Widens the span of the student's enrollment in the calendar of `x`'s class, if that
    /// class became a section.
    fn add_to_calendar(
        &self,
        per_calendar: &mut BTreeMap<(String, String, i32), CalendarSpan>,
        x: &parse::Enrollment,
    ) {
        let (Some(&y), Some(&ci)) = (
            self.class_year.get(x.class.as_str()),
            self.class_ix.get(x.class.as_str()),
        ) else {
            return;
        };
        let class_school = &self.p.classes.rows[ci].school;
        let entry = per_calendar
            .entry((x.user.clone(), class_school.clone(), y))
            .or_insert((x.begin, x.end, x.end.is_none()));
        entry.0 = min_opt(entry.0, x.begin);
        entry.1 = max_opt(entry.1, x.end);
        entry.2 |= x.end.is_none();
    }

    /// One student enrollment per calendar, starting at the calendar's start when no class
    /// enrollment gave a begin date.
    fn calendar_enrollments(
        &self,
        per_calendar: BTreeMap<(String, String, i32), CalendarSpan>,
    ) -> Vec<EnrollmentRow> {
        let calendar_start: HashMap<(&str, i32), NaiveDate> = self
            .roster
            .calendars
            .iter()
            .map(|c| ((c.school.as_str(), c.school_year), c.start))
            .collect();
        per_calendar
            .into_iter()
            .map(|((student, school, y), (begin, end, open))| {
                let grade = self.user(&student).and_then(|u| u.grades.first().cloned());
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
            .collect()
    }

    /// Grade book: line items, with their category's title.
    fn line_items(&mut self) {
        let p = self.p;
        let file = "lineItems.csv";
        let categories: HashMap<&str, &str> = p
            .categories
            .rows
            .iter()
            .map(|c| (c.sourced_id.as_str(), c.title.as_str()))
            .collect();
        self.item_ix = self.e.index(file, "sourcedId", &p.line_items.rows, |l| {
            (l.sourced_id.as_str(), l.line)
        });
        for l in &p.line_items.rows {
            if !self.class_ix.contains_key(l.class.as_str()) {
                let field = "classSourcedId";
                self.e
                    .unknown_ref(Referenced::Class, file, l.line, field, &l.class);
                continue;
            }
            let category = match &l.category {
                None => None,
                Some(c) if p.categories.present => match categories.get(c.as_str()) {
                    Some(title) => Some((*title).to_string()),
                    None => {
                        let field = "categorySourcedId";
                        self.e
                            .unknown_ref(Referenced::Category, file, l.line, field, c);
                        continue;
                    }
                },
                Some(c) => Some(c.clone()),
            };
            self.roster.line_items.push((l.clone(), category));
        }
    }

    /// Grade book: results, at most one per line item and student.
    fn results(&mut self) {
        let p = self.p;
        let file = "results.csv";
        let _ = self.e.index(file, "sourcedId", &p.results.rows, |r| {
            (r.sourced_id.as_str(), r.line)
        });
        let mut result_seen: HashMap<(&str, &str), u64> = HashMap::new();
        for r in &p.results.rows {
            let mut ok = true;
            if !self.item_ix.contains_key(r.line_item.as_str()) {
                ok = false;
                let field = "lineItemSourcedId";
                self.e
                    .unknown_ref(Referenced::LineItem, file, r.line, field, &r.line_item);
            }
            if self.kind_of(&r.student) != Some(UserKind::Student) {
                ok = false;
                let field = "studentSourcedId";
                self.e
                    .unknown_ref(Referenced::Student, file, r.line, field, &r.student);
            }
            let key = (r.line_item.as_str(), r.student.as_str());
            if let Some(first) = result_seen.insert(key, r.line) {
                ok = false;
                self.e.push(
                    file,
                    r.line,
                    "studentSourcedId",
                    format!(
                        "'{}' already has a result for '{}' (line {first})",
                        r.student, r.line_item
                    ),
                );
            }
            if ok {
                self.roster.results.push(r.clone());
            }
        }
    }

    /// People, contact methods (household phones folded), staff assignments.
    fn people(&mut self) {
        self.roster.methods = contact_methods(self.users, &self.member_of);
        for u in self.users {
            let Some(kind) = u.kind else { continue };
            let person = self.person(u, kind);
            self.roster.people.push(person);
            if kind == UserKind::Staff {
                self.assign(u);
            }
        }
    }

    fn person(&self, u: &parse::User, kind: UserKind) -> PersonRow {
        PersonRow {
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
            household: self.member_of.get(u.sourced_id.as_str()).cloned(),
            active: u.active,
            birth_date: self.birth.get(u.sourced_id.as_str()).copied(),
        }
    }

    /// A staff member's assignments: one per school among their orgs, one for the district.
    fn assign(&mut self, u: &parse::User) {
        let mut places = BTreeSet::new();
        for o in &u.orgs {
            if self.is_school(o) {
                places.insert(Some(o.clone()));
            } else if self.is_org(o, OrgKind::District) {
                places.insert(None);
            }
        }
        for school in places {
            self.roster.assignments.push(StaffAssignmentRow {
                staff: u.sourced_id.clone(),
                school,
                title: u.role.clone(),
            });
        }
    }
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
