//! Conformance suite (being written).
#![deny(missing_docs)]
