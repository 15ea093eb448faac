//! Stage 1 of the pipeline: what Claude Code hands us. The hook payload on
//! stdin, and the transcripts it points at (or that `replay` is given).

pub mod lifecycle;
pub mod origin;
pub mod payload;
pub mod reads;
pub mod source;
pub mod text;
pub mod transcript;

pub use payload::Payload;
pub use source::Source;
pub use text::Text;
