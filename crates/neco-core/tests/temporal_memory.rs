//! The temporal prior's memory grows with the frame's parameters, not with its
//! network's inputs and activations: it runs in bands of rows (a process of its own,
//! to count every allocation).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use neco_core::entropy::{HyperSynthesis, Layer, Planes, TemporalPrior};

/// The system allocator, counting the bytes live and the most live at once.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; the counters do not affect allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn the_temporal_prior_runs_in_bands_of_bounded_memory() {
    // M = 16 on a 1024×512 latent grid: the parameters take 64 MiB, the network's
    // whole input (3M + 1 = 49 channels) 98 MiB, its output 64 MiB more.
    let m = 16;
    let (c_in, c_out) = (3 * m + 1, 2 * m);
    let mut weight = vec![0.0f32; c_out * c_in];
    for c in 0..m {
        weight[(m + c) * c_in + 2 * m + c] = 0.5; // mean c ← ŷ_{t−1} channel c
    }
    let net = HyperSynthesis {
        layers: vec![Layer::Conv {
            weight,
            bias: vec![0.0; c_out],
            in_ch: c_in,
            out_ch: c_out,
            kernel: 1,
            stride: 1,
            padding: 0,
        }],
    };
    let prior = TemporalPrior::new(net, m).unwrap();
    let (h, w) = (1024, 512);
    let plane = h * w;
    let mut hs = Planes::zeros(2 * m, h, w).unwrap();
    let prev: Vec<f32> = (0..m * plane).map(|i| (i % 7) as f32).collect();
    // Prepare the layers first (that is not per frame).
    prior
        .refine_in_place(&mut Planes::zeros(2 * m, 1, 1).unwrap(), &[0.0; 16], 1.0)
        .unwrap();

    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    prior.refine_in_place(&mut hs, &prev, 1.0).unwrap();
    let extra = PEAK.load(Ordering::SeqCst) - before;
    // Bands of about 32 MiB of input (and the kernels' padded copy of it), their
    // outputs two at a time: well under the 162 MiB that one pass over the whole
    // input and output takes.
    assert!(
        extra < 128 << 20,
        "refining took {} MiB beyond the parameters",
        extra >> 20
    );
    // And the result is right: the means got half the previous latent.
    assert_eq!(hs.data[m * plane + 3], 1.5);
    assert_eq!(hs.data[3], 0.0);
}
