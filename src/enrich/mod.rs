//! Stage 4 of the pipeline: turning a checked event into a stored record
//! (ids, trace context, timestamps, source), and the spans of agent runs
//! and tool calls that share those ids.

pub mod enricher;
pub mod record;
pub mod span;

pub use enricher::Enricher;
pub use record::Record;
pub use span::Span;
