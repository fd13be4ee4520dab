//! Engine (being written).
#![deny(missing_docs)]
