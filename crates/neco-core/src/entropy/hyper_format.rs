//! The byte format of a [`HyperSynthesis`], as stored in weights files, so the
//! deterministic parameter path can be loaded without Burn.
//!
//! # Layout (little-endian)
//!
//! ```text
//! layers u32                      1..=MAX_LAYERS
//! per layer: kind u8              0 = Conv, 1 = ConvTranspose, 2 = ReLU
//!   Conv:          in_ch, out_ch, kernel, stride, padding                  (u32 each)
//!                  weight [out_ch·in_ch·kernel²] f32, bias [out_ch] f32
//!   ConvTranspose: in_ch, out_ch, kernel, stride, padding, output_padding  (u32 each)
//!                  weight [in_ch·out_ch·kernel²] f32, bias [out_ch] f32
//! ```
//!
//! Weights are stored as the exact f32 values the network computes with, in Burn's
//! layouts (see [`Layer`]). Parsing checks every size against the bounds below and
//! against the bytes that remain before allocating.

use super::hyper::{conv_out_len, conv_transpose_out_len, HyperSynthesis, Layer};
use crate::bytes::ByteReader;
use crate::{NecoError, Result};

/// Most layers accepted.
pub const MAX_LAYERS: usize = 64;
/// Most channels accepted on either side of a layer.
pub const MAX_LAYER_CHANNELS: usize = 4096;
/// Largest kernel side accepted.
pub const MAX_KERNEL: usize = 15;
/// Largest stride accepted.
pub const MAX_STRIDE: usize = 8;

const KIND_CONV: u8 = 0;
const KIND_CONV_TRANSPOSE: u8 = 1;
const KIND_RELU: u8 = 2;

impl HyperSynthesis {
    /// Serializes the network (format in the [module docs](self)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u32s = |out: &mut Vec<u8>, vals: &[usize]| {
            for &v in vals {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
        };
        let f32s = |out: &mut Vec<u8>, vals: &[f32]| {
            for v in vals {
                out.extend_from_slice(&v.to_le_bytes());
            }
        };
        u32s(&mut out, &[self.layers.len()]);
        for layer in &self.layers {
            match layer {
                Layer::Conv {
                    weight,
                    bias,
                    in_ch,
                    out_ch,
                    kernel,
                    stride,
                    padding,
                } => {
                    out.push(KIND_CONV);
                    u32s(&mut out, &[*in_ch, *out_ch, *kernel, *stride, *padding]);
                    f32s(&mut out, weight);
                    f32s(&mut out, bias);
                }
                Layer::ConvTranspose {
                    weight,
                    bias,
                    in_ch,
                    out_ch,
                    kernel,
                    stride,
                    padding,
                    output_padding,
                } => {
                    out.push(KIND_CONV_TRANSPOSE);
                    let dims = [*in_ch, *out_ch, *kernel, *stride, *padding, *output_padding];
                    u32s(&mut out, &dims);
                    f32s(&mut out, weight);
                    f32s(&mut out, bias);
                }
                Layer::Relu => out.push(KIND_RELU),
            }
        }
        out
    }

    /// Parses a network written by [`to_bytes`](Self::to_bytes). Any problem —
    /// truncation, a size out of bounds, channels that do not chain from one layer to
    /// the next, trailing bytes — is [`NecoError::BadWeights`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut r = ByteReader::new(b, "hyper-synthesis", NecoError::BadWeights);
        let n = r.u32()? as usize;
        if !(1..=MAX_LAYERS).contains(&n) {
            return Err(r.err(format_args!("{n} layers, allowed 1..={MAX_LAYERS}")));
        }
        let mut layers = Vec::with_capacity(n);
        for i in 0..n {
            let kind = r.u8()?;
            let layer = match kind {
                KIND_RELU => Layer::Relu,
                KIND_CONV | KIND_CONV_TRANSPOSE => {
                    let transpose = kind == KIND_CONV_TRANSPOSE;
                    let mut dim = |name: &str, range: std::ops::RangeInclusive<usize>| {
                        let v = r.u32()? as usize;
                        if range.contains(&v) {
                            Ok(v)
                        } else {
                            Err(NecoError::BadWeights(format!(
                                "hyper-synthesis layer {i}: {name} {v}, allowed {}..={}",
                                range.start(),
                                range.end()
                            )))
                        }
                    };
                    let in_ch = dim("input channels", 1..=MAX_LAYER_CHANNELS)?;
                    let out_ch = dim("output channels", 1..=MAX_LAYER_CHANNELS)?;
                    let kernel = dim("kernel", 1..=MAX_KERNEL)?;
                    let stride = dim("stride", 1..=MAX_STRIDE)?;
                    let padding = dim("padding", 0..=kernel)?;
                    let output_padding = if transpose {
                        dim("output padding", 0..=stride - 1)?
                    } else {
                        0
                    };
                    // Bounded above: at most 4096² · 15² < 2^32 floats.
                    let weight = r.f32s(in_ch * out_ch * kernel * kernel)?;
                    let bias = r.f32s(out_ch)?;
                    if transpose {
                        Layer::ConvTranspose {
                            weight,
                            bias,
                            in_ch,
                            out_ch,
                            kernel,
                            stride,
                            padding,
                            output_padding,
                        }
                    } else {
                        Layer::Conv {
                            weight,
                            bias,
                            in_ch,
                            out_ch,
                            kernel,
                            stride,
                            padding,
                        }
                    }
                }
                k => return Err(r.err(format_args!("layer {i} has unknown kind {k}"))),
            };
            layers.push(layer);
        }
        r.finish()?;
        let net = HyperSynthesis { layers };
        net.channels()?;
        Ok(net)
    }

    /// `(input channels, output channels)` of the whole network. Errors
    /// ([`NecoError::BadWeights`]) when it has no convolution or a layer's input does
    /// not match the previous layer's output.
    pub fn channels(&self) -> Result<(usize, usize)> {
        let mut io: Option<(usize, usize)> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let (in_ch, out_ch) = match layer {
                Layer::Conv { in_ch, out_ch, .. } | Layer::ConvTranspose { in_ch, out_ch, .. } => {
                    (*in_ch, *out_ch)
                }
                Layer::Relu => continue,
            };
            io = match io {
                None => Some((in_ch, out_ch)),
                Some((first, prev)) if prev == in_ch => Some((first, out_ch)),
                Some((_, prev)) => {
                    return Err(NecoError::BadWeights(format!(
                        "hyper-synthesis layer {i} takes {in_ch} channels, the layer before gives {prev}"
                    )))
                }
            };
        }
        io.ok_or_else(|| NecoError::BadWeights("hyper-synthesis has no convolution".into()))
    }

    /// The grid (height, width) after each layer for an `h`×`w` input, computed from
    /// the layers' shapes alone: what running the network would allocate.
    pub fn grids(&self, h: usize, w: usize) -> Result<Vec<(usize, usize)>> {
        let mut at = (h, w);
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let len = |n: usize| match layer {
                Layer::Conv {
                    kernel,
                    stride,
                    padding,
                    ..
                } => conv_out_len(n, *kernel, *stride, *padding),
                Layer::ConvTranspose {
                    kernel,
                    stride,
                    padding,
                    output_padding,
                    ..
                } => conv_transpose_out_len(n, *kernel, *stride, *padding, *output_padding),
                Layer::Relu => Ok(n),
            };
            let bad = |e: String| NecoError::BadWeights(format!("hyper-synthesis layer {i}: {e}"));
            at = (len(at.0).map_err(bad)?, len(at.1).map_err(bad)?);
            out.push(at);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> HyperSynthesis {
        HyperSynthesis {
            layers: vec![
                Layer::ConvTranspose {
                    weight: (0..2 * 3 * 25).map(|i| i as f32 * 0.25 - 3.0).collect(),
                    bias: vec![0.5, -1.0, f32::MIN_POSITIVE],
                    in_ch: 2,
                    out_ch: 3,
                    kernel: 5,
                    stride: 2,
                    padding: 2,
                    output_padding: 1,
                },
                Layer::Relu,
                Layer::Conv {
                    weight: (0..3 * 4 * 9).map(|i| -(i as f32) / 7.0).collect(),
                    bias: vec![1.0, 2.0, 3.0, 4.0],
                    in_ch: 3,
                    out_ch: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                },
            ],
        }
    }

    #[test]
    fn round_trips_exactly() {
        let n = net();
        let bytes = n.to_bytes();
        assert_eq!(HyperSynthesis::from_bytes(&bytes).unwrap(), n);
        assert_eq!(n.channels().unwrap(), (2, 4));
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let bytes = net().to_bytes();
        for len in 0..bytes.len() {
            let e = HyperSynthesis::from_bytes(&bytes[..len]).unwrap_err();
            assert!(matches!(e, NecoError::BadWeights(_)), "{len}: {e}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let e = HyperSynthesis::from_bytes(&longer).unwrap_err().to_string();
        assert!(e.contains("1 trailing bytes"), "{e}");
    }

    #[test]
    fn lying_sizes_fail_before_allocating() {
        let mut b = 1u32.to_le_bytes().to_vec();
        b.push(KIND_CONV);
        for v in [4096u32, 4096, 15, 1, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let e = HyperSynthesis::from_bytes(&b).unwrap_err().to_string();
        assert!(e.contains("3774873600 floats claimed"), "{e}");
        b[5..9].copy_from_slice(&5000u32.to_le_bytes());
        let e = HyperSynthesis::from_bytes(&b).unwrap_err().to_string();
        assert!(e.contains("input channels 5000, allowed 1..=4096"), "{e}");
        let e = HyperSynthesis::from_bytes(&u32::MAX.to_le_bytes()).unwrap_err();
        assert!(e.to_string().contains("layers, allowed 1..=64"), "{e}");
    }

    #[test]
    fn channels_must_chain() {
        let mut n = net();
        if let Layer::Conv { in_ch, .. } = &mut n.layers[2] {
            *in_ch = 5;
        }
        let e = n.channels().unwrap_err().to_string();
        assert!(
            e.contains("layer 2 takes 5 channels, the layer before gives 3"),
            "{e}"
        );
        let relu_only = HyperSynthesis {
            layers: vec![Layer::Relu],
        };
        assert!(relu_only.channels().is_err());
    }
}
