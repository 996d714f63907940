//! Overlapping tiles for the neural transforms, so memory stays bounded on large images.
//!
//! Tiles are laid out on the latent grid (1 latent = 16 pixels). Each tile is run with
//! a margin of [`MARGIN`] latents on every side that exists in the image, and only its
//! interior is kept. The margin (64 pixels) covers the receptive field of g_a
//! (≈ 61 pixels) and of g_s (≈ 3 latents), so the kept outputs see the same
//! neighbourhood as an untiled run and no seams appear.

use std::ops::Range;

/// Default side of a tile's interior, in latents (1024 pixels).
pub const TILE: usize = 64;
/// Overlap on each side, in latents.
pub const MARGIN: usize = 4;

/// One tile on a latent grid: what to compute (`outer`) and what to keep (`inner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// Rows of the latent grid computed, margin included.
    pub outer_rows: Range<usize>,
    /// Columns of the latent grid computed, margin included.
    pub outer_cols: Range<usize>,
    /// Rows kept.
    pub inner_rows: Range<usize>,
    /// Columns kept.
    pub inner_cols: Range<usize>,
}

impl Tile {
    /// Paste the interior of `out`, this tile's `[c, outer rows, outer cols]` result
    /// on the latent grid, into the planar `[c, h, w]` grid `dst`.
    pub fn paste_inner(&self, out: &[f32], dst: &mut [f32], (h, w): (usize, usize), c: usize) {
        paste_planar(
            out,
            (self.outer_rows.len(), self.outer_cols.len()),
            (
                self.inner_rows.start - self.outer_rows.start,
                self.inner_cols.start - self.outer_cols.start,
            ),
            dst,
            (h, w),
            (self.inner_rows.start, self.inner_cols.start),
            c,
            (self.inner_rows.len(), self.inner_cols.len()),
        );
    }

    /// The same tile on a grid `f` times coarser (z's grid is y's over 4); every
    /// bound must be a multiple of `f`.
    pub fn coarser(&self, f: usize) -> Tile {
        let div = |r: &Range<usize>| {
            debug_assert!(
                r.start.is_multiple_of(f) && r.end.is_multiple_of(f),
                "{r:?} is not on a grid of {f}"
            );
            r.start / f..r.end / f
        };
        Tile {
            outer_rows: div(&self.outer_rows),
            outer_cols: div(&self.outer_cols),
            inner_rows: div(&self.inner_rows),
            inner_cols: div(&self.inner_cols),
        }
    }
}

fn spans(n: usize, tile: usize) -> Vec<(Range<usize>, Range<usize>)> {
    let tile = tile.max(1);
    (0..n.div_ceil(tile))
        .map(|i| {
            let inner = i * tile..((i + 1) * tile).min(n);
            let outer = inner.start.saturating_sub(MARGIN)..(inner.end + MARGIN).min(n);
            (inner, outer)
        })
        .collect()
}

/// The tiles covering a `rows`×`cols` latent grid, row by row, with interiors of
/// `tile`×`tile` latents (at least 1).
pub fn tiles(rows: usize, cols: usize, tile: usize) -> Vec<Tile> {
    let mut out = Vec::new();
    for (inner_rows, outer_rows) in spans(rows, tile) {
        for (inner_cols, outer_cols) in spans(cols, tile) {
            out.push(Tile {
                outer_rows: outer_rows.clone(),
                outer_cols,
                inner_rows: inner_rows.clone(),
                inner_cols,
            });
        }
    }
    out
}

/// Copy a `[c, rows, cols]` window out of a planar `[c, h, w]` buffer.
pub fn crop_planar(
    src: &[f32],
    c: usize,
    h: usize,
    w: usize,
    rows: Range<usize>,
    cols: Range<usize>,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(c * rows.len() * cols.len());
    for ch in 0..c {
        for y in rows.clone() {
            let base = (ch * h + y) * w;
            out.extend_from_slice(&src[base + cols.start..base + cols.end]);
        }
    }
    out
}

/// Paste a planar `[c, sh, sw]` buffer's window at (`from_row`, `from_col`) of size
/// `rows`×`cols` into a planar `[c, h, w]` buffer at (`to_row`, `to_col`).
#[allow(clippy::too_many_arguments)]
pub fn paste_planar(
    src: &[f32],
    (sh, sw): (usize, usize),
    (from_row, from_col): (usize, usize),
    dst: &mut [f32],
    (h, w): (usize, usize),
    (to_row, to_col): (usize, usize),
    c: usize,
    (rows, cols): (usize, usize),
) {
    for ch in 0..c {
        for r in 0..rows {
            let s = (ch * sh + from_row + r) * sw + from_col;
            let d = (ch * h + to_row + r) * w + to_col;
            dst[d..d + cols].copy_from_slice(&src[s..s + cols]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_grid_exactly_once() {
        for (rows, cols, tile) in [
            (1, 1, TILE),
            (4, 4, TILE),
            (64, 64, TILE),
            (65, 130, TILE),
            (512, 300, TILE),
            (33, 17, 5),
            (3, 3, 0),
        ] {
            let mut seen = vec![0u8; rows * cols];
            for t in tiles(rows, cols, tile) {
                assert!(
                    t.outer_rows.start <= t.inner_rows.start
                        && t.inner_rows.end <= t.outer_rows.end
                );
                assert!(t.inner_rows.start - t.outer_rows.start <= MARGIN);
                for r in t.inner_rows.clone() {
                    for c in t.inner_cols.clone() {
                        seen[r * cols + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{rows}x{cols} by {tile}");
        }
    }

    #[test]
    fn tiles_on_the_hyper_grid_cover_it_exactly_once() {
        // y grids of padded images are multiples of 4, tiles too: z's tiles are theirs
        // over 4, and still cover z's grid once.
        for (rows, cols, tile) in [(48, 32, 8), (64, 40, 12), (12, 4, 4)] {
            let (zr, zc) = (rows / 4, cols / 4);
            let mut seen = vec![0u8; zr * zc];
            for t in tiles(rows, cols, tile) {
                let z = t.coarser(4);
                assert_eq!(z.outer_rows.len() * 4, t.outer_rows.len());
                for r in z.inner_rows.clone() {
                    for c in z.inner_cols.clone() {
                        seen[r * zc + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{rows}x{cols} by {tile}");
        }
    }

    #[test]
    fn crop_then_paste_round_trips() {
        let (c, h, w) = (2, 5, 7);
        let src: Vec<f32> = (0..c * h * w).map(|i| i as f32).collect();
        let win = crop_planar(&src, c, h, w, 1..4, 2..6);
        let mut dst = vec![0.0; c * h * w];
        paste_planar(&win, (3, 4), (0, 0), &mut dst, (h, w), (1, 2), c, (3, 4));
        for ch in 0..c {
            for y in 1..4 {
                for x in 2..6 {
                    let i = (ch * h + y) * w + x;
                    assert_eq!(dst[i], src[i]);
                }
            }
        }
    }
}
