//! The routes: the page and its two assets, the JSON API, the SSE stream
//! and `/metrics`. Every one reads; none writes. See README, "serve".

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use super::App;
use super::http::{self, Request};
use super::live::{self, ClientFeed, Cursor, Merged};
use super::summary::{SUBAGENT_STARTED, SUBAGENT_STOPPED};
use crate::analysis::trace::{belongs, build, time};
use crate::analysis::{Paired, Pairing};
use crate::enrich::Record;
use crate::enrich::enricher::format_time;
use crate::store::follow::Position;
use crate::store::{EventsDir, FileName, Filter, Found, Kind, Order, Query, Scope, layout};

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The most events one page of `/api/events` holds.
pub const MAX_LIMIT: usize = 1000;
/// The most events `/api/sessions/<id>` returns.
pub const MAX_SESSION_EVENTS: usize = 20_000;
/// How often an idle stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Out = std::io::Result<()>;

pub fn route(app: &Arc<App>, req: &Request, s: &mut TcpStream) -> Out {
    let m = req.method.as_str();
    let path = req.path.as_str();
    match path {
        "/" => http::respond(s, m, 200, "text/html; charset=utf-8", INDEX.as_bytes()),
        "/app.js" => http::respond(
            s,
            m,
            200,
            "text/javascript; charset=utf-8",
            APP_JS.as_bytes(),
        ),
        "/app.css" => http::respond(s, m, 200, "text/css; charset=utf-8", APP_CSS.as_bytes()),
        "/metrics" => {
            app.wait_ready();
            let text = app.summary().metrics();
            http::respond(
                s,
                m,
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                text.as_bytes(),
            )
        }
        "/api/events" => events(app, req, s),
        "/api/sessions" => sessions(app, req, s),
        "/api/stream" => stream(app, req, s),
        "/api/pulse" => pulse(app, req, s),
        _ => {
            if let Some(id) = path.strip_prefix("/api/events/") {
                return event(app, id, m, s);
            }
            if let Some(id) = path.strip_prefix("/api/sessions/") {
                return session(app, id, m, s);
            }
            http::error(s, m, 404, "no such path")
        }
    }
}

fn json_ok(s: &mut TcpStream, method: &str, v: &Value) -> Out {
    http::respond(s, method, 200, "application/json", v.to_string().as_bytes())
}

/// The `ls` filters, as query parameters, and the kinds to read.
fn filter(req: &Request) -> Result<(Filter, Scope), String> {
    let p = |k: &str| req.param(k).filter(|v| !v.is_empty()).map(str::to_string);
    let args = Query {
        name: p("name"),
        agent: p("agent"),
        session: p("session"),
        trace: p("trace"),
        since: p("since"),
        until: p("until"),
        invalid: matches!(req.param("invalid"), Some("1" | "true")),
        wheres: req.params("where").map(str::to_string).collect(),
    };
    let filter = Filter::new(&args, Utc::now()).map_err(|e| e.message().to_string())?;
    let scope = match req.param("validity") {
        None | Some("") => filter.scope(Scope::Valid),
        Some("all") => Scope::Both,
        Some("valid") => Scope::Valid,
        Some("invalid") => Scope::Invalid,
        Some(v) => return Err(format!("validity {v:?}: expected all, valid or invalid")),
    };
    Ok((filter, scope))
}

/// Text search: every word somewhere in the record's JSON, any case.
fn search(req: &Request) -> Vec<String> {
    req.param("q")
        .unwrap_or("")
        .to_lowercase()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// One millisecond after `timestamp`.
fn just_after(timestamp: &str) -> String {
    crate::enrich::enricher::parse_time(timestamp)
        .map(|t| format_time(t + chrono::Duration::milliseconds(1)))
        .unwrap_or_else(|| timestamp.to_string())
}

fn found_matches(words: &[String], r: &Record) -> bool {
    if words.is_empty() {
        return true;
    }
    let text = serde_json::to_string(r).unwrap_or_default().to_lowercase();
    words.iter().all(|w| text.contains(w.as_str()))
}

fn item(f: &Found) -> Value {
    json!({
        "cursor": Cursor::of(&f.file).as_str(),
        "valid": f.kind == Kind::Valid && f.record.is_valid(),
        "record": f.record,
    })
}

fn events(app: &Arc<App>, req: &Request, s: &mut TcpStream) -> Out {
    let m = req.method.as_str();
    let (filter, scope) = match filter(req) {
        Ok(f) => f,
        Err(e) => return http::error(s, m, 400, &e),
    };
    let order = match req.param("order") {
        None | Some("" | "newest") => Order::NewestFirst,
        Some("oldest") => Order::OldestFirst,
        Some(o) => {
            return http::error(
                s,
                m,
                400,
                &format!("order {o:?}: expected newest or oldest"),
            );
        }
    };
    let limit = match req.param("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return http::error(s, m, 400, &format!("limit: expected 1 to {MAX_LIMIT}")),
    };
    let cursor = match req.param("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => match Cursor::parse(c) {
            Some(p) => Some(p),
            None => return http::error(s, m, 400, "cursor: not a cursor"),
        },
    };
    let filter = match (&cursor, order) {
        (Some(c), Order::NewestFirst) => filter.before(&c.just_after()),
        (Some(c), Order::OldestFirst) => filter.at_or_after(&c.timestamp()),
        (None, _) => filter,
    };
    let words = search(req);
    // Taken before listing: what lands in between comes again on a stream
    // from here (the page drops repeats by id), never not at all.
    let head = live::head(&app.root);
    let mut items = Vec::new();
    let mut next = None;
    if let Ok(Some(dir)) = EventsDir::open(&app.root) {
        for f in Merged::new(&dir, &filter, scope, order) {
            let p = Cursor::of(&f.file);
            let seen = cursor.as_ref().is_some_and(|c| match order {
                Order::NewestFirst => p >= *c,
                Order::OldestFirst => p <= *c,
            });
            if seen || !found_matches(&words, &f.record) {
                continue;
            }
            if items.len() == limit {
                next = items
                    .last()
                    .and_then(|i: &Value| i["cursor"].as_str().map(str::to_string));
                break;
            }
            items.push(item(&f));
        }
    }
    let body = json!({
        "order": if order == Order::NewestFirst { "newest" } else { "oldest" },
        "events": items,
        "next": next,
        "head": head.to_string(),
    });
    json_ok(s, m, &body)
}

/// Events per minute by name over the last `minutes` (at most a day),
/// for the pulse chart; only the files of that window are read.
fn pulse(app: &Arc<App>, req: &Request, s: &mut TcpStream) -> Out {
    let m = req.method.as_str();
    let (filter, scope) = match filter(req) {
        Ok(f) => f,
        Err(e) => return http::error(s, m, 400, &e),
    };
    let minutes = match req.param("minutes").map(str::parse::<i64>) {
        None => 60,
        Some(Ok(n)) if (1..=1440).contains(&n) => n,
        Some(_) => return http::error(s, m, 400, "minutes: expected 1 to 1440"),
    };
    let now = Utc::now();
    let end = now - chrono::Duration::seconds(now.timestamp() % 60) + chrono::Duration::minutes(1);
    let end = end - chrono::Duration::nanoseconds(end.timestamp_subsec_nanos() as i64);
    let start = end - chrono::Duration::minutes(minutes);
    let filter = filter.at_or_after(&format_time(start));
    let words = search(req);
    let mut counts: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    if let Ok(Some(dir)) = EventsDir::open(&app.root) {
        for f in Merged::new(&dir, &filter, scope, Order::OldestFirst) {
            if !found_matches(&words, &f.record) {
                continue;
            }
            let i = (time(&f.record) - start).num_minutes();
            if !(0..minutes).contains(&i) {
                continue;
            }
            let name = f.record.name.clone().unwrap_or_else(|| "(no name)".into());
            counts
                .entry(name)
                .or_insert_with(|| vec![0; minutes as usize])[i as usize] += 1;
        }
    }
    let mut names: Vec<&String> = counts.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(counts[*n].iter().sum::<u64>()));
    let body =
        json!({"start": format_time(start), "minutes": minutes, "names": names, "counts": counts});
    json_ok(s, m, &body)
}

fn event(app: &Arc<App>, id: &str, m: &str, s: &mut TcpStream) -> Out {
    let id = id.trim().to_ascii_lowercase();
    if uuid::Uuid::parse_str(&id).is_err() || id.len() != 36 {
        return http::error(s, m, 400, "not a record id");
    }
    let found = EventsDir::open(&app.root)
        .ok()
        .flatten()
        .and_then(|dir| find(&dir, &id));
    match found {
        Some(f) => json_ok(s, m, &item(&f)),
        None => http::error(s, m, 404, "no record has this id"),
    }
}

/// One record by id, through the store's id lookup and hardened reader.
fn find(dir: &EventsDir, id: &str) -> Option<Found> {
    let (_, at) = dir.find(id).into_iter().find(|(found, _)| found == id)?;
    let record = dir.load(&at).ok()?;
    let file = FileName::parse(&layout::file_name(&record))?;
    let kind = if record.is_valid() {
        Kind::Valid
    } else {
        Kind::Invalid
    };
    Some(Found { kind, file, record })
}

fn sessions(app: &Arc<App>, req: &Request, s: &mut TcpStream) -> Out {
    let m = req.method.as_str();
    let num = |k: &str, d: usize| req.param(k).map_or(Ok(d), str::parse::<usize>);
    let (Ok(offset), Ok(limit)) = (num("offset", 0), num("limit", 100)) else {
        return http::error(s, m, 400, "offset and limit are numbers");
    };
    app.wait_ready();
    let (total, lines) = app.summary().sessions(offset, limit.clamp(1, MAX_LIMIT));
    json_ok(
        s,
        m,
        &json!({"total": total, "offset": offset, "sessions": lines}),
    )
}

fn session(app: &Arc<App>, id: &str, m: &str, s: &mut TcpStream) -> Out {
    let id = id.trim().to_ascii_lowercase();
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return http::error(s, m, 400, "not a session or trace id");
    }
    let Ok(Some(dir)) = EventsDir::open(&app.root) else {
        return http::error(s, m, 404, "no events of this session");
    };
    let mut filter = Filter::all().with_needle(&id);
    // The session's time span, when known, rules out every other file by
    // its name alone. A record stored since is in the summary too (a
    // moment later), so at worst the newest are missing, never the rest.
    if app.is_ready() {
        if let Some((first, last)) = app.summary().bounds(&id) {
            filter = filter.at_or_after(&first).before(&just_after(&last));
        }
    }
    let mut found: Vec<Found> = Merged::new(&dir, &filter, Scope::Both, Order::OldestFirst)
        .filter(|f| belongs(&f.record, &id))
        .take(MAX_SESSION_EVENTS + 1)
        .collect();
    let truncated = found.len() > MAX_SESSION_EVENTS;
    found.truncate(MAX_SESSION_EVENTS);
    let Some(tree) = build(found).into_iter().next() else {
        return http::error(s, m, 404, "no events of this session");
    };
    // Lifecycle bounds per agent, the run of each event id, and pairs.
    let mut bounds: std::collections::HashMap<String, (Option<String>, Option<String>)> =
        Default::default();
    let mut run_of_event = std::collections::HashMap::new();
    let mut all: Vec<(&str, &Record, bool)> = Vec::new();
    for run in &tree.runs {
        for e in &run.events {
            run_of_event.insert(e.record.id.to_string(), run.span_id.clone());
            all.push((run.span_id.as_str(), &e.record, e.valid));
            let (Some(agent), Some(name)) = (&e.record.source.agent_id, &e.record.name) else {
                continue;
            };
            let b = bounds.entry(agent.clone()).or_default();
            if name == SUBAGENT_STARTED {
                b.0 = Some(e.record.timestamp.clone());
            } else if name == SUBAGENT_STOPPED {
                b.1 = Some(e.record.timestamp.clone());
            }
        }
    }
    all.sort_by_key(|(_, r, _)| time(r));
    let mut pairing = Pairing::new(None);
    let mut pairs = Vec::new();
    for (span, r, valid) in &all {
        let Some(name) = r.name.as_deref().filter(|_| *valid) else {
            continue;
        };
        if let Paired::Closed {
            prefix,
            span_id,
            start,
            end,
            failed,
        } = pairing.add(span, name, time(r), &r.attributes)
        {
            pairs.push(json!({"name": prefix, "span_id": span_id, "start": format_time(start), "end": format_time(end), "failed": failed}));
        }
    }
    let mut runs = Vec::new();
    for run in &tree.runs {
        for (prefix, start) in pairing.open_in(&run.span_id) {
            pairs.push(json!({"name": prefix, "span_id": run.span_id, "start": format_time(start), "end": null, "failed": false}));
        }
        let first = run.events.first().map(|e| e.record.timestamp.clone());
        let last = run.events.last().map(|e| e.record.timestamp.clone());
        let (started, stopped) = run
            .agent_id
            .as_ref()
            .and_then(|a| bounds.get(a).cloned())
            .unwrap_or_default();
        let parent_span_id = run
            .events
            .iter()
            .find_map(|e| e.record.parent_span_id.clone())
            .filter(|p| *p != run.span_id);
        let caused_by = run.events.iter().find_map(|e| {
            let cause = e.record.attributes.get("caused_by")?.as_str()?;
            run_of_event
                .get(&cause.to_ascii_lowercase())
                .filter(|span| **span != run.span_id)
                .cloned()
        });
        runs.push(json!({
            "span_id": run.span_id,
            "agent_id": run.agent_id,
            "agent_type": run.agent_type,
            "start": started.clone().or(first),
            "end": stopped.clone().or(last),
            "bounds": if started.is_some() || stopped.is_some() { "lifecycle" } else { "events" },
            "parent_span_id": parent_span_id,
            "caused_by_span_id": caused_by,
            "events": run.events,
        }));
    }
    let body = json!({
        "session_id": tree.session_id,
        "trace_id": tree.trace_id,
        "start": tree.start,
        "duration_ms": tree.duration_ms,
        "events": tree.events,
        "invalid": tree.invalid,
        "truncated": truncated,
        "runs": runs,
        "pairs": pairs,
    });
    json_ok(s, m, &body)
}

/// Server-Sent Events: from the client's `Last-Event-ID` (or `?after=`),
/// else from now, every matching record in the order stored, each with its
/// follower position as `id:`.
fn stream(app: &Arc<App>, req: &Request, s: &mut TcpStream) -> Out {
    let m = req.method.as_str();
    let (filter, scope) = match filter(req) {
        Ok(f) => f,
        Err(e) => return http::error(s, m, 400, &e),
    };
    let words = search(req);
    let resume = req
        .header("last-event-id")
        .or(req.param("after"))
        .filter(|p| !p.trim().is_empty());
    let from = match resume.map(Position::parse) {
        None => live::head(&app.root),
        Some(Some(p)) => p,
        Some(None) => return http::error(s, m, 400, "Last-Event-ID: not a position"),
    };
    // Subscribed before the first look: a change after it wakes this.
    let woken = app.hub.subscribe();
    // A stuck reader ends this thread instead of holding it forever.
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    s.write_all(http::head(200, "text/event-stream; charset=utf-8", None).as_bytes())?;
    s.write_all(b"retry: 1000\n\n")?;
    s.flush()?;
    if m == "HEAD" {
        return Ok(());
    }
    let mut feed = ClientFeed::new(&app.root, from);
    let mut want =
        |kind: Kind, file: &FileName| scope.kinds().contains(&kind) && filter.file_may_match(file);
    loop {
        loop {
            for a in feed.next(&mut want) {
                if filter.matches(&a.record) && found_matches(&words, &a.record) {
                    let json = serde_json::to_string(&a.record).unwrap_or_default();
                    s.write_all(format!("id: {}\ndata: {json}\n\n", a.position).as_bytes())?;
                }
            }
            s.flush()?;
            if feed.caught_up() {
                break;
            }
        }
        match woken.recv_timeout(KEEP_ALIVE) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                s.write_all(b": keep-alive\n\n")?;
                s.flush()?;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}
