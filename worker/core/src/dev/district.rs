//! The demo district generator: a realistic district written as OneRoster 1.1 CSV, so the
//! importer is the only way data gets into Herald — demo data included.
//!
//! What must stay true: the output depends only on [`DemoOptions`] (a seeded ChaCha RNG, no
//! clock, no thread RNG), so the same seed gives byte-identical files; and the fixed demo
//! sign-ins exist: `admin@demo.herald.test` (a district administrator) and
//! `parent@demo.herald.test` (the first guardian of the first household).
//!
//! # Layout
//! - `model`: the whole district, built in memory from the options first;
//! - `files`: one writer per CSV file, each writing only what the model says.

use std::path::Path;

mod files;
mod model;

/// How big a district to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Seeds the ChaCha RNG: the same seed writes byte-identical files.
    pub seed: u64,
    /// How many schools (at least one).
    pub schools: usize,
    /// How many students across the district (at least one).
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
    /// Students written to users.csv.
    pub students: usize,
    /// Guardians written to users.csv.
    pub guardians: usize,
    /// Staff written to users.csv: the district administrator, a principal per school, the teachers.
    pub staff: usize,
    /// Classes written to classes.csv.
    pub classes: usize,
    /// Enrollments written to enrollments.csv (teachers' and students').
    pub enrollments: usize,
    /// Assignments written to lineItems.csv.
    pub line_items: usize,
    /// Scores written to results.csv, missing work included.
    pub results: usize,
}

/// Why the demo district could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The options ask for no school or no student.
    #[error("the demo district needs at least one school and one student")]
    Empty,
    /// A directory or file could not be created or written.
    #[error("could not write {path}")]
    Io {
        /// The file or directory that failed.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A CSV file could not be written.
    #[error("could not write {path}")]
    Csv {
        /// The file that failed.
        path: String,
        /// What the CSV writer said.
        #[source]
        source: csv::Error,
    },
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
    let district = model::District::build(opts);
    files::write_all(&district, out)?;
    Ok(DemoStats {
        students: district.students.len(),
        guardians: district.guardians.len(),
        staff: district.staff.len(),
        classes: district.sections.len(),
        enrollments: district.enrollments.len(),
        line_items: district.line_items.len(),
        results: district.results.len(),
    })
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
