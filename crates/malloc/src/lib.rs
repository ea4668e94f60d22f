//! glibc's allocator, tuned once when a `tssw` program starts.
//!
//! A signing ceremony moves buffers of hundreds of kilobytes: an ECDSA batch's round
//! message is ≈ 890 KB, DKLs23's OT extension allocates matrices of that order, and the
//! relay holds frames as large. By default glibc serves such buffers from their own `mmap`
//! and gives freed heap tops of its per-thread arenas back to the kernel, adjusting both
//! limits as it goes. In the three processes of `tssw bench` that meant the kernel
//! mapping, zeroing and unmapping the same memory over and over: ≈ 490 000 page faults in
//! an ECDSA run, ≈ 34 000 with both limits fixed, and ≈ 2 % less CPU per signature
//! (BENCHMARKS.md). Fixing the limits keeps those buffers in the arenas for reuse.
//!
//! The cost is memory held: each arena keeps up to [`TRIM_THRESHOLD`] of free space at its
//! top instead of returning it. Secrets are zeroized before they are freed (`Zeroize` on
//! drop), so memory kept for reuse holds none.
//!
//! Elsewhere than glibc (musl, macOS, the browser) [`tune`] changes nothing. An operator's
//! own `GLIBC_TUNABLES` for malloc is left to stand.

/// Allocations up to this size come from the arenas, not from a mapping of their own.
pub const MMAP_THRESHOLD: usize = 4 << 20;

/// Free space an arena keeps at its top before it gives memory back to the kernel.
pub const TRIM_THRESHOLD: usize = 16 << 20;

/// What [`tune`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// Both limits are set.
    Applied,
    /// `GLIBC_TUNABLES` sets malloc tunables: the operator's choice stands.
    Environment,
    /// The allocator is not glibc's.
    Unsupported,
    /// glibc refused a value.
    Refused,
}

/// Fixes glibc's mmap and trim thresholds. Call it first in `main`, before any thread
/// starts: the limits are process-wide, and glibc's manual marks `mallopt` MT-Unsafe, so
/// it runs before there are other threads to race with it.
pub fn tune() -> Tuning {
    if tunes_malloc(std::env::var("GLIBC_TUNABLES").ok().as_deref()) {
        return Tuning::Environment;
    }
    apply()
}

/// Whether a `GLIBC_TUNABLES` value sets any malloc tunable (`glibc.malloc.*`).
fn tunes_malloc(tunables: Option<&str>) -> bool {
    tunables.is_some_and(|t| t.split(':').any(|kv| kv.starts_with("glibc.malloc.")))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> Tuning {
    let (Ok(mmap), Ok(trim)) = (libc::c_int::try_from(MMAP_THRESHOLD), libc::c_int::try_from(TRIM_THRESHOLD)) else {
        return Tuning::Refused;
    };
    // SAFETY: `mallopt` takes two integers and sets allocator parameters; it reads and
    // writes no memory of ours. A value out of glibc's range (the mmap threshold's is
    // 32 MiB on 64-bit targets, 512 KiB on 32-bit ones) is refused with 0, not undefined.
    // `tune`'s contract (first thing in `main`) keeps other threads from racing with it.
    #[allow(unsafe_code)]
    let set =
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1 };
    if set { Tuning::Applied } else { Tuning::Refused }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> Tuning {
    Tuning::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_on_glibc_unless_the_environment_tunes_malloc() {
        let expected = if tunes_malloc(std::env::var("GLIBC_TUNABLES").ok().as_deref()) {
            Tuning::Environment
        } else if cfg!(all(target_os = "linux", target_env = "gnu")) {
            Tuning::Applied
        } else {
            Tuning::Unsupported
        };
        assert_eq!(tune(), expected);
    }

    #[test]
    fn only_malloc_tunables_count_as_the_operators_choice() {
        assert!(!tunes_malloc(None));
        assert!(!tunes_malloc(Some("")));
        assert!(!tunes_malloc(Some("glibc.pthread.rseq=0")));
        assert!(tunes_malloc(Some("glibc.malloc.arena_max=2")));
        assert!(tunes_malloc(Some("glibc.pthread.rseq=0:glibc.malloc.trim_threshold=0")));
        assert!(!tunes_malloc(Some("x.glibc.malloc.y=1")));
    }
}
