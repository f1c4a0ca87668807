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
        read_zip(file)
    }
}

/// Reads the CSV files of a zip archive.
pub fn read_zip<R: Read + Seek>(reader: R) -> Result<Files, ImportError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(ImportError::Zip)?;
    let mut files = Files::default();
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
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut bytes)
            .map_err(|source| ImportError::Io {
                path: full.clone(),
                source,
            })?;
        files.0.insert(name, bytes);
    }
    Ok(files)
}
