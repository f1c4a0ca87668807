//! Parsing: every CSV row becomes a typed record, or a [`RowError`] naming its file, line and
//! field. Columns are found by header name (case-insensitively, in any order); unknown columns
//! are ignored. This module checks each row on its own; references between rows are
//! [`super::check`]'s job.
//!
//! What must stay true: a value that reaches a record has been parsed (dates are dates, emails
//! are [`EmailAddress`]es, phones are E.164 [`PhoneNumber`]s); a row with any bad field yields
//! errors and no record.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::RowError;
use super::source::Files;
use crate::domain::{EmailAddress, PhoneKind, PhoneNumber};

/// One parsed CSV file: the records and the line each came from.
#[derive(Debug)]
pub struct Parsed<T> {
    pub rows: Vec<T>,
    /// Whether the file was present at all.
    pub present: bool,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            present: false,
        }
    }
}

/// Every file of a roster, parsed, with the errors found so far.
#[derive(Debug, Default)]
pub struct ParsedRoster {
    pub orgs: Parsed<Org>,
    pub sessions: Parsed<Session>,
    pub courses: Parsed<Course>,
    pub classes: Parsed<Class>,
    pub users: Parsed<User>,
    pub roles: Parsed<RoleRow>,
    pub enrollments: Parsed<Enrollment>,
    pub categories: Parsed<Category>,
    pub line_items: Parsed<LineItem>,
    pub results: Parsed<ResultRow>,
    pub demographics: Parsed<Demographic>,
    pub errors: Vec<RowError>,
    /// The sourcedIds of rows that were present but rejected for a bad field, so that checking
    /// does not report every reference to them as unknown as well.
    pub rejected: HashSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    District,
    School,
    Other,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub line: u64,
    pub sourced_id: String,
    pub name: String,
    pub kind: OrgKind,
    pub identifier: Option<String>,
    pub parent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub line: u64,
    pub sourced_id: String,
    pub title: String,
    pub kind: &'static str,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub parent: Option<String>,
    pub school_year: i32,
}

#[derive(Debug, Clone)]
pub struct Course {
    pub line: u64,
    pub sourced_id: String,
    pub title: String,
    pub code: Option<String>,
    pub org: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Class {
    pub line: u64,
    pub sourced_id: String,
    pub title: String,
    pub code: Option<String>,
    pub course: String,
    pub school: String,
    pub terms: Vec<String>,
}

/// What a user is, by their OneRoster role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Student,
    Guardian,
    Staff,
}

#[derive(Debug, Clone)]
pub struct User {
    pub line: u64,
    pub sourced_id: String,
    pub active: bool,
    /// The OneRoster role as written (`teacher`, `parent`, …); empty for 1.2 until `roles.csv`.
    pub role: String,
    pub kind: Option<UserKind>,
    pub orgs: Vec<String>,
    pub username: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub middle_name: Option<String>,
    pub identifier: Option<String>,
    pub email: Option<EmailAddress>,
    pub sms: Option<PhoneNumber>,
    pub phone: Option<PhoneNumber>,
    pub phone_kind: PhoneKind,
    pub agents: Vec<String>,
    pub grades: Vec<String>,
    pub messenger_contact: bool,
}

/// OneRoster 1.2 `roles.csv`: a user's role at an org.
#[derive(Debug, Clone)]
pub struct RoleRow {
    pub line: u64,
    pub user: String,
    pub primary: bool,
    pub role: String,
    pub org: String,
}

#[derive(Debug, Clone)]
pub struct Enrollment {
    pub line: u64,
    pub sourced_id: String,
    pub class: String,
    pub school: String,
    pub user: String,
    pub role: String,
    pub begin: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Category {
    pub sourced_id: String,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct LineItem {
    pub line: u64,
    pub sourced_id: String,
    pub title: String,
    pub category: Option<String>,
    pub assign_date: Option<NaiveDate>,
    pub due_date: NaiveDate,
    pub class: String,
    /// A positive decimal, as written.
    pub max_score: String,
}

#[derive(Debug, Clone)]
pub struct ResultRow {
    pub line: u64,
    pub sourced_id: String,
    pub line_item: String,
    pub student: String,
    pub status: &'static str,
    /// A decimal, as written.
    pub score: Option<String>,
    pub score_date: Option<NaiveDate>,
    pub comment: Option<String>,
    pub missing: bool,
}

#[derive(Debug, Clone)]
pub struct Demographic {
    pub line: u64,
    pub user: String,
    pub birth_date: Option<NaiveDate>,
}

/// Parses every known file present in `files`.
pub fn parse_all(files: &Files) -> ParsedRoster {
    let mut r = ParsedRoster::default();
    let e = &mut (
        std::mem::take(&mut r.errors),
        std::mem::take(&mut r.rejected),
    );
    r.orgs = parse_file(
        files,
        "orgs.csv",
        true,
        &["sourcedId", "name", "type"],
        e,
        org,
    );
    r.sessions = parse_file(
        files,
        "academicSessions.csv",
        true,
        &[
            "sourcedId",
            "title",
            "type",
            "startDate",
            "endDate",
            "schoolYear",
        ],
        e,
        session,
    );
    r.courses = parse_file(
        files,
        "courses.csv",
        false,
        &["sourcedId", "title"],
        e,
        course,
    );
    r.classes = parse_file(
        files,
        "classes.csv",
        false,
        &[
            "sourcedId",
            "title",
            "courseSourcedId",
            "schoolSourcedId",
            "termSourcedIds",
        ],
        e,
        class,
    );
    r.users = parse_file(
        files,
        "users.csv",
        true,
        &["sourcedId", "givenName", "familyName"],
        e,
        user,
    );
    r.roles = parse_file(
        files,
        "roles.csv",
        false,
        &["userSourcedId", "role", "orgSourcedId"],
        e,
        role_row,
    );
    r.enrollments = parse_file(
        files,
        "enrollments.csv",
        false,
        &[
            "sourcedId",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
        ],
        e,
        enrollment,
    );
    r.categories = parse_file(
        files,
        "categories.csv",
        false,
        &["sourcedId", "title"],
        e,
        category,
    );
    r.line_items = parse_file(
        files,
        "lineItems.csv",
        false,
        &["sourcedId", "title", "dueDate", "classSourcedId"],
        e,
        line_item,
    );
    r.results = parse_file(
        files,
        "results.csv",
        false,
        &[
            "sourcedId",
            "lineItemSourcedId",
            "studentSourcedId",
            "scoreStatus",
        ],
        e,
        result_row,
    );
    r.demographics = parse_file(
        files,
        "demographics.csv",
        false,
        &["sourcedId"],
        e,
        demographic,
    );
    (r.errors, r.rejected) = std::mem::take(e);
    r
}

/// The cells of one row, with the file's column positions, collecting errors as it is read.
pub struct Row<'a> {
    file: &'static str,
    line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
    errors: &'a mut Vec<RowError>,
    ok: bool,
}

impl Row<'_> {
    fn fail(&mut self, field: &str, message: String) {
        self.ok = false;
        self.errors.push(RowError {
            file: self.file.to_string(),
            line: self.line,
            field: field.to_string(),
            message,
        });
    }

    /// The trimmed cell, `None` when the column is absent or the cell empty.
    fn text(&self, field: &str) -> Option<&str> {
        self.columns
            .get(&field.to_lowercase())
            .and_then(|&i| self.record.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn opt(&self, field: &str) -> Option<String> {
        self.text(field).map(str::to_string)
    }

    fn req(&mut self, field: &str) -> String {
        match self.text(field) {
            Some(v) => v.to_string(),
            None => {
                self.fail(field, "is required but empty".into());
                String::new()
            }
        }
    }

    fn date(&mut self, field: &str) -> Option<NaiveDate> {
        let raw = self.text(field)?.to_string();
        match NaiveDate::parse_from_str(&raw, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(
                    field,
                    format!("'{raw}' is not a date in the form YYYY-MM-DD"),
                );
                None
            }
        }
    }

    fn req_date(&mut self, field: &str) -> NaiveDate {
        if self.text(field).is_none() {
            self.fail(field, "is required but empty".into());
            return NaiveDate::MIN;
        }
        self.date(field).unwrap_or(NaiveDate::MIN)
    }

    fn list(&self, field: &str) -> Vec<String> {
        self.text(field)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn decimal(&mut self, field: &str) -> Option<String> {
        let raw = self.text(field)?.to_string();
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(raw),
            _ => {
                self.fail(field, format!("'{raw}' is not a number"));
                None
            }
        }
    }

    fn boolean(&mut self, field: &str, default: bool) -> bool {
        match self.text(field).map(str::to_lowercase).as_deref() {
            None => default,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                let other = other.to_string();
                self.fail(field, format!("'{other}' is not true or false"));
                default
            }
        }
    }

    fn one_of(&mut self, field: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
        let raw = self.text(field)?.to_string();
        match allowed.iter().find(|a| a.eq_ignore_ascii_case(&raw)) {
            Some(a) => Some(a),
            None => {
                self.fail(
                    field,
                    format!("'{raw}' is not one of: {}", allowed.join(", ")),
                );
                None
            }
        }
    }

    /// Whether the row is marked for deletion (OneRoster `status`).
    fn deleted(&self) -> bool {
        self.text("status")
            .is_some_and(|s| s.eq_ignore_ascii_case("tobedeleted"))
    }
}

/// Parses one file with `row_fn`; a missing file is an error only when `required`.
fn parse_file<T>(
    files: &Files,
    name: &'static str,
    required: bool,
    required_columns: &[&str],
    (errors, rejected): &mut (Vec<RowError>, HashSet<String>),
    row_fn: fn(&mut Row<'_>) -> Option<T>,
) -> Parsed<T> {
    let Some(bytes) = files.get(name) else {
        if required {
            errors.push(RowError {
                file: name.into(),
                line: 0,
                field: String::new(),
                message: "is missing from the roster".into(),
            });
        }
        return Parsed::default();
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let columns: HashMap<String, usize> = match reader.headers() {
        Ok(h) => h
            .iter()
            .enumerate()
            .map(|(i, c)| (c.trim().to_lowercase(), i))
            .collect(),
        Err(e) => {
            errors.push(RowError {
                file: name.into(),
                line: 1,
                field: String::new(),
                message: format!("the header cannot be read: {e}"),
            });
            return Parsed {
                rows: Vec::new(),
                present: true,
            };
        }
    };
    let mut missing = false;
    for col in required_columns {
        if !columns.contains_key(&col.to_lowercase()) {
            missing = true;
            errors.push(RowError {
                file: name.into(),
                line: 1,
                field: (*col).into(),
                message: format!("the header has no '{col}' column"),
            });
        }
    }
    if missing {
        return Parsed {
            rows: Vec::new(),
            present: true,
        };
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                line = record.position().map_or(line + 1, |p| p.line());
                if record.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                let mut row = Row {
                    file: name,
                    line,
                    record: &record,
                    columns: &columns,
                    errors,
                    ok: true,
                };
                let parsed = row_fn(&mut row);
                match (parsed, row.ok) {
                    (Some(t), true) => rows.push(t),
                    (_, false) => {
                        if let Some(id) = row.text("sourcedId") {
                            rejected.insert(id.to_string());
                        }
                    }
                    (None, true) => {}
                }
            }
            Err(e) => {
                errors.push(RowError {
                    file: name.into(),
                    line: e.position().map_or(line + 1, |p| p.line()),
                    field: String::new(),
                    message: format!("is not valid CSV: {e}"),
                });
                break;
            }
        }
    }
    Parsed {
        rows,
        present: true,
    }
}

fn org(r: &mut Row<'_>) -> Option<Org> {
    if r.deleted() {
        return None;
    }
    let sourced_id = r.req("sourcedId");
    let name = r.req("name");
    let kind = match r.one_of(
        "type",
        &[
            "district",
            "school",
            "department",
            "local",
            "state",
            "national",
        ],
    ) {
        Some("district") => OrgKind::District,
        Some("school") => OrgKind::School,
        Some(_) => OrgKind::Other,
        None => {
            if r.text("type").is_none() {
                r.fail("type", "is required but empty".into());
            }
            OrgKind::Other
        }
    };
    Some(Org {
        line: r.line,
        sourced_id,
        name,
        kind,
        identifier: r.opt("identifier"),
        parent: r.opt("parentSourcedId"),
    })
}

fn session(r: &mut Row<'_>) -> Option<Session> {
    if r.deleted() {
        return None;
    }
    let sourced_id = r.req("sourcedId");
    let title = r.req("title");
    let kind = r.one_of("type", &["schoolYear", "term", "semester", "gradingPeriod"]);
    if kind.is_none() && r.text("type").is_none() {
        r.fail("type", "is required but empty".into());
    }
    let start = r.req_date("startDate");
    let end = r.req_date("endDate");
    if r.ok && end < start {
        r.fail("endDate", format!("{end} is before the start date {start}"));
    }
    let year_raw = r.req("schoolYear");
    let school_year = match year_raw.parse::<i32>() {
        Ok(y) if (1900..=2200).contains(&y) => y,
        _ => {
            if !year_raw.is_empty() {
                r.fail(
                    "schoolYear",
                    format!("'{year_raw}' is not a year such as 2027"),
                );
            }
            0
        }
    };
    Some(Session {
        line: r.line,
        sourced_id,
        title,
        kind: kind.unwrap_or("term"),
        start,
        end,
        parent: r.opt("parentSourcedId"),
        school_year,
    })
}

fn course(r: &mut Row<'_>) -> Option<Course> {
    if r.deleted() {
        return None;
    }
    Some(Course {
        line: r.line,
        sourced_id: r.req("sourcedId"),
        title: r.req("title"),
        code: r.opt("courseCode"),
        org: r.opt("orgSourcedId"),
    })
}

fn class(r: &mut Row<'_>) -> Option<Class> {
    if r.deleted() {
        return None;
    }
    let terms = r.list("termSourcedIds");
    if terms.is_empty() {
        r.fail("termSourcedIds", "is required but empty".into());
    }
    Some(Class {
        line: r.line,
        sourced_id: r.req("sourcedId"),
        title: r.req("title"),
        code: r.opt("classCode"),
        course: r.req("courseSourcedId"),
        school: r.req("schoolSourcedId"),
        terms,
    })
}

/// The OneRoster roles Herald knows, and the kind of person each is.
pub fn kind_of_role(role: &str) -> Option<UserKind> {
    match role.to_ascii_lowercase().as_str() {
        "student" => Some(UserKind::Student),
        "parent" | "guardian" | "relative" => Some(UserKind::Guardian),
        "teacher"
        | "administrator"
        | "aide"
        | "proctor"
        | "districtadministrator"
        | "siteadministrator"
        | "systemadministrator"
        | "principal"
        | "counselor" => Some(UserKind::Staff),
        _ => None,
    }
}

pub const ROLES: &str = "student, parent, guardian, relative, teacher, administrator, aide, proctor, districtAdministrator, siteAdministrator, systemAdministrator, principal, counselor";

fn user(r: &mut Row<'_>) -> Option<User> {
    let sourced_id = r.req("sourcedId");
    let given_name = r.req("givenName");
    let family_name = r.req("familyName");
    let role = r.opt("role").unwrap_or_default();
    let kind = if role.is_empty() {
        None
    } else {
        let k = kind_of_role(&role);
        if k.is_none() {
            r.fail("role", format!("'{role}' is not one of: {ROLES}"));
        }
        k
    };
    let email = match r.text("email").map(EmailAddress::parse) {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(e)) => {
            r.fail("email", e.to_string());
            None
        }
    };
    let phone_of = |r: &mut Row<'_>, field: &str| match r.text(field).map(PhoneNumber::parse) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            r.fail(field, e.to_string());
            None
        }
    };
    let sms = phone_of(r, "sms");
    let phone = phone_of(r, "phone");
    let phone_kind = match r.one_of(
        "metadata.herald.phoneType",
        &["cell", "home", "work", "other"],
    ) {
        Some("cell") => PhoneKind::Cell,
        Some("work") => PhoneKind::Work,
        Some("other") => PhoneKind::Other,
        _ => PhoneKind::Home,
    };
    let enabled = r.boolean("enabledUser", true);
    let messenger_contact = r.boolean("metadata.herald.messengerContact", true);
    Some(User {
        line: r.line,
        active: enabled && !r.deleted(),
        sourced_id,
        role,
        kind,
        orgs: r.list("orgSourcedIds"),
        username: r.opt("username"),
        given_name,
        family_name,
        middle_name: r.opt("middleName"),
        identifier: r.opt("identifier"),
        email,
        sms,
        phone,
        phone_kind,
        agents: r.list("agentSourcedIds"),
        grades: r.list("grades"),
        messenger_contact,
    })
}

fn role_row(r: &mut Row<'_>) -> Option<RoleRow> {
    if r.deleted() {
        return None;
    }
    let role = r.req("role");
    if !role.is_empty() && kind_of_role(&role).is_none() {
        r.fail("role", format!("'{role}' is not one of: {ROLES}"));
    }
    Some(RoleRow {
        line: r.line,
        user: r.req("userSourcedId"),
        primary: r
            .text("roleType")
            .is_none_or(|t| t.eq_ignore_ascii_case("primary")),
        role,
        org: r.req("orgSourcedId"),
    })
}

fn enrollment(r: &mut Row<'_>) -> Option<Enrollment> {
    if r.deleted() {
        return None;
    }
    let role = r.one_of(
        "role",
        &[
            "student",
            "teacher",
            "administrator",
            "aide",
            "proctor",
            "guardian",
            "parent",
        ],
    );
    if role.is_none() && r.text("role").is_none() {
        r.fail("role", "is required but empty".into());
    }
    let begin = r.date("beginDate");
    let end = r.date("endDate");
    if let (Some(b), Some(e)) = (begin, end)
        && e < b
    {
        r.fail("endDate", format!("{e} is before the begin date {b}"));
    }
    Some(Enrollment {
        line: r.line,
        sourced_id: r.req("sourcedId"),
        class: r.req("classSourcedId"),
        school: r.req("schoolSourcedId"),
        user: r.req("userSourcedId"),
        role: role.unwrap_or("student").to_string(),
        begin,
        end,
    })
}

fn category(r: &mut Row<'_>) -> Option<Category> {
    if r.deleted() {
        return None;
    }
    Some(Category {
        sourced_id: r.req("sourcedId"),
        title: r.req("title"),
    })
}

fn line_item(r: &mut Row<'_>) -> Option<LineItem> {
    if r.deleted() {
        return None;
    }
    let max_score = match r.decimal("resultValueMax") {
        Some(v) if v.parse::<f64>().is_ok_and(|x| x > 0.0) => v,
        Some(v) => {
            r.fail("resultValueMax", format!("'{v}' must be greater than 0"));
            v
        }
        None => "100".into(),
    };
    Some(LineItem {
        line: r.line,
        sourced_id: r.req("sourcedId"),
        title: r.req("title"),
        category: r.opt("categorySourcedId"),
        assign_date: r.date("assignDate"),
        due_date: r.req_date("dueDate"),
        class: r.req("classSourcedId"),
        max_score,
    })
}

pub const SCORE_STATUSES: &[&str] = &[
    "exempt",
    "fully graded",
    "not submitted",
    "partially graded",
    "submitted",
];

fn result_row(r: &mut Row<'_>) -> Option<ResultRow> {
    if r.deleted() {
        return None;
    }
    let status = r.one_of("scoreStatus", SCORE_STATUSES);
    if status.is_none() && r.text("scoreStatus").is_none() {
        r.fail("scoreStatus", "is required but empty".into());
    }
    Some(ResultRow {
        line: r.line,
        sourced_id: r.req("sourcedId"),
        line_item: r.req("lineItemSourcedId"),
        student: r.req("studentSourcedId"),
        status: status.unwrap_or("submitted"),
        score: r.decimal("score"),
        score_date: r.date("scoreDate"),
        comment: r.opt("comment"),
        missing: r.boolean("missing", false),
    })
}

fn demographic(r: &mut Row<'_>) -> Option<Demographic> {
    if r.deleted() {
        return None;
    }
    Some(Demographic {
        line: r.line,
        user: r.req("sourcedId"),
        birth_date: r.date("birthDate"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(name: &str, text: &str) -> Files {
        let mut f = Files::default();
        f.0.insert(name.to_lowercase(), text.as_bytes().to_vec());
        f
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_case() {
        let f = files(
            "users.csv",
            "FamilyName,sourcedId,givenName,role,email\nLee,u1,Pat,parent,PAT@Example.org\n",
        );
        let p = parse_all(&f);
        let u = &p.users.rows[0];
        assert_eq!(
            (u.sourced_id.as_str(), u.family_name.as_str()),
            ("u1", "Lee")
        );
        assert_eq!(u.email.as_ref().unwrap().as_str(), "pat@example.org");
        assert_eq!(u.kind, Some(UserKind::Guardian));
    }

    #[test]
    fn a_bad_cell_is_reported_with_its_line_and_column() {
        let f = files(
            "users.csv",
            "sourcedId,givenName,familyName,role,phone\nu1,Pat,Lee,parent,(612) 555-0101\nu2,Sam,Lee,parent,555-01\n",
        );
        let p = parse_all(&f);
        assert_eq!(p.users.rows.len(), 1);
        let e = p.errors.iter().find(|e| e.file == "users.csv").unwrap();
        assert_eq!((e.line, e.field.as_str()), (3, "phone"));
    }

    #[test]
    fn a_missing_required_column_is_reported_on_the_header_line() {
        let f = files("users.csv", "sourcedId,givenName\nu1,Pat\n");
        let p = parse_all(&f);
        let e = p.errors.iter().find(|e| e.file == "users.csv").unwrap();
        assert_eq!((e.line, e.field.as_str()), (1, "familyName"));
    }

    #[test]
    fn quoted_multi_line_cells_keep_line_numbers_right() {
        let f = files(
            "courses.csv",
            "sourcedId,title\nc1,\"Art\nand Design\"\nc2,\n",
        );
        let p = parse_all(&f);
        let e = p.errors.iter().find(|e| e.file == "courses.csv").unwrap();
        assert_eq!((e.line, e.field.as_str()), (4, "title"));
    }
}
