//! In-memory providers (being written).
#![deny(missing_docs)]
