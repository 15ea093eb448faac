//! Stage 4 of the pipeline: giving each event its ids, trace context,
//! timestamps and Claude Code source, as a stored record.

pub mod enricher;
pub mod ids;
pub mod record;

pub use enricher::Enricher;
pub use record::Record;
