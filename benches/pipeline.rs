//! The codec's stages and the whole pipeline with the default weights, at sizes that
//! show how cost grows: the deterministic parameter path (h_s in ordered f32 + table
//! selection), the same for the multivariate model (channel groups of 4, with the
//! conditional-means pass), the temporal prior of video frames, g_a and g_s per backend (flex always; wgpu when built with
//! `--features wgpu`), end-to-end encode/decode (with tiling) of a photo scaled to
//! 256², 768×512, 1920×1080 and 4096², and one training step on the CPU (kernels vs
//! `flex`).
//!
//!     cargo bench --bench pipeline                 # everything (several minutes)
//!     cargo bench --bench pipeline -- decode/768   # one group/size
//!
//! Inputs come from assets/sample-768x512.png, so the benches run on a fresh clone.

use burn::prelude::*;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use neco::backend::BackendChoice;
use neco::codec::{Codec, Timings};
use neco::io::image_io::{SourceImage, SourceKind};
use neco::model::weights::{WeightsFile, DEFAULT_WEIGHTS};
use neco_core::container::ImageStream;
use neco_core::entropy::{entropy_params, Planes};
use neco_core::Limits;

// The same allocator as the `neco` binary, so the numbers are what users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: [(u32, u32); 4] = [(256, 256), (768, 512), (1920, 1080), (4096, 4096)];

fn label((w, h): (u32, u32)) -> String {
    format!("{w}x{h}")
}

/// The sample photo resized to `w`×`h`.
fn photo(w: u32, h: u32) -> SourceImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample-768x512.png");
    let img = image::open(path)
        .expect("assets/sample-768x512.png")
        .into_rgb8();
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    SourceImage {
        width: w,
        height: h,
        rgb: img.into_raw(),
        alpha: None,
        icc: None,
        exif: None,
        kind: SourceKind::Rgb,
        warnings: Vec::new(),
    }
}

fn weights() -> WeightsFile {
    WeightsFile::parse(DEFAULT_WEIGHTS).expect("default weights")
}

fn backends() -> Vec<(&'static str, Device)> {
    let mut list = vec![("flex", Device::flex())];
    if cfg!(feature = "wgpu") {
        if let Ok(d) = BackendChoice::Wgpu.device() {
            list.push(("wgpu", d));
        }
    }
    list
}

fn pad64(n: u32) -> usize {
    (n as usize).div_ceil(64) * 64
}

fn params(c: &mut Criterion) {
    let w = weights();
    let (n, m) = (w.config.n, w.config.m);
    let hyper = w
        .model(&Device::flex())
        .unwrap()
        .valid()
        .h_s
        .export()
        .prepare();
    let mut g = c.benchmark_group("params");
    for size in SIZES {
        let (zh, zw) = (pad64(size.1) / 64, pad64(size.0) / 64);
        // Small integers, as ẑ is.
        let z: Vec<f32> = (0..n * zh * zw)
            .map(|i| ((i * 7919) % 7) as f32 - 3.0)
            .collect();
        let z = Planes::new(n, zh, zw, z).unwrap();
        g.throughput(Throughput::Elements((m * zh * zw * 16) as u64));
        if size.0 >= 1920 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::from_parameter(label(size)), &z, |b, z| {
            b.iter(|| entropy_params(&hyper.forward(z).unwrap(), m).unwrap())
        });
    }
    g.finish();
}

/// The decoder's parameter path of the diagonal model beside the multivariate one
/// (groups of 4: a wider last h_s layer, then the conditional means given the
/// symbols). The coupling head is zero here; its cost does not depend on its values.
fn multivariate(c: &mut Criterion) {
    let w = weights();
    let (m, sha) = (w.config.m, w.sha256);
    let h_s = w.model(&Device::flex()).unwrap().valid().h_s;
    let diagonal =
        neco_core::entropy::EntropyModel::new(h_s.export(), w.z_tables.clone(), sha, 1).unwrap();
    let grouped = h_s.with_groups(m, 4, &Device::flex()).export();
    let grouped =
        neco_core::entropy::EntropyModel::new(grouped, w.z_tables.clone(), sha, 4).unwrap();
    let mut g = c.benchmark_group("multivariate");
    for size in [(768, 512), (1920, 1080)] {
        let d = neco_core::latent::LatentDims::new(size.0, size.1);
        let z: Vec<i32> = (0..w.config.n * d.z_plane())
            .map(|i| ((i * 7919) % 7) as i32 - 3)
            .collect();
        let symbols: Vec<i32> = (0..m * d.y_plane())
            .map(|i| ((i * 104_729) % 9) as i32 - 4)
            .collect();
        g.throughput(Throughput::Elements((m * d.y_plane()) as u64));
        g.sample_size(10);
        for (name, model) in [("diagonal", &diagonal), ("groups-4", &grouped)] {
            g.bench_function(BenchmarkId::new(name, label(size)), |b| {
                b.iter(|| {
                    let mut p = model.params(&z, &d, 50).unwrap();
                    p.condition(&symbols, 1.0).unwrap();
                    p
                })
            });
        }
    }
    g.finish();
}

/// The temporal prior of video frames on top of the parameter path: T(h_s output,
/// ŷ_{t−1}, Δ), in the same ordered arithmetic.
fn temporal(c: &mut Criterion) {
    let model = neco_core::weights::Weights::parse(DEFAULT_WEIGHTS)
        .and_then(|w| w.entropy_model())
        .expect("default weights");
    let Some(prior) = model.temporal() else {
        eprintln!("the default weights have no temporal prior: skipping");
        return;
    };
    let m = model.y_channels();
    let mut g = c.benchmark_group("temporal");
    for size in SIZES {
        let (yh, yw) = (pad64(size.1) / 16, pad64(size.0) / 16);
        let plane = yh * yw;
        let hs: Vec<f32> = (0..2 * m * plane)
            .map(|i| ((i * 7919) % 13) as f32 * 0.25)
            .collect();
        let hs = Planes::new(2 * m, yh, yw, hs).unwrap();
        let prev: Vec<f32> = (0..m * plane)
            .map(|i| ((i * 104_729) % 9) as f32 - 4.0)
            .collect();
        g.throughput(Throughput::Elements((m * plane) as u64));
        if size.0 >= 1920 {
            g.sample_size(10);
        }
        g.bench_function(BenchmarkId::from_parameter(label(size)), |b| {
            b.iter(|| prior.refine(&hs, &prev, 1.0).unwrap())
        });
    }
    g.finish();
}

/// g_a and g_s on neco's CPU kernels (the codec's default on the CPU); the
/// `transforms_flex` group times the same transforms on Burn's flex backend.
fn transforms_cpu(c: &mut Criterion) {
    let w = weights();
    let model = w.model(&Device::flex()).unwrap().valid();
    let g_a = neco::model::cpu::CpuConvChain::analysis(&model.g_a);
    let g_s = neco::model::cpu::CpuSynthesis::new(&model.g_s, neco::model::cpu::Precision::F32);
    let mut g = c.benchmark_group("transforms_cpu");
    g.sample_size(10);
    for size in &SIZES[..3] {
        let (ph, pw) = (pad64(size.1), pad64(size.0));
        g.throughput(Throughput::Elements((ph * pw) as u64));
        let x: Vec<f32> = (0..3 * ph * pw)
            .map(|i| ((i * 7919) % 256) as f32 / 255.0)
            .collect();
        g.bench_function(BenchmarkId::new("g_a", label(*size)), |b| {
            b.iter(|| g_a.forward(&x, ph, pw))
        });
        let (yh, yw) = (ph / 16, pw / 16);
        let y: Vec<f32> = (0..w.config.m * yh * yw)
            .map(|i| ((i * 104_729) % 9) as f32 * 0.5 - 2.0)
            .collect();
        g.bench_function(BenchmarkId::new("g_s", label(*size)), |b| {
            b.iter(|| g_s.forward(&y, yh, yw))
        });
    }
    g.finish();
}

fn transforms(c: &mut Criterion) {
    let w = weights();
    for (name, device) in backends() {
        let model = w.model(&device).unwrap().valid();
        let mut g = c.benchmark_group(format!("transforms_{name}"));
        g.sample_size(10);
        // One 4096² tensor needs gigabytes for g_a's first layer: the codec tiles
        // large images (see the end-to-end groups), so the raw transforms stop at 1080p.
        for size in &SIZES[..3] {
            let (ph, pw) = (pad64(size.1), pad64(size.0));
            g.throughput(Throughput::Elements((ph * pw) as u64));
            let x =
                Tensor::<4>::random([1, 3, ph, pw], burn::tensor::Distribution::Default, &device);
            g.bench_function(BenchmarkId::new("g_a", label(*size)), |b| {
                b.iter(|| model.g_a.forward(x.clone()).into_data())
            });
            let y = Tensor::<4>::random(
                [1, w.config.m, ph / 16, pw / 16],
                burn::tensor::Distribution::Uniform(-2.0, 2.0),
                &device,
            );
            g.bench_function(BenchmarkId::new("g_s", label(*size)), |b| {
                b.iter(|| model.g_s.forward(y.clone()).into_data())
            });
        }
        g.finish();
    }
}

fn end_to_end(c: &mut Criterion) {
    let codec = Codec::new(&weights(), Device::flex()).unwrap();
    let mut enc = c.benchmark_group("encode");
    enc.sample_size(10);
    let mut streams = Vec::new();
    for size in SIZES {
        let src = photo(size.0, size.1);
        enc.throughput(Throughput::Elements(size.0 as u64 * size.1 as u64));
        enc.bench_with_input(BenchmarkId::from_parameter(label(size)), &src, |b, src| {
            b.iter(|| codec.encode(src, 50, &mut Timings::default()).unwrap())
        });
        let bytes = codec
            .encode(&src, 50, &mut Timings::default())
            .unwrap()
            .to_bytes()
            .unwrap();
        streams.push((size, bytes));
    }
    enc.finish();
    let mut dec = c.benchmark_group("decode");
    dec.sample_size(10);
    for (size, bytes) in &streams {
        dec.throughput(Throughput::Elements(size.0 as u64 * size.1 as u64));
        dec.bench_with_input(
            BenchmarkId::from_parameter(label(*size)),
            bytes,
            |b, bytes| {
                b.iter(|| {
                    let s = ImageStream::from_bytes(bytes, &Limits::default()).unwrap();
                    codec.decode(&s, &mut Timings::default()).unwrap()
                })
            },
        );
    }
    dec.finish();
}

/// One training step's gradients (no optimizer step) of the default model on two
/// 256² crops of the sample photo, as `neco train` takes them on the CPU: g_a and g_s
/// on neco's kernels, or everything on Burn's `flex` autodiff (`--backend flex`).
fn train_step(c: &mut Criterion) {
    use neco::model::cpu::Precision;
    use neco::model::hyperprior::RateNoise;
    use neco::train::step::{burn_gradients, kernel_gradients, Batch};
    let inner = Device::flex();
    let device = inner.clone().autodiff();
    let model = weights().model(&device).unwrap();
    let src = photo(768, 512);
    let side = 256;
    let mut x = Vec::with_capacity(2 * 3 * side * side);
    for (x0, y0) in [(0, 0), (384, 256)] {
        for ch in 0..3 {
            for y in y0..y0 + side {
                let row = &src.rgb[(y * 768 + x0) * 3..(y * 768 + x0 + side) * 3];
                x.extend(
                    row.iter()
                        .skip(ch)
                        .step_by(3)
                        .map(|&v| f32::from(v) / 255.0),
                );
            }
        }
    }
    let batch = Batch {
        x: Tensor::<4>::from_data(TensorData::new(x, [2, 3, side, side]), &device),
        rung: 3,
        lambda: 0.0043,
        weight: 1.0,
        rate_weights: None,
        noise: RateNoise::Seeded(1),
    };
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    g.throughput(Throughput::Elements((2 * side * side) as u64));
    for precision in [Precision::F32, Precision::Bf16] {
        if precision.effective() != precision {
            continue; // bf16 needs AVX-512 BF16; elsewhere it would time f32 twice
        }
        g.bench_function(format!("kernels_{precision}"), |b| {
            b.iter(|| kernel_gradients(&model, &batch, precision, &inner))
        });
    }
    g.bench_function("flex", |b| b.iter(|| burn_gradients(&model, &batch)));
    g.finish();
}

criterion_group!(
    benches,
    params,
    multivariate,
    temporal,
    transforms_cpu,
    transforms,
    end_to_end,
    train_step
);

fn main() {
    // As in the `neco` binary: freed buffers stay mapped while they are reused.
    neco::alloc::keep_freed_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
