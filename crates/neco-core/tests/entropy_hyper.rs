//! Tests for the deterministic hyper-synthesis and entropy-parameter split.

use neco_core::entropy::{entropy_params, scale_index, HyperSynthesis, Layer, Planes};
use neco_core::NecoError;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

fn planes(rng: &mut Rng, c: usize, h: usize, w: usize) -> Planes {
    Planes::new(c, h, w, rng.vec(c * h * w)).unwrap()
}

/// Straightforward Conv2d in the documented order (bias, ci, ky, kx).
fn ref_conv(x: &Planes, w: &[f32], b: &[f32], co: usize, k: usize, s: usize, p: usize) -> Planes {
    let ci_n = x.channels;
    let ho = (x.height + 2 * p - k) / s + 1;
    let wo = (x.width + 2 * p - k) / s + 1;
    let mut out = vec![0.0f32; co * ho * wo];
    for o in 0..co {
        for y in 0..ho {
            for xx in 0..wo {
                let mut acc = b[o];
                for ci in 0..ci_n {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (y * s + ky) as i64 - p as i64;
                            let ix = (xx * s + kx) as i64 - p as i64;
                            if iy < 0 || ix < 0 || iy >= x.height as i64 || ix >= x.width as i64 {
                                continue;
                            }
                            let v = x.data[(ci * x.height + iy as usize) * x.width + ix as usize];
                            acc += w[((o * ci_n + ci) * k + ky) * k + kx] * v;
                        }
                    }
                }
                out[(o * ho + y) * wo + xx] = acc;
            }
        }
    }
    Planes::new(co, ho, wo, out).unwrap()
}

/// ConvTranspose2d by the textbook scatter definition (different summation order).
#[allow(clippy::too_many_arguments)]
fn ref_convt_scatter(
    x: &Planes,
    w: &[f32],
    b: &[f32],
    co: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
) -> Planes {
    let ho = (x.height - 1) * s + k + op - 2 * p;
    let wo = (x.width - 1) * s + k + op - 2 * p;
    let mut out = vec![0.0f32; co * ho * wo];
    for o in 0..co {
        for i in 0..ho * wo {
            out[o * ho * wo + i] = b[o];
        }
    }
    for ci in 0..x.channels {
        for iy in 0..x.height {
            for ix in 0..x.width {
                let v = x.data[(ci * x.height + iy) * x.width + ix];
                for o in 0..co {
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (iy * s + ky) as i64 - p as i64;
                            let xx = (ix * s + kx) as i64 - p as i64;
                            if y < 0 || xx < 0 || y >= ho as i64 || xx >= wo as i64 {
                                continue;
                            }
                            out[(o * ho + y as usize) * wo + xx as usize] +=
                                w[((ci * co + o) * k + ky) * k + kx] * v;
                        }
                    }
                }
            }
        }
    }
    Planes::new(co, ho, wo, out).unwrap()
}

/// ConvTranspose2d by gather in the documented order (bias, ci, ky, kx).
#[allow(clippy::too_many_arguments)]
fn ref_convt_gather(
    x: &Planes,
    w: &[f32],
    b: &[f32],
    co: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
) -> Planes {
    let ho = (x.height - 1) * s + k + op - 2 * p;
    let wo = (x.width - 1) * s + k + op - 2 * p;
    let mut out = vec![0.0f32; co * ho * wo];
    for o in 0..co {
        for y in 0..ho {
            for xx in 0..wo {
                let mut acc = b[o];
                for ci in 0..x.channels {
                    for ky in 0..k {
                        let ty = y as i64 + p as i64 - ky as i64;
                        if ty < 0 || ty % s as i64 != 0 || ty / s as i64 >= x.height as i64 {
                            continue;
                        }
                        for kx in 0..k {
                            let tx = xx as i64 + p as i64 - kx as i64;
                            if tx < 0 || tx % s as i64 != 0 || tx / s as i64 >= x.width as i64 {
                                continue;
                            }
                            let (iy, ix) = ((ty / s as i64) as usize, (tx / s as i64) as usize);
                            let v = x.data[(ci * x.height + iy) * x.width + ix];
                            acc += w[((ci * co + o) * k + ky) * k + kx] * v;
                        }
                    }
                }
                out[(o * ho + y) * wo + xx] = acc;
            }
        }
    }
    Planes::new(co, ho, wo, out).unwrap()
}

fn assert_bits_eq(a: &Planes, b: &Planes) {
    assert_eq!(
        (a.channels, a.height, a.width),
        (b.channels, b.height, b.width)
    );
    for (i, (x, y)) in a.data.iter().zip(&b.data).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "index {i}: {x} vs {y}");
    }
}

#[test]
fn conv_matches_reference_exactly() {
    let mut rng = Rng(1);
    for &(ci, co, k, s, p, h, w) in &[
        (3, 5, 3, 1, 1, 7, 9),
        (4, 6, 5, 2, 2, 11, 8),
        (2, 3, 3, 2, 0, 9, 9),
        (5, 40, 1, 1, 0, 3, 70),
        (1, 1, 5, 3, 4, 2, 3),
        (3, 33, 3, 1, 1, 5, 40),
    ] {
        let x = planes(&mut rng, ci, h, w);
        let wt = rng.vec(co * ci * k * k);
        let b = rng.vec(co);
        let net = HyperSynthesis {
            layers: vec![Layer::Conv {
                weight: wt.clone(),
                bias: b.clone(),
                in_ch: ci,
                out_ch: co,
                kernel: k,
                stride: s,
                padding: p,
            }],
        };
        let got = net.forward(&x).unwrap();
        assert_bits_eq(&got, &ref_conv(&x, &wt, &b, co, k, s, p));
    }
}

#[test]
fn conv_transpose_matches_references() {
    let mut rng = Rng(2);
    for &(ci, co, k, s, p, op, h, w) in &[
        (3, 5, 3, 1, 1, 0, 6, 7),
        (4, 6, 5, 2, 2, 1, 5, 4),
        (2, 3, 3, 2, 1, 1, 4, 6),
        (3, 4, 4, 2, 1, 0, 5, 5),
        (2, 2, 5, 2, 2, 0, 3, 8),
        (6, 35, 5, 2, 2, 1, 3, 20),
        (1, 2, 2, 3, 0, 2, 3, 3),
    ] {
        let x = planes(&mut rng, ci, h, w);
        let wt = rng.vec(ci * co * k * k);
        let b = rng.vec(co);
        let net = HyperSynthesis {
            layers: vec![Layer::ConvTranspose {
                weight: wt.clone(),
                bias: b.clone(),
                in_ch: ci,
                out_ch: co,
                kernel: k,
                stride: s,
                padding: p,
                output_padding: op,
            }],
        };
        let got = net.forward(&x).unwrap();
        assert_eq!(got.height, (h - 1) * s + k + op - 2 * p);
        assert_eq!(got.width, (w - 1) * s + k + op - 2 * p);
        assert_bits_eq(&got, &ref_convt_gather(&x, &wt, &b, co, k, s, p, op));
        let sc = ref_convt_scatter(&x, &wt, &b, co, k, s, p, op);
        for (a, b) in got.data.iter().zip(&sc.data) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

/// The shape of neco's h_s (two 5×5 stride-2 transposed convs, a 3×3 conv, ReLU
/// between), `zc` → `n` → `n` → `2m` channels, with random parameters.
fn hs_net(rng: &mut Rng, zc: usize, n: usize, m: usize) -> HyperSynthesis {
    HyperSynthesis {
        layers: vec![
            Layer::ConvTranspose {
                weight: rng.vec(zc * n * 25),
                bias: rng.vec(n),
                in_ch: zc,
                out_ch: n,
                kernel: 5,
                stride: 2,
                padding: 2,
                output_padding: 1,
            },
            Layer::Relu,
            Layer::ConvTranspose {
                weight: rng.vec(n * n * 25),
                bias: rng.vec(n),
                in_ch: n,
                out_ch: n,
                kernel: 5,
                stride: 2,
                padding: 2,
                output_padding: 1,
            },
            Layer::Relu,
            Layer::Conv {
                weight: rng.vec(2 * m * n * 9),
                bias: rng.vec(2 * m),
                in_ch: n,
                out_ch: 2 * m,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
        ],
    }
}

#[test]
fn deterministic_across_runs_and_thread_counts() {
    let mut rng = Rng(3);
    let net = hs_net(&mut rng, 8, 24, 12);
    let z = planes(&mut rng, 8, 5, 7);
    let a = net.forward(&z).unwrap();
    let b = net.forward(&z).unwrap();
    assert_bits_eq(&a, &b);
    assert_eq!((a.channels, a.height, a.width), (24, 20, 28));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(7)
        .build()
        .unwrap();
    let c = one.install(|| net.forward(&z).unwrap());
    let d = many.install(|| net.forward(&z).unwrap());
    assert_bits_eq(&a, &c);
    assert_bits_eq(&a, &d);
    let pa = entropy_params(&a, 12).unwrap();
    let pc = one.install(|| entropy_params(&c, 12).unwrap());
    assert_eq!(pa, pc);
}

#[test]
fn relu_and_empty_network() {
    let x = Planes::new(1, 1, 4, vec![-1.0, 0.5, f32::NAN, -0.0]).unwrap();
    let y = HyperSynthesis {
        layers: vec![Layer::Relu],
    }
    .forward(&x)
    .unwrap();
    assert_eq!(y.data, vec![0.0, 0.5, 0.0, 0.0]);
    assert_eq!(HyperSynthesis::default().forward(&x).unwrap().data.len(), 4);
}

#[test]
fn shape_errors_are_invalid_argument() {
    let x = Planes::zeros(2, 4, 4).unwrap();
    let conv = |w: usize, b: usize, ci: usize, k: usize, s: usize, p: usize| HyperSynthesis {
        layers: vec![Layer::Conv {
            weight: vec![0.0; w],
            bias: vec![0.0; b],
            in_ch: ci,
            out_ch: 3,
            kernel: k,
            stride: s,
            padding: p,
        }],
    };
    let bad = [
        conv(3 * 2 * 9 - 1, 3, 2, 3, 1, 1),          // weight length
        conv(3 * 2 * 9, 2, 2, 3, 1, 1),              // bias length
        conv(3 * 3 * 9, 3, 3, 3, 1, 1),              // channel mismatch
        conv(3 * 2 * 81, 3, 2, 9, 1, 0),             // kernel larger than input
        conv(3 * 2 * 9, 3, 2, 3, 0, 1),              // stride 0
        conv(0, 3, 2, 0, 1, 1),                      // kernel 0
        conv(3 * 2 * 9, 3, 2, 3, 1, usize::MAX / 2), // padding overflow
    ];
    for net in &bad {
        assert!(matches!(
            net.forward(&x),
            Err(NecoError::InvalidArgument(_))
        ));
    }
    let convt = |op: usize, p: usize| HyperSynthesis {
        layers: vec![Layer::ConvTranspose {
            weight: vec![0.0; 2 * 3 * 9],
            bias: vec![0.0; 3],
            in_ch: 2,
            out_ch: 3,
            kernel: 3,
            stride: 2,
            padding: p,
            output_padding: op,
        }],
    };
    assert!(convt(1, 1).forward(&x).is_ok());
    assert!(matches!(
        convt(2, 1).forward(&x),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        convt(0, 100).forward(&x),
        Err(NecoError::InvalidArgument(_))
    ));
    let bad_planes = Planes {
        channels: 2,
        height: 4,
        width: 4,
        data: vec![0.0; 31],
    };
    assert!(matches!(
        convt(1, 1).forward(&bad_planes),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(Planes::new(2, 2, 2, vec![0.0; 7]).is_err());
    assert!(Planes::zeros(usize::MAX, 2, 2).is_err());
}

#[test]
fn entropy_params_split_and_round() {
    let hs = Planes::new(
        4,
        1,
        3,
        vec![
            0.05,
            3.0,
            f32::NAN, // scales, channel 0
            64.0,
            -1.0,
            1e9, // scales, channel 1
            0.0078125,
            1.0 / 128.0 + 1e-6,
            -0.01, // means, channel 0
            f32::NAN,
            1e30,
            2.5, // means, channel 1
        ],
    )
    .unwrap();
    let p = entropy_params(&hs, 2).unwrap();
    assert_eq!(p.scale_idx, vec![0, scale_index(3.0), 0, 63, 0, 63]);
    assert_eq!(
        p.means,
        vec![1.0 / 64.0, 1.0 / 64.0, -1.0 / 64.0, 0.0, 16_777_216.0, 2.5]
    );
    assert!(matches!(
        entropy_params(&hs, 1),
        Err(NecoError::InvalidArgument(_))
    ));
    assert!(matches!(
        entropy_params(&hs, 0),
        Err(NecoError::InvalidArgument(_))
    ));
}

/// Rough speed check at a realistic size (printed, not asserted).
#[test]
fn realistic_size_runs() {
    let mut rng = Rng(4);
    let (zc, n, m) = (64, 96, 96);
    let net = hs_net(&mut rng, zc, n, m);
    let z = planes(&mut rng, zc, 8, 12);
    let t = std::time::Instant::now();
    let out = net.forward(&z).unwrap();
    eprintln!(
        "h_s {}x{}x{} -> {}x{}x{} in {:?}",
        zc,
        8,
        12,
        out.channels,
        out.height,
        out.width,
        t.elapsed()
    );
    assert_eq!((out.height, out.width), (32, 48));
}
