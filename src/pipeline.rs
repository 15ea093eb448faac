//! The pipeline: texts in, records out. For each marker of each text it
//! computes the event's identity, validates it, enriches it into a record
//! and hands it to the sinks, counting what happened.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use crate::enrich::{Enricher, Record};
use crate::extract::{Marker, Scanner};
use crate::ids;
use crate::input::Text;
use crate::input::lifecycle::Lifecycle;
use crate::redact::Redactor;
use crate::sinks::{FsSink, Stored};
use crate::validate::{Problem, SchemaSet};

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub markers: usize,
    /// Lifecycle records met (`process_lifecycle`), stored or present.
    pub lifecycle: usize,
    /// New records stored (valid and dead letters).
    pub stored: usize,
    pub stored_invalid: usize,
    /// Seen before (an earlier hook, replay or this run).
    pub present: usize,
    /// Records that could not be stored.
    pub failed: usize,
    /// Newly rejected events: (name or raw excerpt, problems).
    pub rejected: Vec<(String, Vec<Problem>)>,
    /// True when `max_markers` stopped the scan.
    pub capped: bool,
    /// One line per problem met (unstorable records, unusable schemas).
    pub errors: Vec<String>,
    /// The records stored by this run, when asked for (`keep_new`).
    pub new_records: Vec<Record>,
}

pub struct Pipeline {
    scanner: Scanner,
    schemas: SchemaSet,
    enricher: Enricher,
    redactor: Redactor,
    sink: Result<FsSink, String>,
    seen: HashSet<Uuid>,
    occurrences: HashMap<(String, String), usize>,
    max_markers: usize,
    keep_new: bool,
    pub report: Report,
}

impl Pipeline {
    pub fn new(
        scanner: Scanner,
        schemas: SchemaSet,
        enricher: Enricher,
        sink: Result<FsSink, String>,
        max_markers: usize,
    ) -> Self {
        Pipeline {
            scanner,
            schemas,
            enricher,
            redactor: Redactor::default(),
            sink,
            seen: HashSet::new(),
            occurrences: HashMap::new(),
            max_markers,
            keep_new: false,
            report: Report::default(),
        }
    }

    /// Keep a copy of each new record in the report (for sinks after fs).
    pub fn keep_new_records(&mut self, yes: bool) {
        self.keep_new = yes;
    }

    /// Replaces the default redactor (the built-in rules).
    pub fn redact_with(&mut self, redactor: Redactor) {
        self.redactor = redactor;
    }

    /// Starts a new sighting: a payload, or one transcript. Occurrences of
    /// the same marker are counted within a sighting, so the report read
    /// from SubagentStop and again from the transcript gets the same ids,
    /// while a report holding one marker twice gets two.
    pub fn begin_sighting(&mut self) {
        self.occurrences.clear();
    }

    /// Forgets what this run holds per event (the ids seen, the rejected
    /// and the new records) and hands over the problems met so far, so
    /// that a long run (`replay` of many transcripts) holds no memory per
    /// event. Nothing is stored twice: the sink still finds every id
    /// already stored. The counts stay.
    pub fn forget(&mut self) -> Vec<String> {
        self.seen.clear();
        self.seen.shrink_to(1024);
        self.report.rejected.clear();
        self.report.new_records.clear();
        std::mem::take(&mut self.report.errors)
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Runs every marker of `text` through the pipeline. Returns false once
    /// the marker cap is reached.
    pub fn process(&mut self, text: &Text) -> bool {
        let mut markers = Vec::new();
        let room = self.max_markers.saturating_sub(self.report.markers);
        if room == 0 {
            self.report.capped = true;
            return false;
        }
        self.scanner.scan(&text.body, |m| {
            markers.push(m);
            markers.len() < room
        });
        if markers.len() >= room
            && self
                .scanner
                .has_marker(&text.body[markers.last().map_or(0, |m| m.offset + 1)..])
        {
            self.report.capped = true;
        }
        for m in markers {
            self.report.markers += 1;
            self.one(text, m);
        }
        !self.report.capped
    }

    /// Stores a lifecycle record (`input::lifecycle`): checked against its
    /// built-in schema, then identified, redacted and stored as a marker is.
    pub fn process_lifecycle(&mut self, record: &Lifecycle) {
        self.report.lifecycle += 1;
        let problems = self.schemas.check_lifecycle(&record.event);
        let text = Text {
            origin: record.origin.clone(),
            body: Cow::Borrowed(""),
            source: record.source.clone(),
            written_at: None,
        };
        let marker = Marker {
            raw: Value::Object(record.event.clone()).to_string(),
            offset: 0,
            event: Ok(record.event.clone()),
        };
        self.store(&text, marker, problems);
    }

    fn one(&mut self, text: &Text, marker: Marker) {
        let problems = problems(&mut self.schemas, &self.redactor, &marker);
        self.store(text, marker, problems);
    }

    fn store(&mut self, text: &Text, mut marker: Marker, problems: Vec<Problem>) {
        let id = self.identity(text, &marker, problems.is_empty());
        if !self.seen.insert(id) {
            self.report.present += 1;
            return;
        }
        // Secrets go before the record is built: schemas saw the real
        // values, no sink sees them.
        if let Ok(event) = &mut marker.event {
            self.redactor.redact_object(event);
        }
        // The raw text is kept for dead letters only.
        if !problems.is_empty() {
            if let Some(raw) = self.redactor.redact_text(&marker.raw) {
                marker.raw = raw;
            }
        }
        let mut record = self.enricher.record(
            id,
            marker.event.as_ref().ok(),
            &marker.raw,
            problems,
            &text.source,
            text.written_at.as_deref(),
        );
        self.redactor.redact_record(&mut record);
        let sink = match &mut self.sink {
            Ok(s) => s,
            Err(_) => {
                self.report.failed += 1;
                return;
            }
        };
        match sink.store(&record) {
            Ok(Stored::New(_)) => {
                self.report.stored += 1;
                if !record.is_valid() {
                    self.report.stored_invalid += 1;
                    let label = record.name.clone().unwrap_or_else(|| excerpt(&marker.raw));
                    self.report.rejected.push((label, record.errors.clone()));
                }
                if self.keep_new {
                    self.report.new_records.push(record);
                }
            }
            Ok(Stored::Present) => self.report.present += 1,
            Err(e) => {
                self.report.failed += 1;
                self.report
                    .errors
                    .push(format!("event {id} not stored: {e}"));
            }
        }
    }

    /// The event id: see `ids`. The agent's own `id` is the key of
    /// a valid event only: a rejected event must not take the id its
    /// corrected reprint will carry.
    fn identity(&mut self, text: &Text, marker: &Marker, valid: bool) -> Uuid {
        let session = text.source.session();
        if let (Ok(event), true) = (&marker.event, valid) {
            if let Some(given) = event.get("id").and_then(Value::as_str) {
                return ids::event_id(session, "id", given, 0);
            }
        }
        let digest = marker_digest(marker);
        let origin = text.origin.key();
        let n = self
            .occurrences
            .entry((origin.clone(), digest.clone()))
            .or_insert(0);
        let k = *n;
        *n += 1;
        ids::event_id(session, &origin, &digest, k)
    }

    /// Ends the run: problems from the schema set join the report.
    pub fn finish(mut self) -> Report {
        self.report.errors.append(&mut self.schemas.warnings);
        self.report.errors.extend(self.redactor.take_warnings());
        if let Err(e) = &self.sink {
            if self.report.failed > 0 {
                self.report
                    .errors
                    .push(format!("{} event(s) not stored: {e}", self.report.failed));
            }
        }
        self.report
    }
}

/// What is wrong with a marker, if anything: its JSON, its envelope and
/// schema, and its name. A name is part of file names and never redacted
/// into a valid one: a secret-shaped name makes the event a dead letter,
/// stored with the name redacted. `check` gives the same verdict.
pub fn problems(schemas: &mut SchemaSet, redactor: &Redactor, marker: &Marker) -> Vec<Problem> {
    let mut problems = match &marker.event {
        Ok(event) => schemas.check(event),
        Err(e) => vec![Problem::new(e.kind(), "", e.message())],
    };
    if let Some(shown) = marker
        .event
        .as_ref()
        .ok()
        .and_then(|e| e.get("name")?.as_str())
        .and_then(|name| redactor.redact_text(name))
    {
        problems.push(Problem::new(
            "invalid_envelope",
            "/name",
            format!(
                "the name {shown:?} holds what looks like a secret; name events for what happened"
            ),
        ));
    }
    problems
}

/// The digest that identifies a marker's content.
pub fn marker_digest(marker: &Marker) -> String {
    match &marker.event {
        Ok(event) => ids::object_digest(event),
        Err(_) => ids::text_digest(marker.raw.trim()),
    }
}

fn excerpt(raw: &str) -> String {
    let mut s: String = raw.chars().take(60).collect();
    if s.len() < raw.len() {
        s.push('…');
    }
    s
}
