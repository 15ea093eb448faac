//! The watchdog: whatever stalls the hook (a stdin that never ends, a stuck
//! file system, a slow collector), `publish` ends by its deadline with exit
//! 0 and one line on stderr, so the agent is never blocked.
//!
//! A one-shot timer (`setitimer(ITIMER_REAL)`) raises SIGALRM at the
//! deadline, and its handler writes the line and ends the process. A timer
//! costs two system calls where a watchdog thread cost a clone, a stack and
//! a malloc arena: 0.1 ms of a 2 ms hook call. Records are written to
//! anonymous files and linked into place whole, so ending mid-write leaves
//! no partial record.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The default deadline of one hook call.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;

/// How long the handler's stderr write may take before the process ends
/// without it: a stderr nobody reads must not hold the exit back.
const WRITE_GRACE: Duration = Duration::from_millis(100);

static START: OnceLock<Instant> = OnceLock::new();
/// The deadline in milliseconds after `START`, for the handler's message.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(u64::MAX);
/// Set once the deadline has passed: a second SIGALRM (the write grace
/// ran out) ends the process at once.
static EXPIRED: AtomicBool = AtomicBool::new(false);

/// Arms the watchdog: the process exits 0 `deadline_ms` after now. A second
/// call only moves the deadline, as `reset` does.
pub fn arm(deadline_ms: u64) {
    let mut first = false;
    START.get_or_init(|| {
        first = true;
        Instant::now()
    });
    if first {
        install_handler();
    }
    set(deadline_ms);
}

/// Moves the deadline to `deadline_ms` after the watchdog was armed (once
/// the project's config file is read); nothing when it is not armed.
pub fn reset(deadline_ms: u64) {
    if START.get().is_some() {
        set(deadline_ms);
    }
}

fn set(deadline_ms: u64) {
    DEADLINE_MS.store(deadline_ms, Ordering::SeqCst);
    let start = *START.get().expect("armed");
    let due = start + Duration::from_millis(deadline_ms);
    // A deadline already past fires at once; a zero timer would disarm.
    let left = due
        .saturating_duration_since(Instant::now())
        .max(Duration::from_micros(1));
    start_timer(left);
}

fn install_handler() {
    // SAFETY: `on_alarm` only calls async-signal-safe functions (write,
    // setitimer, _exit) and reads atomics. The mask calls change only
    // SIGALRM, which a parent may have left blocked across exec.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
        // NODEFER: the grace timer's second SIGALRM must reach the handler
        // while it is still stuck in its write.
        action.sa_flags = libc::SA_NODEFER;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

fn start_timer(after: Duration) {
    let timer = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: after.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_usec: after.subsec_micros() as libc::suseconds_t,
        },
    };
    // SAFETY: a plain system call on a valid struct; async-signal-safe.
    unsafe {
        libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
    }
}

/// The SIGALRM handler: says why on stderr, then exits 0.
extern "C" fn on_alarm(_signal: libc::c_int) {
    if EXPIRED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) }
    }
    start_timer(WRITE_GRACE);
    let mut line = [0u8; 256];
    let len = message(DEADLINE_MS.load(Ordering::SeqCst), &mut line);
    // SAFETY: write and _exit are async-signal-safe; the buffer is ours.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::_exit(0)
    }
}

/// Writes the give-up line into `buf` without allocating (the handler may
/// have interrupted malloc); returns its length.
fn message(deadline_ms: u64, buf: &mut [u8; 256]) -> usize {
    let mut digits = [0u8; 20];
    let mut n = deadline_ms;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let parts: [&[u8]; 3] = [
        b"event-publisher: gave up after ",
        &digits[at..],
        b" ms (deadline_ms); events not stored by then were not stored (publishing the payload again stores them)\n",
    ];
    let mut len = 0;
    for part in parts {
        let end = (len + part.len()).min(buf.len());
        buf[len..end].copy_from_slice(&part[..end - len]);
        len = end;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_the_deadline_on_one_line() {
        let mut buf = [0u8; 256];
        for (ms, text) in [
            (0, "0 ms"),
            (400, "400 ms"),
            (u64::MAX, "18446744073709551615 ms"),
        ] {
            let len = message(ms, &mut buf);
            let line = std::str::from_utf8(&buf[..len]).unwrap();
            assert!(
                line.starts_with("event-publisher: gave up after "),
                "{line}"
            );
            assert!(line.contains(&format!(" {text} (deadline_ms)")), "{line}");
            assert!(
                line.ends_with(")\n") && line.matches('\n').count() == 1,
                "{line}"
            );
        }
    }
}
