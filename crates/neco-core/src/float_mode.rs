//! The floating-point mode the deterministic path runs in, whatever its caller's.
//!
//! The parameter path's bits depend on IEEE behaviour that a thread's control register
//! can change: flush-to-zero (FTZ) and denormals-are-zero (DAZ), which audio and
//! numerics code often enable, replace subnormal results and inputs by zero, and a
//! rounding mode other than nearest-even changes every rounded product. A stream must
//! decode to the same latents in such a host as anywhere else, so the path runs under
//! [`deterministic`]: on threads of a pool of its own, whose control register is set to
//! IEEE defaults (nearest-even, no FTZ, no DAZ) when each thread starts and again
//! around every call. (A thread of Rayon's global pool inherits the register of the
//! thread that started the pool, so the global pool cannot be trusted with it.)
//!
//! On x86-64 the register is MXCSR. On other architectures the mode is left as it is
//! (their default is IEEE; neco sets nothing there).

use std::sync::OnceLock;

/// The bits of the control register that change results: on x86-64, MXCSR's FTZ
/// (bit 15), rounding control (bits 13–14) and DAZ (bit 6). All zero is IEEE's
/// default: round to nearest-even, subnormals kept.
#[cfg(target_arch = "x86_64")]
const MODE_BITS: u32 = (1 << 15) | (3 << 13) | (1 << 6);

/// The calling thread's control register.
#[cfg(target_arch = "x86_64")]
fn read() -> u32 {
    let mut csr: u32 = 0;
    // SAFETY: stmxcsr stores the 32-bit MXCSR into the given, writable, aligned u32.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
    }
    csr
}

/// Sets the calling thread's control register.
#[cfg(target_arch = "x86_64")]
fn write(csr: u32) {
    // SAFETY: ldmxcsr loads MXCSR from a u32 built from a value read by `read` (the
    // reserved bits as the CPU reported them), so it cannot fault.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags));
    }
}

/// While alive, the calling thread computes in IEEE's default mode; dropping it puts
/// the caller's mode back.
#[must_use]
pub struct IeeeMode {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl IeeeMode {
    /// Switches the calling thread to IEEE's default mode until the guard drops.
    pub fn enter() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = read();
            if saved & MODE_BITS != 0 {
                write(saved & !MODE_BITS);
            }
            IeeeMode { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        IeeeMode {}
    }
}

impl Drop for IeeeMode {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if self.saved & MODE_BITS != 0 {
            write(self.saved);
        }
    }
}

/// The pool the deterministic path's parallel parts run on: as many threads as the
/// pool of the first caller, each in IEEE's default mode from its start.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("neco-core-{i}"))
            .start_handler(|_| std::mem::forget(IeeeMode::enter()))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `f` — and every Rayon job it spawns — in IEEE's default floating-point mode,
/// whatever mode the calling thread is in (see the [module docs](self)). Calls nest
/// at no cost beyond a register read.
pub fn deterministic<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let run = || {
        let _mode = IeeeMode::enter();
        f()
    };
    match pool() {
        // Already on one of the pool's threads (a nested call): run here.
        Some(p) if p.current_thread_index().is_some() => run(),
        Some(p) => p.install(run),
        // No thread could be started (then Rayon's global pool could not start
        // either): this thread, in IEEE's mode.
        None => run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest positive subnormal f32 times 2, computed at run time.
    fn subnormal_product(x: f32) -> f32 {
        std::hint::black_box(x) * std::hint::black_box(1e-30f32)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_path_keeps_subnormals_under_a_flushing_caller() {
        let before = read();
        write((before & !MODE_BITS) | (1 << 15) | (1 << 6));
        // The caller's mode flushes…
        assert_eq!(subnormal_product(1e-10), 0.0);
        // …the path's does not, on its own thread and on the pool's.
        let inside = deterministic(|| {
            use rayon::prelude::*;
            let v: Vec<f32> = (0..64)
                .into_par_iter()
                .map(|i| subnormal_product(1e-10 * (i + 1) as f32))
                .collect();
            (subnormal_product(1e-10), v)
        });
        let flushed = read();
        write(before);
        assert!(inside.0 > 0.0 && inside.0 < f32::MIN_POSITIVE);
        assert!(inside.1.iter().all(|&v| v > 0.0), "{:?}", inside.1);
        // The caller's mode is back as it was.
        assert_eq!(flushed & MODE_BITS, (1 << 15) | (1 << 6));
    }
}
