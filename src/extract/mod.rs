//! Stage 2 of the pipeline: finding `<EVENT>` markers in texts. A marker's
//! identity is its text's origin (`input::Origin`) and its digest (`ids`).

pub mod marker;
pub mod scanner;
#[cfg(test)]
mod scanner_props;

pub use marker::Marker;
pub use scanner::Scanner;
