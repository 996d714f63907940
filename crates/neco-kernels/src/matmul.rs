//! Dense matrix products: the `gemm` crate behind two shapes the kernels need.

use rayon::prelude::*;

/// Rows per partial product of [`at_b`] (the partial results are summed afterwards).
pub const GRAD_PIXELS: usize = 2048;

/// Where a matrix product writes: element (i, j) of the `m×n` result goes to
/// `dst[i·rs + j·cs]`.
pub struct Dst<'a> {
    buf: &'a mut [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Dst<'a> {
    /// A row-major destination with rows `rs` apart.
    pub fn rows(buf: &'a mut [f32], rs: usize) -> Self {
        Dst { buf, rs, cs: 1 }
    }
}

/// `dst (+)= a[m×k] · b[k×n]`: `a` row-major with rows `a_rs` apart (rows may
/// overlap), `b` row-major and contiguous; accumulates into `dst` when `accumulate`,
/// else overwrites it.
pub fn matmul(
    dst: Dst<'_>,
    (a, a_rs): (&[f32], usize),
    b: &[f32],
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.buf.len() > (m - 1) * dst.rs + (n - 1) * dst.cs);
    assert!(a.len() >= (m - 1) * a_rs + k);
    assert_eq!(b.len(), k * n);
    // SAFETY: the asserts above keep every element gemm reads (a, b) or writes (dst)
    // inside its slice; dst does not alias a or b (a `&mut` and two `&`), and distinct
    // (i, j) of dst are distinct elements as long as rs and cs do not collide, which
    // every caller ensures (one of them is 1 and the other at least n, or m).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.buf.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            a.as_ptr(),
            1,
            a_rs as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `acc += v`, element by element.
pub fn add_to(acc: &mut [f32], v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, b)| *a += b);
}

/// `dst (m × n, row-major) = aᵀ·b`, or `+=` with `accumulate`, over `k` rows: row r
/// of `a` is `a[r·m..][..m]`, row r of `b` is `b[r·rs..][..n]` (rows of `b` may
/// overlap: `rs < n`).
pub fn add_at_b(
    dst: &mut [f32],
    accumulate: bool,
    (a, m): (&[f32], usize),
    (b, n, rs): (&[f32], usize, usize),
    k: usize,
) {
    assert_eq!(dst.len(), m * n);
    if m * n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    assert!(a.len() >= k * m && b.len() >= (k - 1) * rs + n);
    // SAFETY: gemm reads a[r·m + i] (lhs element (i, r): column stride m, row stride
    // 1) and b[r·rs + j] (rhs element (r, j)) for i < m, j < n, r < k: inside `a` and
    // `b` (asserted above); it reads (with `accumulate`) and writes dst[i·n + j], inside
    // `dst`, a `&mut` that aliases neither.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            m as isize,
            1,
            b.as_ptr(),
            1,
            rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `aᵀ·b` (`m × n`, row-major) for row-major `a` (`p × m`) and `b` (`p × n`): partial
/// products over chunks of rows in parallel, summed in chunk order (so the result does
/// not depend on how rayon splits the work).
pub fn at_b(a: &[f32], b: &[f32], (m, n): (usize, usize)) -> Vec<f32> {
    if m == 0 || n == 0 {
        return vec![0.0; m * n];
    }
    let p = a.len() / m;
    assert_eq!(a.len(), p * m);
    assert_eq!(b.len(), p * n);
    let partial = |a: &[f32], b: &[f32]| {
        let mut out = vec![0f32; m * n];
        add_at_b(&mut out, false, (a, m), (b, n, n), a.len() / m);
        out
    };
    let parts: Vec<Vec<f32>> = a
        .par_chunks(GRAD_PIXELS * m)
        .zip(b.par_chunks(GRAD_PIXELS * n))
        .map(|(a, b)| partial(a, b))
        .collect();
    sum_in_order(parts, m * n)
}

/// The sum of equally long `parts`, added in order (`len` zeros when there are none).
pub fn sum_in_order(parts: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut parts = parts.into_iter();
    let mut sum = parts.next().unwrap_or_else(|| vec![0.0; len]);
    parts.for_each(|p| add_to(&mut sum, &p));
    sum
}
