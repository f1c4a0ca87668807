//! Writing the demo district: one function per OneRoster CSV file, each through a [`Table`],
//! which writes the `sourcedId,status,dateLastModified` columns every file starts with.
//!
//! What must stay true: a writer only lays out what the [`District`] holds (no RNG, no clock),
//! in the model's order, so the same district always gives the same bytes; every row is active
//! and last modified at [`MODIFIED`].

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::DemoError;
use super::model::{DISTRICT_ID, District, Guardian, Level, Staff, Student};

/// Every row's `status`.
const STATUS: &str = "active";

/// Every row's `dateLastModified`.
const MODIFIED: &str = "2026-08-01T00:00:00Z";

/// The columns every file starts with.
const PREFIX: [&str; 3] = ["sourcedId", "status", "dateLastModified"];

/// One CSV file being written.
struct Table {
    name: &'static str,
    writer: csv::Writer<BufWriter<File>>,
}

impl Table {
    /// Creates `name` in `dir` with the header [`PREFIX`] then `columns`.
    fn create(dir: &Path, name: &'static str, columns: &[&str]) -> Result<Self, DemoError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| DemoError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        writer
            .write_record(PREFIX.iter().chain(columns))
            .map_err(|source| DemoError::Csv {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self { name, writer })
    }

    /// Writes the row of `sourced_id`, active and last modified at [`MODIFIED`], then `fields`.
    fn row(&mut self, sourced_id: &str, fields: &[&str]) -> Result<(), DemoError> {
        let prefix = [sourced_id, STATUS, MODIFIED];
        self.writer
            .write_record(prefix.iter().chain(fields))
            .map_err(|source| DemoError::Csv {
                path: self.name.to_string(),
                source,
            })
    }

    /// Flushes the finished file.
    fn finish(mut self) -> Result<(), DemoError> {
        self.writer.flush().map_err(|source| DemoError::Io {
            path: self.name.to_string(),
            source,
        })
    }
}

/// Writes every file of `d` into `dir`, which exists.
pub(super) fn write_all(d: &District, dir: &Path) -> Result<(), DemoError> {
    orgs(d, dir)?;
    sessions(dir)?;
    courses(d, dir)?;
    classes(d, dir)?;
    users(d, dir)?;
    enrollments(d, dir)?;
    categories(dir)?;
    line_items(d, dir)?;
    results(d, dir)
}

/// Orgs: the district and its schools.
fn orgs(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = ["name", "type", "identifier", "parentSourcedId"];
    let mut t = Table::create(dir, "orgs.csv", &columns)?;
    let district = ["Maple Valley School District", "district", "MVSD", ""];
    t.row(DISTRICT_ID, &district)?;
    for s in &d.schools {
        t.row(&s.id, &[&s.name, "school", &s.identifier, DISTRICT_ID])?;
    }
    t.finish()
}

/// Sessions: the 2026-27 school year and its two semesters.
fn sessions(dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "title",
        "type",
        "startDate",
        "endDate",
        "parentSourcedId",
        "schoolYear",
    ];
    let mut t = Table::create(dir, "academicSessions.csv", &columns)?;
    for (id, fields) in [
        (
            "sy-2027",
            [
                "2026-27 School Year",
                "schoolYear",
                "2026-08-24",
                "2027-06-04",
                "",
                "2027",
            ],
        ),
        (
            "tm-2027-1",
            [
                "Fall Semester",
                "semester",
                "2026-08-24",
                "2027-01-15",
                "sy-2027",
                "2027",
            ],
        ),
        (
            "tm-2027-2",
            [
                "Spring Semester",
                "semester",
                "2027-01-19",
                "2027-06-04",
                "sy-2027",
                "2027",
            ],
        ),
    ] {
        t.row(id, &fields)?;
    }
    t.finish()
}

fn courses(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "schoolYearSourcedId",
        "title",
        "courseCode",
        "grades",
        "orgSourcedId",
    ];
    let mut t = Table::create(dir, "courses.csv", &columns)?;
    for c in &d.courses {
        let title = format!("{} {}", c.subject, c.grade);
        let code = format!("{}{}", &c.subject[..3].to_uppercase(), c.grade);
        let school = d.schools[c.school].id.as_str();
        t.row(&c.id, &["sy-2027", &title, &code, c.grade, school])?;
    }
    t.finish()
}

fn classes(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "title",
        "grades",
        "courseSourcedId",
        "classCode",
        "classType",
        "location",
        "schoolSourcedId",
        "termSourcedIds",
        "subjects",
        "subjectCodes",
        "periods",
    ];
    let mut t = Table::create(dir, "classes.csv", &columns)?;
    for (i, s) in d.sections.iter().enumerate() {
        let school = &d.schools[s.school];
        let kind = if school.level == Level::Elementary {
            "homeroom"
        } else {
            "scheduled"
        };
        let subject = s.course.rsplit('-').next().unwrap_or_default();
        t.row(
            &s.id,
            &[
                &format!("{subject} · Section {}", i + 1),
                s.grade,
                &s.course,
                &format!("S{:05}", i + 1),
                kind,
                &format!("Room {}", 100 + i % 60),
                &school.id,
                "tm-2027-1,tm-2027-2",
                "",
                "",
                &format!("{}", 1 + i % 7),
            ],
        )?;
    }
    t.finish()
}

/// Users: staff, students, guardians.
fn users(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "enabledUser",
        "orgSourcedIds",
        "role",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
        "metadata.herald.phoneType",
    ];
    let mut t = Table::create(dir, "users.csv", &columns)?;
    for s in &d.staff {
        staff_row(&mut t, s)?;
    }
    for s in &d.students {
        student_row(&mut t, d, s)?;
    }
    for g in &d.guardians {
        guardian_row(&mut t, d, g)?;
    }
    t.finish()
}

fn staff_row(t: &mut Table, s: &Staff) -> Result<(), DemoError> {
    t.row(
        &s.id,
        &[
            "true",
            &s.org,
            s.role,
            &s.username,
            "",
            s.given,
            s.family,
            "",
            "",
            &s.email,
            "",
            s.phone,
            "",
            "",
            "",
            s.phone_type,
        ],
    )
}

fn student_row(t: &mut Table, d: &District, s: &Student) -> Result<(), DemoError> {
    let agents: Vec<&str> = s
        .guardians
        .iter()
        .map(|&g| d.guardians[g].id.as_str())
        .collect();
    t.row(
        &s.id,
        &[
            "true",
            &d.schools[s.school].id,
            "student",
            &s.id,
            "",
            &s.given,
            &s.family,
            "",
            &s.identifier,
            "",
            "",
            "",
            &agents.join(","),
            s.grade,
            "",
            "",
        ],
    )
}

fn guardian_row(t: &mut Table, d: &District, g: &Guardian) -> Result<(), DemoError> {
    let agents: Vec<&str> = g
        .students
        .iter()
        .map(|&s| d.students[s].id.as_str())
        .collect();
    let mut orgs: Vec<&str> = g
        .students
        .iter()
        .map(|&s| d.schools[d.students[s].school].id.as_str())
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    let (phone, kind) = g.phone.as_ref().map_or(("", ""), |(p, k)| (p.as_str(), *k));
    t.row(
        &g.id,
        &[
            "true",
            &orgs.join(","),
            g.role,
            "",
            "",
            &g.given,
            &g.family,
            "",
            "",
            g.email.as_deref().unwrap_or(""),
            g.sms.as_deref().unwrap_or(""),
            phone,
            &agents.join(","),
            "",
            "",
            kind,
        ],
    )
}

fn enrollments(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
        "primary",
        "beginDate",
        "endDate",
    ];
    let mut t = Table::create(dir, "enrollments.csv", &columns)?;
    for e in &d.enrollments {
        let section = &d.sections[e.section];
        let school = d.schools[section.school].id.as_str();
        let (role, primary, end) = if e.teacher {
            ("teacher", "true", "2027-06-04")
        } else {
            ("student", "false", "")
        };
        let fields: [&str; 7] = [
            &section.id,
            school,
            &e.user,
            role,
            primary,
            "2026-08-24",
            end,
        ];
        t.row(&e.id, &fields)?;
    }
    t.finish()
}

fn categories(dir: &Path) -> Result<(), DemoError> {
    let mut t = Table::create(dir, "categories.csv", &["title"])?;
    for (id, title) in [
        ("cat-hw", "Homework"),
        ("cat-quiz", "Quiz"),
        ("cat-test", "Test"),
    ] {
        t.row(id, &[title])?;
    }
    t.finish()
}

fn line_items(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "title",
        "description",
        "assignDate",
        "dueDate",
        "classSourcedId",
        "categorySourcedId",
        "gradingPeriodSourcedId",
        "resultValueMin",
        "resultValueMax",
    ];
    let mut t = Table::create(dir, "lineItems.csv", &columns)?;
    for l in &d.line_items {
        t.row(
            &l.id,
            &[
                &l.title,
                "",
                &l.assigned.to_string(),
                &l.due.to_string(),
                &d.sections[l.section].id,
                l.category,
                "tm-2027-1",
                "0",
                &l.max.to_string(),
            ],
        )?;
    }
    t.finish()
}

fn results(d: &District, dir: &Path) -> Result<(), DemoError> {
    let columns = [
        "lineItemSourcedId",
        "studentSourcedId",
        "scoreStatus",
        "score",
        "scoreDate",
        "comment",
    ];
    let mut t = Table::create(dir, "results.csv", &columns)?;
    for r in &d.results {
        let score = r.score.map(|s| s.to_string()).unwrap_or_default();
        let date = r.date.map(|d| d.to_string()).unwrap_or_default();
        let item = d.line_items[r.line_item].id.as_str();
        let student = d.students[r.student].id.as_str();
        t.row(&r.id, &[item, student, r.status, &score, &date, ""])?;
    }
    t.finish()
}
