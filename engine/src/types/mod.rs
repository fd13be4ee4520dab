//! Built-in resource types (being written).
