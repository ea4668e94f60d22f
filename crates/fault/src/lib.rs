//! Named fault points for crash tests (invariant 6: a crash at any point of a refresh or
//! reshare leaves every side with exactly one active epoch and no share lost).
//!
//! A process started with `TSSW_FAULT=<name>` kills itself with SIGKILL the first time it
//! reaches [`point`]`("<name>")`, and with `TSSW_FAULT=<name>@<n>` the n-th time (to die in
//! the middle of a stream of frames, say): no destructor runs, no buffer is flushed,
//! exactly as if an operator had run `kill -9` at that instant. Without the variable a
//! point costs one load of a cached value. Whoever can set a process's environment can
//! already kill it, so the variable gives nothing away; it is read once, at the first
//! point reached.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms one fault point.
pub const VAR: &str = "TSSW_FAULT";

struct Armed {
    name: String,
    at: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var(VAR).ok().filter(|v| !v.is_empty())?;
            let (name, at) = match value.rsplit_once('@') {
                Some((name, n)) => (name.to_string(), n.parse().ok().filter(|n| *n > 0)?),
                None => (value, 1),
            };
            Some(Armed { name, at, hits: AtomicU64::new(0) })
        })
        .as_ref()
}

/// A fault point: if this process was started with `TSSW_FAULT=name` (or `name@n`), it
/// dies here the first (or n-th) time.
pub fn point(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name == name && armed.hits.fetch_add(1, Ordering::Relaxed) + 1 == armed.at {
        eprintln!("tssw-fault: {name} reached, killing this process (SIGKILL)");
        // SIGKILL to ourselves cannot be caught and never returns; `abort` is the fallback
        // should the kill be refused.
        let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    /// Runs only as the child of `an_armed_point_kills_with_sigkill`.
    #[test]
    fn child_reaches_points() {
        if std::env::var("TSSW_FAULT_TEST_CHILD").is_err() {
            return;
        }
        super::point("other");
        println!("passed other");
        super::point("armed");
        println!("passed armed once");
        super::point("armed");
        println!("survived armed");
    }

    #[test]
    fn an_armed_point_kills_with_sigkill() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::child_reaches_points", "--nocapture", "--test-threads=1"])
            .env("TSSW_FAULT_TEST_CHILD", "1")
            .env(super::VAR, "armed@2")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.signal(), Some(9), "status {:?}, stdout {stdout}", out.status);
        assert!(stdout.contains("passed other") && stdout.contains("passed armed once"), "{stdout}");
        assert!(!stdout.contains("survived"), "{stdout}");
    }
}
