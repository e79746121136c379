//! Transparent huge pages, turned off for the controller.
//!
//! mimalloc advises the kernel to back its arenas with transparent huge pages; the first
//! touch of each then zeroes 2 MiB, and a range the allocator purged and touches again is
//! zeroed again, so a process that holds many small JSON trees keeps whole huge pages for
//! a few live objects. Measured with `flotilla bench fleet --clusters 100 --apps 50`, five
//! interleaved pairs: the hub's peak RSS 268–276 MiB with huge pages, 223–225 MiB without,
//! cold start the same (mean 6.46 s both). The price is more page faults (4 KiB at a time):
//! a whole bench run took 630,000 instead of 200,000 when its own process (the simulated
//! fleet) ran without them too, so only the long-running controller turns them off.

/// Turns transparent huge pages off for this process and, as the flag is inherited across
/// fork and exec, the processes it starts. Where the kernel lacks the setting nothing
/// changes.
pub(crate) fn disable() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and reads no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_runs_without_transparent_huge_pages() {
        super::disable();
        // SAFETY: PR_GET_THP_DISABLE takes integer arguments only.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1, "PR_GET_THP_DISABLE after disable()");
    }
}
