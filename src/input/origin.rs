//! Where a scanned text came from. The origin is half of an event's identity:
//! the same marker seen through two hooks (or a hook and a transcript) has
//! the same origin, and two distinct markers never share origin and position.

/// The source of a text, as far as identity is concerned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The output of one tool call (`tool_response`, or a transcript's
    /// `tool_result` with the same `tool_use_id`).
    Tool { tool_use_id: String },
    /// The final message of an agent: a subagent's report (Agent/Task
    /// PostToolUse, SubagentStop, the end of its transcript), or, with no
    /// agent, the main agent's last message of a prompt (Stop).
    Report {
        agent_id: Option<String>,
        prompt_id: Option<String>,
    },
    /// Any other assistant message of a transcript.
    Message {
        agent_id: Option<String>,
        message_id: String,
    },
    /// A payload with no id to tell it apart (Claude Code 1.0.x has no
    /// `tool_use_id`): identified by a digest of the payload itself.
    Payload { digest: String },
    /// A lifecycle record of Claude Code's own (`input::lifecycle`):
    /// `session`, `agent/<agent_id>` or `tool/<tool_use_id>`.
    Lifecycle { subject: String },
}

impl Origin {
    /// The stable text that goes into the event id formula.
    pub fn key(&self) -> String {
        match self {
            Origin::Tool { tool_use_id } => format!("tool/{tool_use_id}"),
            Origin::Report {
                agent_id: Some(agent),
                ..
            } => format!("report/agent/{agent}"),
            Origin::Report {
                agent_id: None,
                prompt_id,
            } => format!("report/main/{}", prompt_id.as_deref().unwrap_or("-")),
            Origin::Message {
                agent_id,
                message_id,
            } => format!(
                "message/{}/{message_id}",
                agent_id.as_deref().unwrap_or("main")
            ),
            Origin::Payload { digest } => format!("payload/{digest}"),
            Origin::Lifecycle { subject } => format!("lifecycle/{subject}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_per_kind() {
        let keys = [
            Origin::Tool {
                tool_use_id: "a".into(),
            }
            .key(),
            Origin::Report {
                agent_id: Some("a".into()),
                prompt_id: None,
            }
            .key(),
            Origin::Report {
                agent_id: None,
                prompt_id: Some("a".into()),
            }
            .key(),
            Origin::Message {
                agent_id: None,
                message_id: "a".into(),
            }
            .key(),
            Origin::Payload { digest: "a".into() }.key(),
            Origin::Lifecycle {
                subject: "a".into(),
            }
            .key(),
        ];
        let set: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(set.len(), keys.len());
    }

    #[test]
    fn report_key_ignores_prompt_for_subagents() {
        // SubagentStop and the Agent PostToolUse may carry different prompt ids.
        let a = Origin::Report {
            agent_id: Some("x".into()),
            prompt_id: Some("p1".into()),
        };
        let b = Origin::Report {
            agent_id: Some("x".into()),
            prompt_id: None,
        };
        assert_eq!(a.key(), b.key());
    }
}
