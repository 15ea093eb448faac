//! What the reading views compute over records, shared by the commands
//! (`stats`, `trace`) and `serve`: start/finish pairs and their durations,
//! the stats of a range, and a session as a tree of agent runs.

pub mod pairs;
pub mod stats;
pub mod trace;

pub use pairs::{Paired, Pairing};
