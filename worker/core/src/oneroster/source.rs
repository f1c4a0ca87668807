//! Reading the roster files: a folder or a zip, into memory, by lower-cased file name.
//!
//! What must stay true: only `*.csv` files at the top of the folder or zip (or inside one
//! sub-folder of the zip, as some student systems export them) are read; nothing is written.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::Path;

use super::ImportError;

/// The CSV files of one roster, by lower-cased file name (`users.csv`).
#[derive(Debug, Default, Clone)]
pub struct Files(pub BTreeMap<String, Vec<u8>>);

impl Files {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.get(&name.to_lowercase()).map(Vec::as_slice)
    }
}

/// Reads a folder of CSV files, or a `.zip` file.
pub fn read_path(path: &Path) -> Result<Files, ImportError> {
    let io = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    if path.is_dir() {
        let mut files = Files::default();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().to_lowercase();
            if name.ends_with(".csv") && entry.path().is_file() {
                let bytes = std::fs::read(entry.path()).map_err(|source| ImportError::Io {
                    path: entry.path().display().to_string(),
                    source,
                })?;
                files.0.insert(name, bytes);
            }
        }
        Ok(files)
    } else {
        let file = std::fs::File::open(path).map_err(io)?;
        // A file on the importing host is ops's own: no cap beyond what it unzips to.
        read_zip(file, u64::MAX)
    }
}

/// Reads the CSV files of a zip archive, refusing once they unzip to more than
/// `max_unzipped_bytes` in all. Sizes the archive declares are not trusted: bytes are counted as
/// they are inflated, so a small zip that claims (or turns out) to be huge stops at the cap.
pub fn read_zip<R: Read + Seek>(reader: R, max_unzipped_bytes: u64) -> Result<Files, ImportError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(ImportError::Zip)?;
    let mut files = Files::default();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(ImportError::Zip)?;
        if entry.is_dir() {
            continue;
        }
        let full = entry.name().to_string();
        let name = full.rsplit('/').next().unwrap_or(&full).to_lowercase();
        if !name.ends_with(".csv") || full.split('/').count() > 2 || name.starts_with("._") {
            continue;
        }
        let left = max_unzipped_bytes.saturating_sub(total);
        let mut bytes = Vec::new();
        (&mut entry)
            .take(left.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|source| ImportError::Io {
                path: full.clone(),
                source,
            })?;
        total += bytes.len() as u64;
        if total > max_unzipped_bytes {
            return Err(ImportError::TooLarge {
                what: format!("the roster files unzipped (stopped at {full})"),
                limit_bytes: max_unzipped_bytes,
            });
        }
        files.0.insert(name, bytes);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut z = zip::ZipWriter::new(&mut out);
        z.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
        z.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_zip_that_unzips_past_the_cap_is_refused_having_read_no_more_than_the_cap() {
        // 4 MB of zeros deflate to a few KB: a small bomb.
        let zip = zip_of("users.csv", &vec![b'0'; 4 << 20]);
        assert!(zip.len() < 64 << 10, "{}", zip.len());
        let e = read_zip(std::io::Cursor::new(&zip), 1 << 20).unwrap_err();
        assert!(
            matches!(e, ImportError::TooLarge { limit_bytes, .. } if limit_bytes == 1 << 20),
            "{e:?}"
        );
        let files = read_zip(std::io::Cursor::new(&zip), 4 << 20).unwrap();
        assert_eq!(files.get("users.csv").map(<[u8]>::len), Some(4 << 20));
    }
}
