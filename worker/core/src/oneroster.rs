//! The OneRoster CSV importer: the only way roster data gets into Herald.
//!
//! A district hands Herald a folder or a `.zip` of OneRoster 1.1 CSV files (1.2 column names and
//! its `roles.csv` are accepted too). The import runs in three steps:
//!
//! 1. `source` reads the files, from a folder or a zip, into memory;
//! 2. `parse` turns every row into a typed record and `check` resolves every reference,
//!    collecting *all* problems as [`RowError`]s that name file, line and field — if there is
//!    even one, the import stops here and nothing is written;
//! 3. `store` writes everything in **one transaction**, set-based (whole columns bound as
//!    arrays and `unnest`ed, a few statements per table), so a 100,000-student district loads in
//!    seconds and a failure leaves the database exactly as it was.
//!
//! What must stay true: re-importing the same files changes nothing (every upsert compares
//! before it writes, so no row and no `updated_at` moves); rows missing from a later import are
//! left alone, except what is derived wholly from a person's own row (their contact methods and
//! guardian links), which follows the file.

mod check;
mod parse;
pub mod runs;
mod source;
mod store;

use serde::Serialize;
use sqlx::PgPool;
use std::fmt;
use std::path::Path;

pub use check::Roster;

/// One bad row: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The CSV file the problem is in, e.g. `users.csv`.
    pub file: String,
    /// 1-based; the header is line 1. 0 when the problem is the file as a whole.
    pub line: u64,
    /// The column at fault; empty when the problem is the row or the file as a whole.
    pub field: String,
    /// What is wrong, in words an admin can act on.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.field.is_empty()) {
            (0, true) => write!(f, "{}: {}", self.file, self.message),
            (0, false) => write!(f, "{}, field {}: {}", self.file, self.field, self.message),
            (_, _) => write!(
                f,
                "{} line {}, field {}: {}",
                self.file, self.line, self.field, self.message
            ),
        }
    }
}

/// At most this many row errors are reported; the rest are counted.
pub const MAX_REPORTED_ERRORS: usize = 200;

/// Why an import did not happen. Nothing was written in every case.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The files are at fault: the first [`MAX_REPORTED_ERRORS`] problems, and how many more.
    #[error("{} problem(s) in the roster files{}", .rows.len() + .not_shown, more_note(.not_shown))]
    Invalid {
        /// The problems listed, sorted by file, line and field.
        rows: Vec<RowError>,
        /// Problems found beyond [`MAX_REPORTED_ERRORS`].
        not_shown: usize,
    },
    /// A file or folder could not be read.
    #[error("could not read {path}")]
    Io {
        /// The file or folder.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The upload, or what it unzips to, is larger than the settings allow.
    #[error("{what} came to more than the {} MB Herald accepts", .limit_bytes / (1024 * 1024))]
    TooLarge {
        /// What was too large.
        what: String,
        /// The cap, in bytes.
        limit_bytes: u64,
    },
    /// The zip file (uploaded or on disk) cannot be read as a zip archive.
    #[error("the upload is not a readable zip file")]
    Zip(#[source] zip::result::ZipError),
    /// A database statement failed; the transaction was rolled back.
    #[error("the database refused the import")]
    Db(#[from] sqlx::Error),
    /// Unzipping or checking (blocking tasks) panicked or was cancelled before it finished.
    #[error("checking the roster stopped before it finished")]
    Check(#[source] tokio::task::JoinError),
}

fn more_note(more: &usize) -> String {
    if *more == 0 {
        String::new()
    } else {
        format!(" (the first {MAX_REPORTED_ERRORS} are listed; {more} more not shown)")
    }
}

impl ImportError {
    /// The row errors, when the files were at fault.
    pub fn rows(&self) -> Option<&[RowError]> {
        match self {
            Self::Invalid { rows, .. } => Some(rows),
            _ => None,
        }
    }

    /// What a person reads of an invalid roster: one line per problem, then "… and N more"
    /// when some were not listed. Empty for other errors.
    pub fn problem_lines(&self) -> Vec<String> {
        match self {
            Self::Invalid { rows, not_shown } => {
                let mut lines: Vec<String> = rows.iter().map(ToString::to_string).collect();
                if *not_shown > 0 {
                    lines.push(format!("… and {not_shown} more"));
                }
                lines
            }
            _ => Vec::new(),
        }
    }
}

/// How far an import has got, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportProgress {
    /// What the import is doing now, e.g. `Writing person`.
    pub stage: String,
    /// How far it has got, 0 to 100.
    pub percent: u8,
}

/// Rows inserted, updated and left unchanged in one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// The table the counts are for, e.g. `person`.
    pub table: &'static str,
    /// Rows the import added.
    pub inserted: u64,
    /// Rows the import changed, rows it removed (those that follow the file) included.
    pub updated: u64,
    /// Rows the files hold that were already as they are.
    pub unchanged: u64,
}

/// What an import did, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// The tables written, in the order they were written.
    pub tables: Vec<TableCount>,
}

impl ImportSummary {
    /// The counts of `table`, if it was written.
    pub fn table(&self, table: &str) -> Option<&TableCount> {
        self.tables.iter().find(|t| t.table == table)
    }

    /// Whether the import changed anything at all.
    pub fn changed_anything(&self) -> bool {
        self.tables.iter().any(|t| t.inserted + t.updated > 0)
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tables {
            writeln!(
                f,
                "{:<20} inserted {:>8}  updated {:>8}  unchanged {:>8}",
                t.table, t.inserted, t.updated, t.unchanged
            )?;
        }
        Ok(())
    }
}

/// A progress callback; called from the importing task.
pub type Progress<'a> = &'a (dyn Fn(ImportProgress) + Send + Sync);

/// Imports a folder of OneRoster CSV files, or a `.zip` of them.
pub async fn import_path(
    pool: &PgPool,
    path: &Path,
    progress: Progress<'_>,
) -> Result<ImportSummary, ImportError> {
    report(progress, "Reading files", 0);
    let files = source::read_path(path)?;
    import_files(pool, files, progress).await
}

/// Imports an uploaded OneRoster zip whose files may unzip to at most `max_unzipped_bytes`.
/// Unzipping is CPU work: it runs off the async threads.
pub async fn import_zip_bytes(
    pool: &PgPool,
    bytes: Vec<u8>,
    max_unzipped_bytes: u64,
    progress: Progress<'_>,
) -> Result<ImportSummary, ImportError> {
    report(progress, "Reading files", 0);
    let files = tokio::task::spawn_blocking(move || {
        source::read_zip(std::io::Cursor::new(bytes), max_unzipped_bytes)
    })
    .await
    .map_err(ImportError::Check)??;
    import_files(pool, files, progress).await
}

/// Parses and checks files without writing anything.
pub fn check_files(files: &source::Files) -> Result<Roster, ImportError> {
    let parsed = parse::parse_all(files);
    let (roster, mut errors) = check::check(parsed);
    if errors.is_empty() {
        return Ok(roster);
    }
    errors.sort_by(|a, b| (&a.file, a.line, &a.field).cmp(&(&b.file, b.line, &b.field)));
    let not_shown = errors.len().saturating_sub(MAX_REPORTED_ERRORS);
    errors.truncate(MAX_REPORTED_ERRORS);
    Err(ImportError::Invalid {
        rows: errors,
        not_shown,
    })
}

async fn import_files(
    pool: &PgPool,
    files: source::Files,
    progress: Progress<'_>,
) -> Result<ImportSummary, ImportError> {
    report(progress, "Checking every row", 10);
    // Parsing and checking is CPU work on possibly millions of rows: keep it off the runtime.
    let roster = tokio::task::spawn_blocking(move || check_files(&files))
        .await
        .map_err(ImportError::Check)??;
    let summary = store::write(pool, &roster, progress).await?;
    report(progress, "Finished", 100);
    Ok(summary)
}

fn report(progress: Progress<'_>, stage: &str, percent: u8) {
    progress(ImportProgress {
        stage: stage.to_string(),
        percent,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_error_names_file_line_and_field() {
        let e = RowError {
            file: "users.csv".into(),
            line: 12,
            field: "email".into(),
            message: "'pat@' has no dotted domain after the '@'".into(),
        };
        assert_eq!(
            e.to_string(),
            "users.csv line 12, field email: 'pat@' has no dotted domain after the '@'"
        );
    }
}
