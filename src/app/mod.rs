//! The application layer: the use cases the commands run, over the
//! pipeline, the store and the sinks. `publisher` stores events from a hook
//! call (`publish`) or from transcripts (`replay`, whose transcript
//! discovery is in `replay`); `check` gives agent authors each marker's
//! verdict. Nothing here prints: messages go to the
//! caller's `Say` as they happen, and outcomes are returned for the command
//! to render.

pub mod check;
pub mod publisher;
pub mod replay;

pub use publisher::{HookCall, Publisher};

/// Where a use case's messages go, one line each, as they happen (the
/// bus's `dispatch` use case says its lines the same way).
pub use crate::bus::run::Say;
