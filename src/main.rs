//! The `event-publisher` binary: parse the command line, run the command,
//! turn the outcome into an exit code.
//!
//! `main` is the C entry point (`#![no_main]`). std's own start-up reads
//! `/proc/self/maps` to place a stack guard and maps a signal stack for the
//! stack-overflow message: 0.16 ms of a 1.7 ms hook call. What of it the
//! tool needs is done here: SIGPIPE ignored, closed standard descriptors
//! pointed at /dev/null, stdout flushed at exit. A stack overflow ends in
//! SIGSEGV without std's message; nothing here recurses without a bound.

// A test build (`cargo test --all-targets`) keeps the harness's `main`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
mod entry {
    use std::ffi::{CStr, OsString, c_char, c_int};
    use std::os::unix::ffi::OsStrExt;

    use event_publisher::run_command_line;

    #[unsafe(no_mangle)]
    extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
        start();
        // SAFETY: the C runtime passes `argc` valid C strings in `argv`.
        let args = unsafe { args(argc, argv) };
        let code = run_command_line(args);
        // Runs std's clean-up, which flushes stdout, then exits.
        std::process::exit(code.code())
    }

    /// The part of std's runtime start-up the tool relies on.
    fn start() {
        // SAFETY: plain system calls on the standard descriptors and a static
        // path; the signal disposition is the one std itself sets.
        unsafe {
            // Writes to a closed pipe fail with EPIPE instead of killing the
            // process, so the hook still exits 0.
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            // A closed standard descriptor would be reused by the next open,
            // and the feedback meant for stdout would land in a record.
            let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
                fd,
                events: 0,
                revents: 0,
            });
            if libc::poll(fds.as_mut_ptr(), 3, 0) > 0 {
                for fd in fds {
                    if fd.revents & libc::POLLNVAL != 0 {
                        libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                    }
                }
            }
        }
    }

    /// The command line, from the C entry point's arguments.
    ///
    /// # Safety
    /// `argv` must hold `argc` valid C strings.
    unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
        (0..argc.max(0) as usize)
            .map(|i| {
                // SAFETY: the caller's contract.
                let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
                std::ffi::OsStr::from_bytes(arg.to_bytes()).to_os_string()
            })
            .collect()
    }
}
