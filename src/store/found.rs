//! A record read from `.events/`, with where it was found.

use super::events_dir::Kind;
use super::file_name::FileName;
use crate::enrich::Record;

#[derive(Clone, Debug)]
pub struct Found {
    pub kind: Kind,
    pub file: FileName,
    pub record: Record,
}
