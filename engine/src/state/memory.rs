//! In-memory state store (being written).
