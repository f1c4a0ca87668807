//! OneRoster import.
