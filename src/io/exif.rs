//! Making a source's Exif block fit the picture neco codes: the block is kept (and
//! written back on decode), but its thumbnail and pixel dimensions describe the file
//! as the camera stored it.
//!
//! An Exif block is a TIFF structure: a header, IFD0 (the main image's tags, with
//! pointers to the Exif and GPS sub-IFDs) and, linked from IFD0, IFD1: a JPEG
//! thumbnail, often 5–20 KB, as large as a whole low-rate neco stream, and shown
//! sideways once the pixels are turned upright. [`tidy`] unlinks IFD1, cuts the bytes
//! nothing else points to off the end of the block, and sets the Exif IFD's pixel
//! dimensions to the coded image's. It edits in place only what it has bounds-checked;
//! a block it cannot follow is left as it is.

use std::collections::HashSet;

/// Tag of IFD0's pointer to the Exif sub-IFD.
const EXIF_IFD: u16 = 0x8769;
/// Tag of IFD0's pointer to the GPS sub-IFD.
const GPS_IFD: u16 = 0x8825;
/// Tag of the Exif IFD's pointer to the interoperability sub-IFD.
const INTEROP_IFD: u16 = 0xa005;
/// Exif IFD tags of the image's width and height (SHORT or LONG).
const PIXEL_X_DIMENSION: u16 = 0xa002;
const PIXEL_Y_DIMENSION: u16 = 0xa003;

/// What [`tidy`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tidied {
    /// The block linked a thumbnail IFD, now unlinked.
    pub thumbnail_dropped: bool,
    /// Bytes cut off the end of the block (the thumbnail's, when it was stored last).
    pub bytes_removed: usize,
}

/// TIFF byte order.
#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

/// A bounds-checked view of a TIFF structure.
struct Tiff<'a> {
    bytes: &'a mut [u8],
    order: Order,
}

impl Tiff<'_> {
    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self.order {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self.order {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        })
    }

    fn put_u16(&mut self, at: usize, v: u16) {
        let b = match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        self.bytes[at..at + 2].copy_from_slice(&b);
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        let b = match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        self.bytes[at..at + 4].copy_from_slice(&b);
    }
}

/// One IFD entry: where it sits and what it holds.
struct Entry {
    /// Offset of the 12-byte entry.
    at: usize,
    tag: u16,
    kind: u16,
    count: u32,
}

/// One IFD, checked to lie within the block.
struct Ifd {
    entries: Vec<Entry>,
    /// Offset of its 4-byte link to the next IFD.
    next_at: usize,
    /// One past its last byte, out-of-line values included.
    end: usize,
}

/// Bytes of one value of a TIFF field type (0 for types TIFF does not define).
fn type_size(kind: u16) -> usize {
    match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 => 8,
        _ => 0,
    }
}

/// Reads the IFD at `at`; `None` when it or any value it points to is out of bounds.
fn read_ifd(tiff: &Tiff, at: usize) -> Option<Ifd> {
    let n = tiff.u16_at(at)? as usize;
    let next_at = at + 2 + 12 * n;
    tiff.u32_at(next_at)?;
    let mut end = next_at + 4;
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let e = at + 2 + 12 * i;
        let (tag, kind, count) = (tiff.u16_at(e)?, tiff.u16_at(e + 2)?, tiff.u32_at(e + 4)?);
        let size = type_size(kind).checked_mul(count as usize)?;
        if size > 4 {
            let offset = tiff.u32_at(e + 8)? as usize;
            let data_end = offset.checked_add(size)?;
            if data_end > tiff.bytes.len() {
                return None;
            }
            end = end.max(data_end);
        }
        entries.push(Entry {
            at: e,
            tag,
            kind,
            count,
        });
    }
    Some(Ifd {
        entries,
        next_at,
        end,
    })
}

/// The offset a sub-IFD pointer entry (`tag`, one LONG or IFD value) holds.
fn sub_ifd(tiff: &Tiff, ifd: &Ifd, tag: u16) -> Option<usize> {
    let e = ifd.entries.iter().find(|e| e.tag == tag)?;
    (matches!(e.kind, 4 | 13) && e.count == 1).then_some(tiff.u32_at(e.at + 8)? as usize)
}

/// Drops the thumbnail of an Exif block (TIFF layout, without JPEG's `Exif\0\0`) and
/// sets its pixel dimensions to `width`×`height`; see the module doc. A block that
/// is not well-formed TIFF, or whose sub-IFDs do not lie within it, is left as is.
pub fn tidy(block: &mut Vec<u8>, width: u32, height: u32) -> Tidied {
    let Some((order, ifd0_next_at, extent)) = edit(block, width, height) else {
        return Tidied::default();
    };
    let mut tiff = Tiff {
        bytes: block,
        order,
    };
    let thumbnail_dropped = tiff.u32_at(ifd0_next_at) != Some(0);
    tiff.put_u32(ifd0_next_at, 0);
    // Nothing IFD0 and its sub-IFDs reference lies at or beyond `extent`.
    let bytes_removed = block.len().saturating_sub(extent);
    block.truncate(extent);
    Tidied {
        thumbnail_dropped,
        bytes_removed,
    }
}

fn order_of(block: &[u8]) -> Option<Order> {
    match block.get(..4)? {
        [b'I', b'I', 42, 0] => Some(Order::Little),
        [b'M', b'M', 0, 42] => Some(Order::Big),
        _ => None,
    }
}

/// Walks IFD0 and its sub-IFDs, sets the pixel dimensions, and returns the byte order,
/// where IFD0's link to IFD1 is and one past the last byte IFD0 and its sub-IFDs use.
fn edit(block: &mut [u8], width: u32, height: u32) -> Option<(Order, usize, usize)> {
    let order = order_of(block)?;
    let mut tiff = Tiff {
        bytes: block,
        order,
    };
    let ifd0_at = tiff.u32_at(4)? as usize;
    let ifd0 = read_ifd(&tiff, ifd0_at)?;
    let mut extent = ifd0.end.max(8);
    let mut seen = HashSet::from([ifd0_at]);
    let mut exif = None;
    for tag in [EXIF_IFD, GPS_IFD] {
        let Some(at) = sub_ifd(&tiff, &ifd0, tag) else {
            continue;
        };
        // A sub-IFD pointing back into one already read is a malformed (looping) block.
        if !seen.insert(at) {
            return None;
        }
        let ifd = read_ifd(&tiff, at)?;
        extent = extent.max(ifd.end);
        if tag == EXIF_IFD {
            exif = Some(ifd);
        }
    }
    if let Some(exif) = &exif {
        if let Some(at) = sub_ifd(&tiff, exif, INTEROP_IFD) {
            if !seen.insert(at) {
                return None;
            }
            extent = extent.max(read_ifd(&tiff, at)?.end);
        }
        for e in &exif.entries {
            let value = match e.tag {
                PIXEL_X_DIMENSION => width,
                PIXEL_Y_DIMENSION => height,
                _ => continue,
            };
            match (e.kind, e.count) {
                (4, 1) => tiff.put_u32(e.at + 8, value),
                (3, 1) => match u16::try_from(value) {
                    Ok(v) => tiff.put_u16(e.at + 8, v),
                    // Too wide for the entry's type: no value is better than a wrong one.
                    Err(_) => return None,
                },
                _ => {}
            }
        }
    }
    Some((order, ifd0.next_at, extent))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::metadata::Orientation;

    /// Builds a little- or big-endian Exif block: IFD0 (orientation 6, a camera make
    /// stored out of line, a pointer to the Exif IFD), the Exif IFD (pixel dimensions
    /// 640×480 as `dim_kind`) and, when `thumbnail` is given, IFD1 with a JPEG thumbnail
    /// of that many bytes stored last.
    pub(crate) fn block(big: bool, dim_kind: u16, thumbnail: Option<usize>) -> Vec<u8> {
        let mut b: Vec<u8> = Vec::new();
        let p16 = |b: &mut Vec<u8>, v: u16| {
            b.extend_from_slice(&if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let p32 = |b: &mut Vec<u8>, v: u32| {
            b.extend_from_slice(&if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let entry = |b: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
            p16(b, tag);
            p16(b, kind);
            p32(b, count);
            if kind == 3 && count == 1 {
                p16(b, value as u16);
                p16(b, 0);
            } else {
                p32(b, value);
            }
        };
        b.extend_from_slice(if big { b"MM\0*" } else { b"II*\0" });
        p32(&mut b, 8);
        // IFD0 at 8: 3 entries (2 + 36 + 4 = 42 bytes), make at 50, Exif IFD at 60.
        p16(&mut b, 3);
        entry(&mut b, 0x010f, 2, 10, 50);
        entry(&mut b, 0x0112, 3, 1, 6);
        entry(&mut b, EXIF_IFD, 4, 1, 60);
        let ifd1_at = 60 + 2 + 24 + 4;
        p32(&mut b, if thumbnail.is_some() { ifd1_at } else { 0 });
        b.extend_from_slice(b"NecoCam\0\0\0");
        // Exif IFD at 60: 2 entries.
        p16(&mut b, 2);
        entry(&mut b, PIXEL_X_DIMENSION, dim_kind, 1, 640);
        entry(&mut b, PIXEL_Y_DIMENSION, dim_kind, 1, 480);
        p32(&mut b, 0);
        assert_eq!(b.len(), ifd1_at as usize);
        if let Some(n) = thumbnail {
            // IFD1: JPEGInterchangeFormat and its length; the thumbnail follows.
            p16(&mut b, 2);
            entry(&mut b, 0x0201, 4, 1, ifd1_at + 30);
            entry(&mut b, 0x0202, 4, 1, n as u32);
            p32(&mut b, 0);
            b.extend(std::iter::repeat_n(0xd8, n));
        }
        b
    }

    fn dims(block: &mut [u8], big: bool) -> (u32, u32) {
        let tiff = Tiff {
            bytes: block,
            order: if big { Order::Big } else { Order::Little },
        };
        let exif = read_ifd(&tiff, 60).unwrap();
        let get = |i: usize| {
            let e = &exif.entries[i];
            if e.kind == 3 {
                tiff.u16_at(e.at + 8).unwrap() as u32
            } else {
                tiff.u32_at(e.at + 8).unwrap()
            }
        };
        (get(0), get(1))
    }

    #[test]
    fn the_thumbnail_is_cut_and_the_dimensions_follow_the_image() {
        for big in [false, true] {
            for kind in [3, 4] {
                let without = block(big, kind, None);
                let mut b = block(big, kind, Some(5000));
                let t = tidy(&mut b, 480, 640);
                assert!(t.thumbnail_dropped);
                assert_eq!(t.bytes_removed, 30 + 5000);
                assert_eq!(b.len(), without.len());
                assert_eq!(dims(&mut b, big), (480, 640));
                // Everything else is as it was: the block without a thumbnail, with the
                // new dimensions.
                let mut expected = without.clone();
                let _ = edit(&mut expected, 480, 640);
                assert_eq!(b, expected);
                assert_eq!(
                    Orientation::from_exif_chunk(&b),
                    Some(Orientation::Rotate90)
                );
            }
        }
    }

    #[test]
    fn a_block_without_thumbnail_only_gets_its_dimensions() {
        let mut b = block(false, 4, None);
        let len = b.len();
        assert_eq!(tidy(&mut b, 100, 200), Tidied::default());
        assert_eq!(b.len(), len);
        assert_eq!(dims(&mut b, false), (100, 200));
    }

    #[test]
    fn a_width_a_short_cannot_hold_leaves_the_block_alone() {
        let original = block(false, 3, Some(100));
        let mut b = original.clone();
        assert_eq!(tidy(&mut b, 70_000, 10), Tidied::default());
        assert_eq!(b, original);
    }

    #[test]
    fn malformed_blocks_are_left_alone() {
        let good = block(true, 4, Some(64));
        // Every truncation, and every single-byte corruption of the structure, either
        // leaves the block as it was or yields a block no longer than it.
        // Cut anywhere before the end of the Exif IFD (byte 90), it is left alone;
        // from there on, it loses just the thumbnail's link and bytes.
        for n in 0..good.len() {
            let mut b = good[..n].to_vec();
            let t = tidy(&mut b, 1, 1);
            if n < 90 {
                assert_eq!((t, &b[..]), (Tidied::default(), &good[..n]), "{n}");
            } else {
                assert!(t.thumbnail_dropped, "{n}");
                assert_eq!(b.len(), 90);
            }
        }
        // Corrupting any byte of the structure never panics or grows the block.
        for i in 0..100 {
            for v in [0x00, 0xff, 0x7f] {
                let mut b = good.clone();
                b[i] = v;
                let _ = tidy(&mut b, 1, 1);
                assert!(b.len() <= good.len());
            }
        }
        // A sub-IFD pointing back at IFD0.
        let mut b = block(false, 4, Some(10));
        b[8 + 2 + 24 + 8] = 8;
        let before = b.clone();
        assert_eq!(tidy(&mut b, 1, 1), Tidied::default());
        assert_eq!(b, before);
    }
}
