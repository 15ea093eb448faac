//! Stage 2 of the pipeline: finding `<EVENT>` markers in texts and giving
//! each one its identity.

pub mod marker;
pub mod origin;
pub mod scanner;
#[cfg(test)]
mod scanner_props;

pub use marker::{Marker, MarkerError};
pub use origin::Origin;
pub use scanner::Scanner;
