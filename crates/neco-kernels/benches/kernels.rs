//! The kernels on the wide model's layer shapes (128 channels, a 256×256 training
//! crop), bf16 against f32 in the same run.
//!
//! `cargo bench -p neco-kernels`; `NECO_CPU_LEVEL` picks the instruction set.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use neco_kernels::conv::{pad, Conv, ConvUp, Post};
use neco_kernels::Precision;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// A 128→128 stride-2 convolution (128² → 64²) and its transposed mirror, f32 and
/// bf16 (bf16 only where the CPU has AVX-512 BF16).
fn layers(c: &mut Criterion) {
    let (ch, h) = (128, 128);
    let wts = random(ch * ch * 25, 3);
    let mut group = c.benchmark_group("layer/128ch");
    group.sample_size(10);
    for precision in [Precision::F32, Precision::Bf16] {
        if precision.effective() != precision {
            continue; // no AVX-512 BF16: bf16 would time the f32 kernels again
        }
        let none = || (vec![0.0; ch], Post::None);
        let down = Conv::from_weights(&wts, [ch, ch, 5], (2, 2), none(), precision);
        let up = ConvUp::from_weights(&wts, [ch, ch], none(), precision);
        let x = pad(&random(h * h * ch, 4), (h, h, ch), 2);
        let y = pad(&random(h * h * ch / 4, 5), (h / 2, h / 2, ch), 1);
        let name = precision.name();
        group.bench_function(BenchmarkId::new("down", name), |bench| {
            bench.iter(|| down.forward(&x, h, h, 0))
        });
        group.bench_function(BenchmarkId::new("up", name), |bench| {
            bench.iter(|| up.forward(&y, h / 2, h / 2, 0))
        });
    }
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
