//! SQLite state store (being written).
