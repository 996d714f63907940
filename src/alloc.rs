//! Tuning of the mimalloc allocator that the `neco` binary and the benches install.

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (include/mimalloc.h of
/// libmimalloc-sys 0.1.49, the version Cargo.lock pins).
const MI_OPTION_PURGE_DELAY: i32 = 15;

unsafe extern "C" {
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// Keep freed memory mapped for a second instead of mimalloc's default 10 ms.
///
/// The transforms allocate and free buffers of tens of MB per layer and per image;
/// with the default every such buffer came back from the kernel as fresh pages, and
/// clearing them was a tenth of the decode profile. After a second of not being
/// reused the memory still goes back to the system. Call it first thing in `main`,
/// and only where mimalloc is the global allocator.
/// `MIMALLOC_PURGE_DELAY` in the environment (mimalloc's own setting) wins.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores an option value; mimalloc is linked in (the
    // `mimalloc` dependency) whether or not it is the global allocator.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
}

/// Keep freed memory mapped for good: for the training commands, whose buffers are
/// the same sizes every step, so that each step would otherwise take back pages
/// mimalloc had just returned, and the kernel clear them again (3.5 % of a step of
/// the wide model, `perf`, 2026-12-07). `MIMALLOC_PURGE_DELAY` in the environment
/// still wins.
pub fn keep_all_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: as in `keep_freed_memory`; −1 is mimalloc's "never purge".
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}
