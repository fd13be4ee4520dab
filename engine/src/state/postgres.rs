//! PostgreSQL state store (being written).
