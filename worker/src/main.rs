//! Placeholder until the roster helper writes the CLI.
fn main() {}
