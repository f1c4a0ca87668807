//! The error sink of checking: collects [`RowError`]s in the order they are found, writes the
//! "unknown reference" and "duplicate sourcedId" messages in one place each, and indexes files
//! by sourcedId.
//!
//! What must stay true: a reference to a row that was present but rejected by the parser is not
//! reported again (that row's own error already fails the import), and every message keeps its
//! exact wording — the admin pages and the tests show them as they are.

use std::collections::{HashMap, HashSet};

use super::super::RowError;

/// What kind of row a reference must name, and the file such rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Referenced {
    Org,
    School,
    Session,
    Course,
    Class,
    User,
    Student,
    Category,
    LineItem,
}

impl Referenced {
    /// "an org in orgs.csv", as the message names it.
    fn what(self) -> (&'static str, &'static str) {
        match self {
            Self::Org => ("an org", "orgs.csv"),
            Self::School => ("a school", "orgs.csv"),
            Self::Session => ("a session", "academicSessions.csv"),
            Self::Course => ("a course", "courses.csv"),
            Self::Class => ("a class", "classes.csv"),
            Self::User => ("a user", "users.csv"),
            Self::Student => ("a student", "users.csv"),
            Self::Category => ("a category", "categories.csv"),
            Self::LineItem => ("a line item", "lineItems.csv"),
        }
    }
}

pub(super) struct Errors {
    pub(super) errors: Vec<RowError>,
    /// The sourcedIds of rows that were present but rejected by the parser.
    rejected: HashSet<String>,
}

impl Errors {
    pub(super) fn new(errors: Vec<RowError>, rejected: HashSet<String>) -> Self {
        Self { errors, rejected }
    }

    pub(super) fn push(&mut self, file: &str, line: u64, field: &str, message: String) {
        self.errors.push(RowError {
            file: file.into(),
            line,
            field: field.into(),
            message,
        });
    }

    /// Records that `field` on `line` of `file` names `id`, which is not a `kind` row — unless a
    /// row with that sourcedId was present but rejected for a bad field: that row already has its
    /// own error, and repeating it at every reference (a student's enrollments, results and
    /// guardians) would bury the real cause. Skipping is safe because the rejected row's error
    /// alone fails the import.
    pub(super) fn unknown_ref(
        &mut self,
        kind: Referenced,
        file: &str,
        line: u64,
        field: &str,
        id: &str,
    ) {
        if !self.rejected.contains(id) {
            let (what, home) = kind.what();
            self.push(file, line, field, format!("'{id}' is not {what} in {home}"));
        }
    }

    /// Records duplicates of a sourcedId within one file; returns the index by id.
    pub(super) fn index<'a, T>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_reference_names_the_kind_and_its_file_unless_the_row_was_rejected() {
        let mut e = Errors::new(Vec::new(), HashSet::from(["bad".to_string()]));
        e.unknown_ref(
            Referenced::LineItem,
            "results.csv",
            3,
            "lineItemSourcedId",
            "li9",
        );
        e.unknown_ref(
            Referenced::Student,
            "results.csv",
            4,
            "studentSourcedId",
            "bad",
        );
        let messages: Vec<&str> = e.errors.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["'li9' is not a line item in lineItems.csv"]);
    }
}
