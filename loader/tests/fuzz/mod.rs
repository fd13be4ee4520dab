//! The pieces of the file fuzz test: seed documents, mutations, and the checks every refusal
//! must pass.

pub mod checks;
pub mod mutations;
pub mod seeds;
