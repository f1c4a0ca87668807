//! The demo district in memory: schools, households of students and guardians, courses and
//! sections with their teachers, the staff, enrollments and the fall grade book — everything the
//! CSV files say, before any of it is written.
//!
//! What must stay true: [`District::build`] depends only on [`DemoOptions`]; it draws from one
//! ChaCha8 RNG seeded with the options' seed, in a fixed order (households first, then the grade
//! book, row by row), so a seed always gives the same district. Drawing one more or one fewer
//! number, or drawing in another order, changes every file after it.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::DemoOptions;

/// The district's sourcedId.
pub(super) const DISTRICT_ID: &str = "dst-001";

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
const GUARDIAN_ROLES: &[&str] = &["parent", "parent", "parent", "guardian", "relative"];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Elementary,
    Middle,
    High,
}

/// The levels in the order schools take them in turn.
const LEVELS: [Level; 3] = [Level::Elementary, Level::Middle, Level::High];

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

/// The fall grade book of every section: category, title and maximum score of each line item.
const LINE_ITEMS: [(&str, &str, u32); 3] = [
    ("cat-hw", "Homework", 10),
    ("cat-quiz", "Quiz", 20),
    ("cat-test", "Unit Test", 100),
];

pub(super) struct School {
    pub id: String,
    pub level: Level,
    pub name: String,
    pub identifier: String,
}

pub(super) struct Student {
    pub id: String,
    pub given: String,
    pub family: String,
    pub grade: &'static str,
    /// An index into [`District::schools`].
    pub school: usize,
    /// Indexes into [`District::guardians`].
    pub guardians: Vec<usize>,
    pub identifier: String,
}

pub(super) struct Guardian {
    pub id: String,
    pub given: String,
    pub family: String,
    pub role: &'static str,
    pub email: Option<String>,
    pub sms: Option<String>,
    /// The number and its `metadata.herald.phoneType`.
    pub phone: Option<(String, &'static str)>,
    /// Indexes into [`District::students`].
    pub students: Vec<usize>,
}

pub(super) struct Course {
    pub id: String,
    pub subject: &'static str,
    pub grade: &'static str,
    pub school: usize,
}

pub(super) struct Section {
    pub id: String,
    pub school: usize,
    pub grade: &'static str,
    /// The course's sourcedId.
    pub course: String,
    pub students: Vec<usize>,
    /// The teacher's sourcedId.
    pub teacher: String,
}

/// A users.csv row of an administrator or teacher.
pub(super) struct Staff {
    pub id: String,
    pub org: String,
    pub role: &'static str,
    pub username: String,
    pub given: &'static str,
    pub family: &'static str,
    pub email: String,
    pub phone: &'static str,
    pub phone_type: &'static str,
}

pub(super) struct Enrollment {
    pub id: String,
    pub section: usize,
    pub user: String,
    /// The section's teacher (else one of its students).
    pub teacher: bool,
}

pub(super) struct LineItem {
    pub id: String,
    pub title: String,
    pub assigned: NaiveDate,
    pub due: NaiveDate,
    pub section: usize,
    pub category: &'static str,
    pub max: u32,
}

pub(super) struct Score {
    pub id: String,
    pub line_item: usize,
    pub student: usize,
    pub status: &'static str,
    /// `None`: not submitted.
    pub score: Option<u32>,
    pub date: Option<NaiveDate>,
}

pub(super) struct District {
    pub schools: Vec<School>,
    pub students: Vec<Student>,
    pub guardians: Vec<Guardian>,
    pub courses: Vec<Course>,
    pub sections: Vec<Section>,
    /// In users.csv order: the district administrator, the principals, the teachers.
    pub staff: Vec<Staff>,
    pub enrollments: Vec<Enrollment>,
    pub line_items: Vec<LineItem>,
    pub results: Vec<Score>,
}

impl District {
    /// The district `opts` describe; `opts` has at least one school and one student.
    pub(super) fn build(opts: &DemoOptions) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let schools = schools(opts.schools);
        let (students, guardians) = households(&mut rng, opts.students, &schools);
        let t = timetable(&schools, &students);
        let staff = staff(&schools, &t.sections, &t.teachers);
        let enrollments = enrollments(&t.sections, &students);
        let (line_items, results) = grade_book(&mut rng, &t.sections);
        Self {
            schools,
            students,
            guardians,
            courses: t.courses,
            sections: t.sections,
            staff,
            enrollments,
            line_items,
            results,
        }
    }
}

fn pick(rng: &mut ChaCha8Rng, from: &[&'static str]) -> &'static str {
    from[rng.gen_range(0..from.len())]
}

/// Orgs: the schools, elementary / middle / high in turn.
fn schools(n: usize) -> Vec<School> {
    (0..n)
        .map(|i| {
            let level = LEVELS[i % 3];
            let name = format!("{} {}", SCHOOL_NAMES[i % SCHOOL_NAMES.len()], level.name());
            let name = if i >= SCHOOL_NAMES.len() {
                format!("{name} {}", i / SCHOOL_NAMES.len() + 1)
            } else {
                name
            };
            School {
                id: format!("sch-{:03}", i + 1),
                level,
                name,
                identifier: format!("{}", 100 + i),
            }
        })
        .collect()
}

/// Phone numbers in turn. Only 555-0100..555-0199 is reserved for fiction, so numbers vary by
/// area code; a very large district repeats them across households, which the roster allows.
#[derive(Default)]
struct PhoneBook {
    issued: u32,
}

impl PhoneBook {
    fn next(&mut self) -> String {
        self.issued += 1;
        let area = AREA_CODES[(self.issued as usize / 100) % AREA_CODES.len()];
        format!("({area}) 555-01{:02}", self.issued % 100)
    }
}

/// Students and guardians as they are drawn, household by household.
struct Households {
    students: Vec<Student>,
    guardians: Vec<Guardian>,
    phones: PhoneBook,
    /// Every grade K-12 with its level.
    grades: Vec<(&'static str, Level)>,
    /// For each of [`LEVELS`], the schools its students go to.
    level_schools: Vec<Vec<usize>>,
}

/// Students in households. Grades are spread evenly over K-12; a grade's students go to the
/// schools of that level in turn (to every school, if none has that level).
fn households(
    rng: &mut ChaCha8Rng,
    n_students: usize,
    schools: &[School],
) -> (Vec<Student>, Vec<Guardian>) {
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
    let mut h = Households {
        students: Vec::with_capacity(n_students),
        guardians: Vec::new(),
        phones: PhoneBook::default(),
        grades: LEVELS
            .iter()
            .flat_map(|l| l.grades().iter().map(move |g| (*g, *l)))
            .collect(),
        level_schools: LEVELS.iter().map(|l| schools_of(*l)).collect(),
    };
    while h.students.len() < n_students {
        h.add_household(rng, n_students);
    }
    (h.students, h.guardians)
}

impl Households {
    /// One family: one or two guardians (sometimes sharing a home phone), then its children, no
    /// more than `n_students` in all.
    fn add_household(&mut self, rng: &mut ChaCha8Rng, n_students: usize) {
        let family = pick(rng, FAMILY).to_string();
        let n_children =
            [1, 1, 1, 1, 2, 2, 2, 3][rng.gen_range(0..8)].min(n_students - self.students.len());
        let n_guardians = if rng.gen_bool(0.35) { 1 } else { 2 };
        let shared_home = n_guardians == 2 && rng.gen_bool(0.4);
        let home = self.phones.next();
        let first_guardian = self.guardians.len();
        for g in 0..n_guardians {
            let guardian = self.guardian(rng, g, &family, shared_home.then_some(home.as_str()));
            self.guardians.push(guardian);
        }
        for _ in 0..n_children {
            self.add_student(rng, &family, first_guardian);
        }
    }

    /// The household's `g`th guardian (0 or 1); `home` is the phone the guardians share, if any.
    fn guardian(
        &mut self,
        rng: &mut ChaCha8Rng,
        g: usize,
        family: &str,
        home: Option<&str>,
    ) -> Guardian {
        let gi = self.guardians.len();
        let given = pick(rng, GIVEN).to_string();
        let family = if g == 1 && rng.gen_bool(0.2) {
            pick(rng, FAMILY).to_string()
        } else {
            family.to_string()
        };
        let email = if gi == 0 {
            Some("parent@demo.herald.test".to_string())
        } else if rng.gen_bool(0.85) {
            Some(format!(
                "{}.{}{}@{}",
                given.to_lowercase(),
                family.to_lowercase(),
                gi,
                DOMAINS[gi % DOMAINS.len()]
            ))
        } else {
            None
        };
        // The demo parent (the first guardian) always has a cell phone, to show text-message
        // consent on the portal.
        let sms = (rng.gen_bool(0.6) || gi == 0).then(|| self.phones.next());
        let phone = if let Some(home) = home {
            Some((home.to_string(), "home"))
        } else if rng.gen_bool(0.1) {
            Some((self.phones.next(), "work"))
        } else if rng.gen_bool(0.3) {
            Some((self.phones.next(), "home"))
        } else {
            None
        };
        Guardian {
            id: format!("gdn-{:06}", gi + 1),
            given,
            family,
            role: pick(rng, GUARDIAN_ROLES),
            email,
            sms,
            phone,
            students: Vec::new(),
        }
    }

    /// The next student, a child of the guardians from `first_guardian` on.
    fn add_student(&mut self, rng: &mut ChaCha8Rng, family: &str, first_guardian: usize) {
        let si = self.students.len();
        let (grade, level) = self.grades[si % self.grades.len()];
        let li = LEVELS.iter().position(|l| *l == level).unwrap_or(0);
        let options = &self.level_schools[li];
        let school = options[(si / self.grades.len()) % options.len()];
        let guardians: Vec<usize> = (first_guardian..self.guardians.len()).collect();
        for &g in &guardians {
            self.guardians[g].students.push(si);
        }
        self.students.push(Student {
            id: format!("stu-{:06}", si + 1),
            given: pick(rng, GIVEN).to_string(),
            family: family.to_string(),
            grade,
            school,
            guardians,
            identifier: format!("{}", 200_000 + si + 1),
        });
    }
}

/// Courses, sections and the teachers they need, with each teacher's section count.
struct Timetable {
    courses: Vec<Course>,
    sections: Vec<Section>,
    teachers: Vec<(String, usize)>,
}

/// Courses and sections: a homeroom per ~24 elementary students of a grade; six subjects per
/// ~28 secondary students of a grade.
fn timetable(schools: &[School], students: &[Student]) -> Timetable {
    let mut t = Timetable {
        courses: Vec::new(),
        sections: Vec::new(),
        teachers: Vec::new(),
    };
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
            let subjects: &[&'static str] = if school.level == Level::Elementary {
                &["Homeroom"]
            } else {
                SUBJECTS
            };
            for subject in subjects {
                t.add_course(schools, si, grade, subject, &members);
            }
        }
    }
    t
}

impl Timetable {
    /// A course of `subject` for `grade` at school `si`, and its sections of `members`.
    fn add_course(
        &mut self,
        schools: &[School],
        si: usize,
        grade: &'static str,
        subject: &'static str,
        members: &[usize],
    ) {
        let school = &schools[si];
        let slug = subject.to_lowercase().replace(' ', "-");
        let course_id = format!("crs-{}-{}-{}", school.id, grade, slug);
        self.courses.push(Course {
            id: course_id.clone(),
            subject,
            grade,
            school: si,
        });
        let size = if school.level == Level::Elementary {
            24
        } else {
            28
        };
        for (n, chunk) in members.chunks(size).enumerate() {
            let teacher = self.teacher_for(school.level);
            self.sections.push(Section {
                id: format!("cls-{}-{}-{}-{}", school.id, grade, slug, n + 1),
                school: si,
                grade,
                course: course_id.clone(),
                students: chunk.to_vec(),
                teacher,
            });
        }
    }

    /// The teacher of the next section: secondary teachers take five sections each (the last
    /// one hired goes on until full), a homeroom teacher one.
    fn teacher_for(&mut self, level: Level) -> String {
        let per_teacher = if level == Level::Elementary { 1 } else { 5 };
        let reuse = self
            .teachers
            .last_mut()
            .filter(|(_, load)| *load < per_teacher && level != Level::Elementary);
        if let Some((id, load)) = reuse {
            *load += 1;
            return id.clone();
        }
        let id = format!("tch-{:05}", self.teachers.len() + 1);
        self.teachers.push((id.clone(), 1));
        id
    }
}

/// The staff: the district administrator, a principal per school, the teachers.
fn staff(schools: &[School], sections: &[Section], teachers: &[(String, usize)]) -> Vec<Staff> {
    let mut staff = Vec::with_capacity(1 + schools.len() + teachers.len());
    staff.push(Staff {
        id: "adm-00001".into(),
        org: DISTRICT_ID.into(),
        role: "administrator",
        username: "admin".into(),
        given: "Dana",
        family: "Whitfield",
        email: "admin@demo.herald.test".into(),
        phone: "(612) 555-0100",
        phone_type: "work",
    });
    for (i, s) in schools.iter().enumerate() {
        let given = GIVEN[(i * 7) % GIVEN.len()];
        let family = FAMILY[(i * 11) % FAMILY.len()];
        staff.push(Staff {
            id: format!("adm-{:05}", i + 2),
            org: s.id.clone(),
            role: "administrator",
            username: format!("principal{}", i + 1),
            given,
            family,
            email: format!(
                "{}.{}@maplevalley.example.org",
                given.to_lowercase(),
                family.to_lowercase()
            ),
            phone: "",
            phone_type: "",
        });
    }
    // A teacher belongs to the school of their last section.
    let teacher_school: HashMap<&str, usize> = sections
        .iter()
        .map(|s| (s.teacher.as_str(), s.school))
        .collect();
    for (i, (t, _)) in teachers.iter().enumerate() {
        let n = i + 1;
        let given = GIVEN[(n * 13) % GIVEN.len()];
        let family = FAMILY[(n * 17) % FAMILY.len()];
        let org = teacher_school
            .get(t.as_str())
            .map_or(DISTRICT_ID, |&s| schools[s].id.as_str());
        staff.push(Staff {
            id: t.clone(),
            org: org.to_string(),
            role: "teacher",
            username: format!("t{n}"),
            given,
            family,
            email: format!(
                "{}.{}{}@maplevalley.example.org",
                given.to_lowercase(),
                family.to_lowercase(),
                n
            ),
            phone: "",
            phone_type: "",
        });
    }
    staff
}

/// Each section's teacher, then its students.
fn enrollments(sections: &[Section], students: &[Student]) -> Vec<Enrollment> {
    let mut out = Vec::new();
    for (si, s) in sections.iter().enumerate() {
        let members = std::iter::once((s.teacher.as_str(), true)).chain(
            s.students
                .iter()
                .map(|&st| (students[st].id.as_str(), false)),
        );
        for (user, teacher) in members {
            out.push(Enrollment {
                id: format!("enr-{:07}", out.len() + 1),
                section: si,
                user: user.to_string(),
                teacher,
            });
        }
    }
    out
}

/// Grade book: three line items per class across the fall, results for every student; some
/// missing (not submitted), some failing (under 60 %).
fn grade_book(rng: &mut ChaCha8Rng, sections: &[Section]) -> (Vec<LineItem>, Vec<Score>) {
    let year_start = NaiveDate::from_ymd_opt(2026, 8, 24).unwrap_or(NaiveDate::MIN);
    let mut items = Vec::new();
    let mut results = Vec::new();
    for (si, s) in sections.iter().enumerate() {
        for (k, (category, title, max)) in LINE_ITEMS.into_iter().enumerate() {
            let due = year_start + Duration::days(14 + 21 * k as i64 + rng.gen_range(0..7));
            let item = items.len();
            items.push(LineItem {
                id: format!("li-{:07}", item + 1),
                title: format!("{title} {}", k + 1),
                assigned: due - Duration::days(7),
                due,
                section: si,
                category,
                max,
            });
            for &student in &s.students {
                let id = format!("res-{:08}", results.len() + 1);
                results.push(score(rng, id, item, student, due, max));
            }
        }
    }
    (items, results)
}

/// A student's result for a line item due on `due` and scored out of `max`.
fn score(
    rng: &mut ChaCha8Rng,
    id: String,
    line_item: usize,
    student: usize,
    due: NaiveDate,
    max: u32,
) -> Score {
    let roll: f64 = rng.r#gen();
    let (status, score) = if roll < 0.06 {
        ("not submitted", None)
    } else if roll < 0.14 {
        ("fully graded", Some(rng.gen_range(0..(max * 6 / 10))))
    } else {
        ("fully graded", Some(rng.gen_range((max * 6 / 10)..=max)))
    };
    Score {
        id,
        line_item,
        student,
        status,
        score,
        date: score.map(|_| due + Duration::days(3)),
    }
}
