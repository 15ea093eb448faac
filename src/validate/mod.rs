//! Stage 3 of the pipeline: checking each event against the envelope and its
//! own JSON Schema (draft 2020-12).

pub mod lifecycle_schemas;
pub mod name;
pub mod problem;
pub mod schema_set;

pub use name::is_safe_name;
pub use problem::Problem;
pub use schema_set::{SchemaSet, UnknownEvents};
