//! The process's allocator settings.

/// glibc's allocator keeps one arena (heap) per thread that allocates at once, up to eight a
/// core, and memory freed in one arena is not reused by another: a changed-only run, which
/// holds the push ledger while its read and encoding threads allocate and free batches, peaked
/// about 70 MiB higher with them than with one. One arena is shared instead: this process's
/// threads are few and allocate by the batch, so they seldom wait for it. Called first in
/// `main`, before any thread starts. (Other allocators: nothing to do.)
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a setting of the allocator, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
