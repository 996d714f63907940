//! A bounds-checked little-endian reader for the binary formats neco parses (the
//! container header, z tables, the hyper-synthesis and weights files).
//!
//! Every read checks the remaining length first, so a lying length field becomes an
//! error naming the format, never a panic or an allocation.

use crate::NecoError;

/// Reads fields from `data` in order.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Names the format in error messages (`"HEAD"`, `"factorized tables"`, …).
    what: &'static str,
    /// Builds the error for this format (corrupt stream, bad weights, …).
    error: fn(String) -> NecoError,
}

impl<'a> ByteReader<'a> {
    /// A reader over `data`; errors are built with `error` and name `what`.
    pub fn new(data: &'a [u8], what: &'static str, error: fn(String) -> NecoError) -> Self {
        ByteReader {
            data,
            pos: 0,
            what,
            error,
        }
    }

    /// An error of this reader's kind, prefixed with the format name.
    pub fn err(&self, msg: impl std::fmt::Display) -> NecoError {
        (self.error)(format!("{}: {msg}", self.what))
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], NecoError> {
        if n > self.remaining() {
            return Err(self.err(format_args!(
                "payload ends early at byte {}, a field needs {n} bytes but {} remain",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], NecoError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, NecoError> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, NecoError> {
        self.array().map(u16::from_le_bytes)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, NecoError> {
        self.array().map(u32::from_le_bytes)
    }

    /// `count` little-endian `f32`s; the length is checked before allocating.
    pub fn f32s(&mut self, count: usize) -> Result<Vec<f32>, NecoError> {
        let bytes = count
            .checked_mul(4)
            .filter(|&b| b <= self.remaining())
            .ok_or_else(|| {
                self.err(format_args!(
                    "{count} floats claimed at byte {}, only {} bytes remain",
                    self.pos,
                    self.remaining()
                ))
            })?;
        Ok(self
            .take(bytes)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Errors unless every byte was read.
    pub fn finish(&self) -> Result<(), NecoError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.err(format_args!("{n} trailing bytes"))),
        }
    }
}
