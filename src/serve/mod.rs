//! `event-publisher serve`: a live web view of `.events/` and a JSON API,
//! over a small blocking HTTP/1.1 server, one thread per connection.
//!
//! - `http`: reading a request head and writing responses, with the
//!   security headers (a strict Content-Security-Policy).
//! - `live`: cursors for paging, the valid and invalid scans merged, and
//!   the hub that wakes every SSE client when the store's follower
//!   (`store::follow`) may have more.
//! - `summary`: sessions and metrics, kept from every stored record.
//! - `api`: the routes.
//!
//! Safety: it only reads; each request's `Host` must be the bound address
//! or `localhost` (against DNS rebinding); connections are capped, and
//! each has timeouts, so a stuck client holds one thread and one pending
//! wake-up, never the others: it reads what it missed from the store.

pub mod api;
pub mod http;
pub mod live;
pub mod summary;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{Context, Result};
use crate::store::{EventsDir, Filter, Order, Scan, Scope};
use live::Hub;
use summary::Summary;

/// The most connections served at once (SSE clients included); more are
/// answered 503.
pub const MAX_CONNECTIONS: usize = 256;

pub struct Options {
    pub bind: IpAddr,
    /// 0: any free port.
    pub port: u16,
}

/// What every connection's thread shares.
pub struct App {
    pub root: PathBuf,
    pub hub: Hub,
    summary: Mutex<Summary>,
    ready: (Mutex<bool>, Condvar),
    /// The `Host` names accepted (without port).
    hosts: Vec<String>,
    port: u16,
    connections: AtomicUsize,
}

impl App {
    pub fn summary(&self) -> MutexGuard<'_, Summary> {
        self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether every record stored at start-up has been summarised.
    pub fn is_ready(&self) -> bool {
        *self.ready.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every record stored at start-up has been summarised.
    pub fn wait_ready(&self) {
        let (lock, cv) = &self.ready;
        let mut ready = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !*ready {
            ready = cv.wait(ready).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Is `host` (a `Host` header) this server, by a name it answers to?
    pub fn host_ok(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !n.ends_with(':') && (n.starts_with('[') || !n.contains(':')) => {
                (n.to_string(), Some(p))
            }
            _ => (host.clone(), None),
        };
        // The name is what DNS rebinding changes; a port, when given,
        // must still be this one.
        let port_ok = port.is_none_or(|p| p.parse::<u16>() == Ok(self.port));
        port_ok && self.hosts.contains(&name)
    }
}

/// Binds, calls `listening` with the address, and serves until killed.
pub fn serve(root: PathBuf, options: Options, listening: impl FnOnce(SocketAddr)) -> Result<()> {
    let listener = TcpListener::bind((options.bind, options.port))
        .with_context(|| format!("binding {}:{}", options.bind, options.port))?;
    let addr = listener.local_addr().context("the bound address")?;
    let bound = match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let app = Arc::new(App {
        root: root.clone(),
        hub: Hub::default(),
        summary: Mutex::new(Summary::default()),
        ready: (Mutex::new(false), Condvar::new()),
        hosts: vec![
            bound,
            "localhost".into(),
            "127.0.0.1".into(),
            "[::1]".into(),
        ],
        port: addr.port(),
        connections: AtomicUsize::new(0),
    });
    let follower_app = app.clone();
    std::thread::Builder::new()
        .name("follower".into())
        .spawn(move || follow(&follower_app))
        .context("starting the follower")?;
    listening(addr);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let app = app.clone();
        if app.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            app.connections.fetch_sub(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = http::error(&mut stream, "GET", 503, "too many connections");
            continue;
        }
        let spawned = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                connection(&app, stream);
                app.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The thread never ran: its count is gone with it.
            continue;
        }
    }
    Ok(())
}

/// Summarises every stored record, then follows the store: each new
/// record is summarised and every stream woken. The follower starts from
/// where the store ended before the first record was read, so a record
/// stored during the reading is seen twice and counted once.
fn follow(app: &App) {
    let from = live::head(&app.root);
    let mut read = HashSet::new();
    if let Ok(Some(dir)) = EventsDir::open(&app.root) {
        let all = Filter::all();
        // Valid records first, in time order: how pairs are made.
        for scope in [Scope::Valid, Scope::Invalid] {
            let mut scan = Scan::new(&dir, &all, scope, Order::OldestFirst);
            for f in scan.by_ref() {
                read.insert(f.record.id);
                app.summary().add(f.kind, &f.record);
            }
            scan.finish();
        }
    }
    {
        let (lock, cv) = &app.ready;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
    live::run_hub(&app.root, from, &app.hub, |a| {
        if !read.remove(&a.record.id) {
            app.summary().add(a.kind, &a.record);
        }
    });
}

fn connection(app: &Arc<App>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let req = match http::read_request(&mut stream) {
        Ok(r) => r,
        Err(Some((status, why))) => {
            let _ = http::error(&mut stream, "GET", status, why);
            return;
        }
        Err(None) => return,
    };
    if !req.header("host").is_some_and(|h| app.host_ok(h)) {
        let _ = http::error(
            &mut stream,
            &req.method,
            403,
            "Host is not this server (use localhost or the bound address)",
        );
        return;
    }
    if req.method != "GET" && req.method != "HEAD" {
        let _ = http::error(
            &mut stream,
            &req.method,
            405,
            "read-only: GET and HEAD only",
        );
        return;
    }
    let _ = api::route(app, &req, &mut stream);
}
