//! Entropy coding of ŷ alone: the Gaussian range coder over the substreams neco writes,
//! at the latent sizes of 256², 768×512, 1920×1080 and 4096² images (M = 96 channels,
//! one latent per 16×16 pixels). Reports symbols/s, and coded MB/s in the `_bytes`
//! groups.
//!
//!     cargo bench -p neco-core --bench entropy

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use neco_core::entropy::gaussian::{decode_parallel, encode_parallel, gaussian_tables};

/// Symbols per substream, as the codec uses.
const SYMBOLS_PER_SUBSTREAM: usize = 32 * 1024;
const CHANNELS: usize = 96;

/// (label, latent count) for the image sizes.
fn sizes() -> Vec<(&'static str, usize)> {
    [
        ("256x256", 256, 256),
        ("768x512", 768, 512),
        ("1920x1080", 1920, 1088),
        ("4096x4096", 4096, 4096),
    ]
    .into_iter()
    .map(|(label, w, h)| (label, CHANNELS * (w / 16) * (h / 16)))
    .collect()
}

/// Latents shaped like a trained model's: small integers around 0 whose spread follows
/// the scale each one is coded with, most scales small.
fn latents(n: usize) -> (Vec<i32>, Vec<u8>) {
    let tables = gaussian_tables().tables();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut symbols = Vec::with_capacity(n);
    let mut scales = Vec::with_capacity(n);
    for _ in 0..n {
        let r = next();
        // Skewed towards small scales, as in real latents (many near-deterministic ones).
        let idx = ((r % 1000) as f64 / 1000.0).powi(3) * (tables.len() - 1) as f64;
        let idx = idx as usize;
        let scale = tables[idx].scale() as f64;
        // A Laplacian-ish draw of that scale, rounded.
        let u = ((r >> 20) % 1_000_000) as f64 / 1_000_000.0 + 1e-7;
        let sign = if (r >> 50) & 1 == 0 { 1.0 } else { -1.0 };
        symbols.push((sign * -u.ln() * scale / 2f64.sqrt()).round() as i32);
        scales.push(idx as u8);
    }
    (symbols, scales)
}

fn bench(c: &mut Criterion) {
    for (label, n) in sizes() {
        let (symbols, scales) = latents(n);
        let substreams = n.div_ceil(SYMBOLS_PER_SUBSTREAM);
        let coded = encode_parallel(&symbols, &scales, substreams).unwrap();
        let coded_bytes: usize = coded.iter().map(Vec::len).sum();
        assert_eq!(decode_parallel(&coded, &scales).unwrap(), symbols);
        for (group, throughput) in [
            ("entropy_symbols", Throughput::Elements(n as u64)),
            ("entropy_bytes", Throughput::Bytes(coded_bytes as u64)),
        ] {
            let mut g = c.benchmark_group(group);
            g.throughput(throughput);
            if n > 1_000_000 {
                g.sample_size(10);
            }
            g.bench_with_input(BenchmarkId::new("encode", label), &n, |b, _| {
                b.iter(|| encode_parallel(&symbols, &scales, substreams).unwrap())
            });
            g.bench_with_input(BenchmarkId::new("decode", label), &n, |b, _| {
                b.iter(|| decode_parallel(&coded, &scales).unwrap())
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
