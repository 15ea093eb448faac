//! The Claude Code context of an event: which session, prompt, agent and tool
//! call it came from. Stored as the record's `source`.

use serde::{Deserialize, Serialize};

/// Claude Code's own ids and names for where an event was seen; each field is
/// null when the payload (or transcript line) lacks it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub hook_event_name: Option<String>,
    pub session_id: Option<String>,
    pub prompt_id: Option<String>,
    pub agent_id: Option<String>,
    pub agent_type: Option<String>,
    pub tool_name: Option<String>,
    pub tool_use_id: Option<String>,
    pub cwd: Option<String>,
    pub transcript_path: Option<String>,
}

impl Source {
    pub fn session(&self) -> &str {
        self.session_id.as_deref().unwrap_or("")
    }
}
