//! The watchdog: whatever stalls the hook (a stdin that never ends, a stuck
//! file system, a slow collector), `publish` ends by its deadline with exit
//! 0 and one line on stderr, so the agent is never blocked.
//!
//! A thread sleeps until the deadline, then ends the process. Records are
//! written to anonymous files and linked into place whole, so ending
//! mid-write leaves no partial record.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The default deadline of one hook call.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;

static START: OnceLock<Instant> = OnceLock::new();
/// The deadline, in milliseconds after `START`.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(u64::MAX);
static THREAD: OnceLock<Thread> = OnceLock::new();

/// Arms the watchdog: the process exits 0 `deadline_ms` after now. Once per
/// process; a second call only moves the deadline.
pub fn arm(deadline_ms: u64) {
    START.get_or_init(Instant::now);
    DEADLINE_MS.store(deadline_ms, Ordering::SeqCst);
    THREAD.get_or_init(|| {
        std::thread::Builder::new()
            .name("watchdog".into())
            .stack_size(64 << 10)
            .spawn(watch)
            .expect("spawn the watchdog thread")
            .thread()
            .clone()
    });
}

/// Moves the deadline to `deadline_ms` after the watchdog was armed (once
/// the project's config file is read); nothing when it is not armed.
pub fn reset(deadline_ms: u64) {
    if let Some(t) = THREAD.get() {
        DEADLINE_MS.store(deadline_ms, Ordering::SeqCst);
        t.unpark();
    }
}

fn watch() {
    let start = *START.get().expect("armed");
    loop {
        let deadline = DEADLINE_MS.load(Ordering::SeqCst);
        let due = start + Duration::from_millis(deadline);
        let now = Instant::now();
        if now >= due {
            expire(deadline);
        }
        std::thread::park_timeout(due - now);
    }
}

/// Says why on stderr, then exits 0. The message is written from another
/// thread, so a stderr nobody reads cannot hold the exit back.
fn expire(deadline: u64) -> ! {
    let line = format!(
        "event-publisher: gave up after {deadline} ms (deadline_ms); events not stored by then were not stored (publishing the payload again stores them)\n"
    );
    let writer = std::thread::spawn(move || {
        // Straight to the descriptor: the main thread may hold stderr's
        // lock, stuck.
        let _ = rustix::io::write(std::io::stderr(), line.as_bytes());
    });
    let wait = Instant::now();
    while !writer.is_finished() && wait.elapsed() < Duration::from_millis(100) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::process::exit(0)
}
