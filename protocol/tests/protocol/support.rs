//! Fixture paths and small helpers shared by the test modules.

use std::path::PathBuf;

/// `fixtures/` at the workspace root (copies of real Phoenix recordings).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Reads and parses a JSON fixture file.
pub fn read_json(rel: &str) -> serde_json::Value {
    let path = fixtures().join(rel);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}
