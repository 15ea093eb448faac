//! A text to scan for markers, with where it came from.

use std::borrow::Cow;

use super::origin::Origin;
use super::source::Source;

/// One text of a payload or transcript that holds at least one `<EVENT>`.
#[derive(Clone, Debug)]
pub struct Text<'a> {
    pub origin: Origin,
    pub body: Cow<'a, str>,
    pub source: Source,
    /// When the text was written, if known (transcript lines carry it);
    /// used as the observed time on replay.
    pub written_at: Option<String>,
}
