//! Stage 5 of the pipeline: where records go. The filesystem sink always;
//! the OTLP sink when configured.

pub mod fs;
pub mod otlp;

pub use fs::{FsSink, Stored};
