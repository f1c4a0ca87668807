//! The demo district generator: a realistic district written as OneRoster 1.1 CSV, so the
//! importer is the only way data gets into Herald — demo data included.
//!
//! What must stay true: the output depends only on [`DemoOptions`] (a seeded ChaCha RNG, no
//! clock, no thread RNG), so the same seed gives byte-identical files; and the fixed demo
//! sign-ins exist: `admin@demo.herald.test` (a district administrator) and
//! `parent@demo.herald.test` (the first guardian of the first household).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How big a district to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    pub seed: u64,
    pub schools: usize,
    pub students: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seed: 2027,
            schools: 3,
            students: 1500,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct DemoStats {
    pub students: usize,
    pub guardians: usize,
    pub staff: usize,
    pub classes: usize,
    pub enrollments: usize,
    pub line_items: usize,
    pub results: usize,
}

/// Why the demo district could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo district needs at least one school and one student")]
    Empty,
    #[error("could not write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write {path}")]
    Csv {
        path: String,
        #[source]
        source: csv::Error,
    },
}

const GIVEN: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
    "Mia", "Levi", "Amelia", "Ezra", "Harper", "Asher", "Evelyn", "Leo", "Aaliyah", "Kai", "Sofia",
    "Omar", "Priya", "Hiroshi", "Fatima", "Diego", "Grace", "Malik", "Chloe", "Nguyen", "Zoe",
    "Samuel", "Leila", "Jamal", "Hannah", "Ravi", "Maya", "Carlos", "Nora", "Tariq",
];
const FAMILY: &[&str] = &[
    "Johnson",
    "Garcia",
    "Nguyen",
    "Smith",
    "Patel",
    "Martinez",
    "Brown",
    "Lee",
    "Hernandez",
    "Williams",
    "Kim",
    "Lopez",
    "Davis",
    "Wilson",
    "Anderson",
    "Thomas",
    "Okafor",
    "Singh",
    "Moore",
    "Jackson",
    "Martin",
    "Thompson",
    "White",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Hill",
    "Green",
    "Adams",
    "Baker",
    "Nelson",
    "Carter",
    "Mitchell",
    "Perez",
    "Roberts",
    "Turner",
    "Phillips",
    "Campbell",
];
const DOMAINS: &[&str] = &["example.org", "example.com", "example.net"];
const AREA_CODES: &[&str] = &[
    "612", "651", "763", "952", "320", "507", "218", "608", "414", "262", "715", "920", "319",
    "515", "563", "641", "712", "402", "308", "605", "701", "406", "309", "217", "630", "773",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Elementary,
    Middle,
    High,
}

impl Level {
    fn grades(self) -> &'static [&'static str] {
        match self {
            Self::Elementary => &["KG", "01", "02", "03", "04", "05"],
            Self::Middle => &["06", "07", "08"],
            Self::High => &["09", "10", "11", "12"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Elementary => "Elementary",
            Self::Middle => "Middle School",
            Self::High => "High School",
        }
    }
}

const SCHOOL_NAMES: &[&str] = &[
    "Lincoln",
    "Riverside",
    "Cedar Ridge",
    "Jefferson",
    "Lakeview",
    "Oak Hill",
    "Prairie Wind",
    "Washington",
    "Maple Grove",
    "Sunrise",
    "Hawthorne",
    "Pinecrest",
];
const SUBJECTS: &[&str] = &[
    "Mathematics",
    "English",
    "Science",
    "Social Studies",
    "Physical Education",
    "Art",
];

struct School {
    id: String,
    level: Level,
}

struct Section {
    id: String,
    school: usize,
    grade: &'static str,
    course: String,
    students: Vec<usize>,
    teacher: String,
}

struct Writers {
    dir: std::path::PathBuf,
}

impl Writers {
    fn open(&self, name: &str, header: &[&str]) -> Result<csv::Writer<BufWriter<File>>, DemoError> {
        let path = self.dir.join(name);
        let file = File::create(&path).map_err(|source| DemoError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
        w.write_record(header).map_err(|source| DemoError::Csv {
            path: path.display().to_string(),
            source,
        })?;
        Ok(w)
    }
}

/// Flushes a finished CSV file.
fn finish(mut writer: csv::Writer<BufWriter<File>>, name: &str) -> Result<(), DemoError> {
    writer.flush().map_err(|source| DemoError::Io {
        path: name.to_string(),
        source,
    })
}

fn csv_err(name: &str) -> impl Fn(csv::Error) -> DemoError + '_ {
    move |source| DemoError::Csv {
        path: name.to_string(),
        source,
    }
}

/// Writes a demo district into `out` (created if missing).
pub fn generate(opts: &DemoOptions, out: &Path) -> Result<DemoStats, DemoError> {
    if opts.schools == 0 || opts.students == 0 {
        return Err(DemoError::Empty);
    }
    std::fs::create_dir_all(out).map_err(|source| DemoError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let w = Writers {
        dir: out.to_path_buf(),
    };
    let mut stats = DemoStats::default();
    let year_start = NaiveDate::from_ymd_opt(2026, 8, 24).unwrap_or(NaiveDate::MIN);

    // Orgs: the district and its schools, elementary / middle / high in turn.
    let levels = [Level::Elementary, Level::Middle, Level::High];
    let schools: Vec<School> = (0..opts.schools)
        .map(|i| School {
            id: format!("sch-{:03}", i + 1),
            level: levels[i % 3],
        })
        .collect();
    let mut orgs = w.open(
        "orgs.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
            "name",
            "type",
            "identifier",
            "parentSourcedId",
        ],
    )?;
    let e = csv_err("orgs.csv");
    orgs.write_record([
        "dst-001",
        "active",
        "2026-08-01T00:00:00Z",
        "Maple Valley School District",
        "district",
        "MVSD",
        "",
    ])
    .map_err(&e)?;
    for (i, s) in schools.iter().enumerate() {
        let name = format!(
            "{} {}",
            SCHOOL_NAMES[i % SCHOOL_NAMES.len()],
            s.level.name()
        );
        let name = if i >= SCHOOL_NAMES.len() {
            format!("{name} {}", i / SCHOOL_NAMES.len() + 1)
        } else {
            name
        };
        orgs.write_record([
            s.id.as_str(),
            "active",
            "2026-08-01T00:00:00Z",
            &name,
            "school",
            &format!("{}", 100 + i),
            "dst-001",
        ])
        .map_err(&e)?;
    }
    finish(orgs, "orgs.csv")?;

    // Sessions: the 2026-27 school year and its two semesters.
    let mut sessions = w.open(
        "academicSessions.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
            "title",
            "type",
            "startDate",
            "endDate",
            "parentSourcedId",
            "schoolYear",
        ],
    )?;
    let e = csv_err("academicSessions.csv");
    for row in [
        [
            "sy-2027",
            "active",
            "2026-08-01T00:00:00Z",
            "2026-27 School Year",
            "schoolYear",
            "2026-08-24",
            "2027-06-04",
            "",
            "2027",
        ],
        [
            "tm-2027-1",
            "active",
            "2026-08-01T00:00:00Z",
            "Fall Semester",
            "semester",
            "2026-08-24",
            "2027-01-15",
            "sy-2027",
            "2027",
        ],
        [
            "tm-2027-2",
            "active",
            "2026-08-01T00:00:00Z",
            "Spring Semester",
            "semester",
            "2027-01-19",
            "2027-06-04",
            "sy-2027",
            "2027",
        ],
    ] {
        sessions.write_record(row).map_err(&e)?;
    }
    finish(sessions, "academicSessions.csv")?;

    // Students in households. Grades are spread evenly over K-12; a grade's students go to the
    // schools of that level in turn.
    struct Student {
        id: String,
        given: String,
        family: String,
        grade: &'static str,
        school: usize,
        guardians: Vec<usize>,
    }
    struct Guardian {
        id: String,
        given: String,
        family: String,
        role: &'static str,
        email: Option<String>,
        sms: Option<String>,
        phone: Option<(String, &'static str)>,
        students: Vec<usize>,
    }
    let all_grades: Vec<(&'static str, Level)> = levels
        .iter()
        .flat_map(|l| l.grades().iter().map(move |g| (*g, *l)))
        .collect();
    let schools_of = |level: Level| -> Vec<usize> {
        let v: Vec<usize> = schools
            .iter()
            .enumerate()
            .filter(|(_, s)| s.level == level)
            .map(|(i, _)| i)
            .collect();
        if v.is_empty() {
            (0..schools.len()).collect()
        } else {
            v
        }
    };
    let level_schools: Vec<Vec<usize>> = levels.iter().map(|l| schools_of(*l)).collect();
    let mut students: Vec<Student> = Vec::with_capacity(opts.students);
    let mut guardians: Vec<Guardian> = Vec::new();
    let mut phone_seq = 0u32;
    // Only 555-0100..555-0199 is reserved for fiction, so numbers vary by area code; a very large
    // district repeats them across households, which the roster allows.
    let mut next_phone = || {
        phone_seq += 1;
        let area = AREA_CODES[(phone_seq as usize / 100) % AREA_CODES.len()];
        format!("({area}) 555-01{:02}", phone_seq % 100)
    };
    while students.len() < opts.students {
        let family = FAMILY[rng.gen_range(0..FAMILY.len())].to_string();
        let n_children =
            [1, 1, 1, 1, 2, 2, 2, 3][rng.gen_range(0..8)].min(opts.students - students.len());
        let n_guardians = if rng.gen_bool(0.35) { 1 } else { 2 };
        let shared_home = n_guardians == 2 && rng.gen_bool(0.4);
        let home = next_phone();
        let first_guardian = guardians.len();
        for g in 0..n_guardians {
            let gi = guardians.len();
            let given = GIVEN[rng.gen_range(0..GIVEN.len())].to_string();
            let gfamily = if g == 1 && rng.gen_bool(0.2) {
                FAMILY[rng.gen_range(0..FAMILY.len())].to_string()
            } else {
                family.clone()
            };
            let email = if gi == 0 {
                Some("parent@demo.herald.test".to_string())
            } else if rng.gen_bool(0.85) {
                Some(format!(
                    "{}.{}{}@{}",
                    given.to_lowercase(),
                    gfamily.to_lowercase(),
                    gi,
                    DOMAINS[gi % DOMAINS.len()]
                ))
            } else {
                None
            };
            // The demo parent (the first guardian) always has a cell phone, to show text-message
            // consent on the portal.
            let sms = (rng.gen_bool(0.6) || gi == 0).then(&mut next_phone);
            let phone = if shared_home {
                Some((home.clone(), "home"))
            } else if rng.gen_bool(0.1) {
                Some((next_phone(), "work"))
            } else if rng.gen_bool(0.3) {
                Some((next_phone(), "home"))
            } else {
                None
            };
            guardians.push(Guardian {
                id: format!("gdn-{:06}", gi + 1),
                given,
                family: gfamily,
                role: ["parent", "parent", "parent", "guardian", "relative"][rng.gen_range(0..5)],
                email,
                sms,
                phone,
                students: Vec::new(),
            });
        }
        for _ in 0..n_children {
            let si = students.len();
            let (grade, level) = all_grades[si % all_grades.len()];
            let li = levels.iter().position(|l| *l == level).unwrap_or(0);
            let options = &level_schools[li];
            let school = options[(si / all_grades.len()) % options.len()];
            let gs: Vec<usize> = (first_guardian..guardians.len()).collect();
            for &g in &gs {
                guardians[g].students.push(si);
            }
            students.push(Student {
                id: format!("stu-{:06}", si + 1),
                given: GIVEN[rng.gen_range(0..GIVEN.len())].to_string(),
                family: family.clone(),
                grade,
                school,
                guardians: gs,
            });
        }
    }

    // Courses and sections: a homeroom per ~24 elementary students of a grade; six subjects per
    // ~28 secondary students of a grade.
    let mut courses = w.open(
        "courses.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
            "schoolYearSourcedId",
            "title",
            "courseCode",
            "grades",
            "orgSourcedId",
        ],
    )?;
    let ec = csv_err("courses.csv");
    let mut sections: Vec<Section> = Vec::new();
    let mut teachers: Vec<(String, usize)> = Vec::new();
    for (si, school) in schools.iter().enumerate() {
        for grade in school.level.grades() {
            let members: Vec<usize> = students
                .iter()
                .enumerate()
                .filter(|(_, s)| s.school == si && s.grade == *grade)
                .map(|(i, _)| i)
                .collect();
            if members.is_empty() {
                continue;
            }
            let subjects: &[&str] = if school.level == Level::Elementary {
                &["Homeroom"]
            } else {
                SUBJECTS
            };
            let size = if school.level == Level::Elementary {
                24
            } else {
                28
            };
            for subject in subjects {
                let course_id = format!(
                    "crs-{}-{}-{}",
                    school.id,
                    grade,
                    subject.to_lowercase().replace(' ', "-")
                );
                courses
                    .write_record([
                        course_id.as_str(),
                        "active",
                        "2026-08-01T00:00:00Z",
                        "sy-2027",
                        &format!("{subject} {grade}"),
                        &format!("{}{}", &subject[..3].to_uppercase(), grade),
                        grade,
                        school.id.as_str(),
                    ])
                    .map_err(&ec)?;
                for (n, chunk) in members.chunks(size).enumerate() {
                    // Secondary teachers take five sections each; a homeroom teacher one.
                    let per_teacher = if school.level == Level::Elementary {
                        1
                    } else {
                        5
                    };
                    let reuse = teachers
                        .last()
                        .filter(|(_, load)| {
                            *load < per_teacher && school.level != Level::Elementary
                        })
                        .map(|(id, _)| id.clone());
                    let teacher = match reuse {
                        Some(id) => {
                            if let Some(last) = teachers.last_mut() {
                                last.1 += 1;
                            }
                            id
                        }
                        None => {
                            let id = format!("tch-{:05}", teachers.len() + 1);
                            teachers.push((id.clone(), 1));
                            id
                        }
                    };
                    sections.push(Section {
                        id: format!(
                            "cls-{}-{}-{}-{}",
                            school.id,
                            grade,
                            subject.to_lowercase().replace(' ', "-"),
                            n + 1
                        ),
                        school: si,
                        grade,
                        course: course_id.clone(),
                        students: chunk.to_vec(),
                        teacher,
                    });
                }
            }
        }
    }
    finish(courses, "courses.csv")?;

    let mut classes = w.open(
        "classes.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
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
        ],
    )?;
    let ecl = csv_err("classes.csv");
    for (i, s) in sections.iter().enumerate() {
        let kind = if schools[s.school].level == Level::Elementary {
            "homeroom"
        } else {
            "scheduled"
        };
        classes
            .write_record([
                s.id.as_str(),
                "active",
                "2026-08-01T00:00:00Z",
                &format!(
                    "{} · Section {}",
                    s.course.rsplit('-').next().unwrap_or_default(),
                    i + 1
                ),
                s.grade,
                s.course.as_str(),
                &format!("S{:05}", i + 1),
                kind,
                &format!("Room {}", 100 + i % 60),
                schools[s.school].id.as_str(),
                "tm-2027-1,tm-2027-2",
                "",
                "",
                &format!("{}", 1 + i % 7),
            ])
            .map_err(&ecl)?;
    }
    finish(classes, "classes.csv")?;

    // Users: staff, students, guardians.
    let mut users = w.open(
        "users.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
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
        ],
    )?;
    let eu = csv_err("users.csv");
    let modified = "2026-08-01T00:00:00Z";
    users
        .write_record([
            "adm-00001",
            "active",
            modified,
            "true",
            "dst-001",
            "administrator",
            "admin",
            "",
            "Dana",
            "Whitfield",
            "",
            "",
            "admin@demo.herald.test",
            "",
            "(612) 555-0100",
            "",
            "",
            "",
            "work",
        ])
        .map_err(&eu)?;
    for (i, s) in schools.iter().enumerate() {
        let given = GIVEN[(i * 7) % GIVEN.len()];
        let family = FAMILY[(i * 11) % FAMILY.len()];
        users
            .write_record([
                format!("adm-{:05}", i + 2).as_str(),
                "active",
                modified,
                "true",
                s.id.as_str(),
                "administrator",
                &format!("principal{}", i + 1),
                "",
                given,
                family,
                "",
                "",
                &format!(
                    "{}.{}@maplevalley.example.org",
                    given.to_lowercase(),
                    family.to_lowercase()
                ),
                "",
                "",
                "",
                "",
                "",
                "",
            ])
            .map_err(&eu)?;
    }
    let teacher_school: std::collections::HashMap<&str, usize> = sections
        .iter()
        .map(|s| (s.teacher.as_str(), s.school))
        .collect();
    for (t, _) in &teachers {
        let n: usize = t[4..].parse().unwrap_or(0);
        let given = GIVEN[(n * 13) % GIVEN.len()];
        let family = FAMILY[(n * 17) % FAMILY.len()];
        let school = teacher_school
            .get(t.as_str())
            .map(|&s| schools[s].id.as_str())
            .unwrap_or("dst-001");
        users
            .write_record([
                t.as_str(),
                "active",
                modified,
                "true",
                school,
                "teacher",
                &format!("t{n}"),
                "",
                given,
                family,
                "",
                "",
                &format!(
                    "{}.{}{}@maplevalley.example.org",
                    given.to_lowercase(),
                    family.to_lowercase(),
                    n
                ),
                "",
                "",
                "",
                "",
                "",
                "",
            ])
            .map_err(&eu)?;
    }
    for s in &students {
        let agents: Vec<&str> = s
            .guardians
            .iter()
            .map(|&g| guardians[g].id.as_str())
            .collect();
        users
            .write_record([
                s.id.as_str(),
                "active",
                modified,
                "true",
                schools[s.school].id.as_str(),
                "student",
                &s.id,
                "",
                &s.given,
                &s.family,
                "",
                &format!("{}", 200_000 + s.id[4..].parse::<usize>().unwrap_or(0)),
                "",
                "",
                "",
                &agents.join(","),
                s.grade,
                "",
                "",
            ])
            .map_err(&eu)?;
    }
    for g in &guardians {
        let agents: Vec<&str> = g
            .students
            .iter()
            .map(|&s| students[s].id.as_str())
            .collect();
        let orgs: Vec<&str> = {
            let mut v: Vec<&str> = g
                .students
                .iter()
                .map(|&s| schools[students[s].school].id.as_str())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (phone, kind) = g.phone.as_ref().map_or(("", ""), |(p, k)| (p.as_str(), *k));
        users
            .write_record([
                g.id.as_str(),
                "active",
                modified,
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
            ])
            .map_err(&eu)?;
    }
    finish(users, "users.csv")?;

    // Enrollments.
    let mut enrollments = w.open(
        "enrollments.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
            "primary",
            "beginDate",
            "endDate",
        ],
    )?;
    let ee = csv_err("enrollments.csv");
    let mut n_enroll = 0usize;
    for s in &sections {
        let school = schools[s.school].id.as_str();
        n_enroll += 1;
        enrollments
            .write_record([
                format!("enr-{n_enroll:07}").as_str(),
                "active",
                modified,
                s.id.as_str(),
                school,
                s.teacher.as_str(),
                "teacher",
                "true",
                "2026-08-24",
                "2027-06-04",
            ])
            .map_err(&ee)?;
        for &st in &s.students {
            n_enroll += 1;
            enrollments
                .write_record([
                    format!("enr-{n_enroll:07}").as_str(),
                    "active",
                    modified,
                    s.id.as_str(),
                    school,
                    students[st].id.as_str(),
                    "student",
                    "false",
                    "2026-08-24",
                    "",
                ])
                .map_err(&ee)?;
        }
    }
    finish(enrollments, "enrollments.csv")?;

    // Grade book: three line items per class across the fall, results for every student; some
    // missing (not submitted), some failing (under 60 %).
    let mut categories = w.open(
        "categories.csv",
        &["sourcedId", "status", "dateLastModified", "title"],
    )?;
    let ecat = csv_err("categories.csv");
    for row in [
        ["cat-hw", "active", modified, "Homework"],
        ["cat-quiz", "active", modified, "Quiz"],
        ["cat-test", "active", modified, "Test"],
    ] {
        categories.write_record(row).map_err(&ecat)?;
    }
    finish(categories, "categories.csv")?;
    let mut items = w.open(
        "lineItems.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
            "title",
            "description",
            "assignDate",
            "dueDate",
            "classSourcedId",
            "categorySourcedId",
            "gradingPeriodSourcedId",
            "resultValueMin",
            "resultValueMax",
        ],
    )?;
    let mut results = w.open(
        "results.csv",
        &[
            "sourcedId",
            "status",
            "dateLastModified",
            "lineItemSourcedId",
            "studentSourcedId",
            "scoreStatus",
            "score",
            "scoreDate",
            "comment",
        ],
    )?;
    let ei = csv_err("lineItems.csv");
    let er = csv_err("results.csv");
    let mut n_items = 0usize;
    let mut n_results = 0usize;
    for s in &sections {
        for (k, (cat, title, max)) in [
            ("cat-hw", "Homework", 10u32),
            ("cat-quiz", "Quiz", 20),
            ("cat-test", "Unit Test", 100),
        ]
        .into_iter()
        .enumerate()
        {
            n_items += 1;
            let item_id = format!("li-{n_items:07}");
            let due = year_start + Duration::days(14 + 21 * k as i64 + rng.gen_range(0..7));
            let assigned = due - Duration::days(7);
            items
                .write_record([
                    item_id.as_str(),
                    "active",
                    modified,
                    &format!("{title} {}", k + 1),
                    "",
                    &assigned.to_string(),
                    &due.to_string(),
                    s.id.as_str(),
                    cat,
                    "tm-2027-1",
                    "0",
                    &max.to_string(),
                ])
                .map_err(&ei)?;
            for &st in &s.students {
                n_results += 1;
                let roll: f64 = rng.r#gen();
                let (status, score) = if roll < 0.06 {
                    ("not submitted", String::new())
                } else if roll < 0.14 {
                    (
                        "fully graded",
                        format!("{}", rng.gen_range(0..(max * 6 / 10))),
                    )
                } else {
                    (
                        "fully graded",
                        format!("{}", rng.gen_range((max * 6 / 10)..=max)),
                    )
                };
                let date = if score.is_empty() {
                    String::new()
                } else {
                    (due + Duration::days(3)).to_string()
                };
                results
                    .write_record([
                        format!("res-{n_results:08}").as_str(),
                        "active",
                        modified,
                        item_id.as_str(),
                        students[st].id.as_str(),
                        status,
                        &score,
                        &date,
                        "",
                    ])
                    .map_err(&er)?;
            }
        }
    }
    finish(items, "lineItems.csv")?;
    finish(results, "results.csv")?;

    stats.students = students.len();
    stats.guardians = guardians.len();
    stats.staff = teachers.len() + schools.len() + 1;
    stats.classes = sections.len();
    stats.enrollments = n_enroll;
    stats.line_items = n_items;
    stats.results = n_results;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_same_seed_writes_byte_identical_files_and_another_seed_does_not() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let opts = DemoOptions {
            seed: 5,
            schools: 3,
            students: 80,
        };
        generate(&opts, a.path()).unwrap();
        generate(&opts, b.path()).unwrap();
        generate(&DemoOptions { seed: 6, ..opts }, c.path()).unwrap();
        assert_eq!(read_all(a.path()), read_all(b.path()));
        assert_ne!(read_all(a.path()), read_all(c.path()));
    }

    #[test]
    fn the_district_has_the_demo_sign_ins_and_realistic_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let stats = generate(&DemoOptions::default(), dir.path()).unwrap();
        assert_eq!(stats.students, 1500);
        let users = std::fs::read_to_string(dir.path().join("users.csv")).unwrap();
        assert!(users.contains("admin@demo.herald.test"));
        assert!(users.contains("parent@demo.herald.test"));
        let mut reader = csv::Reader::from_reader(users.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
        let (role, email, phone) = (col("role"), col("email"), col("phone"));
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let guardians: Vec<&csv::StringRecord> = rows
            .iter()
            .filter(|r| matches!(&r[role], "parent" | "guardian" | "relative"))
            .collect();
        let without_email = guardians.iter().filter(|r| r[email].is_empty()).count();
        assert!(
            without_email > 0 && without_email < guardians.len() / 3,
            "{without_email}"
        );
        let mut phones: Vec<&str> = guardians
            .iter()
            .map(|r| &r[phone])
            .filter(|p| !p.is_empty())
            .collect();
        let all = phones.len();
        phones.sort_unstable();
        phones.dedup();
        assert!(phones.len() < all, "some guardians share a home phone");
        let results = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
        assert!(results.contains("not submitted"), "some work is missing");
    }
}
