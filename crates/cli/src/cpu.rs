//! CPU time of the bench's processes, from Linux's `/proc`: which process spends the time
//! that separates the stack's throughput from the compute bound. Elsewhere it is absent and
//! the bench says so.

use std::path::Path;
use std::time::Duration;

/// `/proc/<pid>/stat` counts in USER_HZ, which Linux fixes at 100 for user space on every
/// architecture it runs on.
const USER_HZ: u64 = 100;

/// CPU time (user + system, all threads, exited ones included) of `pid` so far.
pub(crate) fn used(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// The fields after the command name, which may itself hold spaces and parentheses:
/// utime and stime are the 14th and 15th of the line, the 12th and 13th after `)`.
fn parse_stat(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// The child processes of `pid` (any of its threads may have forked them).
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out: Vec<u32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(Path::new(&t.path()).join("children")).ok())
        .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let line = "4242 (tokio rt (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0 1 0 0";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(2870)));
        assert_eq!(parse_stat("4242 (x) S 1"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_used_some_cpu_and_a_child_is_found() {
        let started = used(std::process::id()).unwrap();
        // Busy for 200 ms of wall time: 20 ticks of CPU on an idle machine.
        let wall = std::time::Instant::now();
        let mut x = 0u64;
        while wall.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(used(std::process::id()).unwrap() > started);
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let found = children(std::process::id()).contains(&child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found);
    }
}
