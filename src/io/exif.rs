//! Making a source's Exif block fit the picture neco codes: the block is kept (and
//! written back on decode), but its thumbnail and pixel dimensions describe the file
//! as the camera stored it.
//!
//! An Exif block is a TIFF structure: a header, IFD0 (the main image's tags, with
//! pointers to the Exif and GPS sub-IFDs) and, linked from IFD0, IFD1: a JPEG
//! thumbnail, often 5–20 KB, as large as a whole low-rate neco stream, and shown
//! sideways once the pixels are turned upright. [`tidy`] unlinks IFD1, cuts it and the
//! thumbnail off the block when they are stored last (as cameras do) and nothing else
//! the entries describe lies beyond their start, and sets the pixel dimensions to the
//! coded image's. It decides everything before writing, and writes only at offsets it
//! has bounds-checked; a block it cannot follow is left as it is.

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
/// IFD0 tags of the image's width and height (TIFF; rare in Exif blocks).
const IMAGE_WIDTH: u16 = 0x0100;
const IMAGE_LENGTH: u16 = 0x0101;
/// IFD1 tags of the JPEG thumbnail's offset and length.
const JPEG_OFFSET: u16 = 0x0201;
const JPEG_LENGTH: u16 = 0x0202;

/// What [`tidy`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tidied {
    /// The block linked a thumbnail IFD, now unlinked.
    pub thumbnail_dropped: bool,
    /// Bytes cut off the end of the block: IFD1 and its thumbnail, when they were
    /// stored last (else they stay as unreferenced bytes).
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

/// The offset a sub-IFD pointer `tag` of `ifd` holds: `Ok(None)` without the tag,
/// `Err(())` when the tag is there in a form this module does not follow (other than
/// one LONG or IFD value, or twice): its IFD could not be accounted for.
fn sub_ifd(tiff: &Tiff, ifd: &Ifd, tag: u16) -> Result<Option<usize>, ()> {
    let mut found = ifd.entries.iter().filter(|e| e.tag == tag);
    let (Some(e), None) = (found.next(), found.next()) else {
        return if ifd.entries.iter().any(|e| e.tag == tag) {
            Err(())
        } else {
            Ok(None)
        };
    };
    if !matches!(e.kind, 4 | 13) || e.count != 1 {
        return Err(());
    }
    tiff.u32_at(e.at + 8).map(|v| Some(v as usize)).ok_or(())
}

/// A one-value SHORT or LONG entry of `ifd` tagged `tag`: where its value is and
/// whether it is a LONG.
fn number_entry(ifd: &Ifd, tag: u16) -> Option<(usize, bool)> {
    let e = ifd.entries.iter().find(|e| e.tag == tag)?;
    match (e.kind, e.count) {
        (3, 1) => Some((e.at + 8, false)),
        (4, 1) => Some((e.at + 8, true)),
        _ => None,
    }
}

/// Drops the thumbnail of an Exif block (TIFF layout, without JPEG's `Exif\0\0`) and
/// sets its pixel dimensions to `width`×`height`; see the module doc. A block that is
/// not well-formed TIFF, or that has sub-IFDs this module does not follow, is left as
/// it is; so is one whose dimensions its entries cannot hold.
pub fn tidy(block: &mut Vec<u8>, width: u32, height: u32) -> Tidied {
    let Some(plan) = plan(block, width, height) else {
        return Tidied::default();
    };
    let mut tiff = Tiff {
        bytes: block,
        order: plan.order,
    };
    for (at, long, value) in plan.numbers {
        if long {
            tiff.put_u32(at, value);
        } else {
            // `plan` checked that the value fits.
            tiff.put_u16(at, value as u16);
        }
    }
    let thumbnail_dropped = tiff.u32_at(plan.ifd1_link) != Some(0);
    tiff.put_u32(plan.ifd1_link, 0);
    let cut = plan.cut.unwrap_or(block.len());
    let bytes_removed = block.len() - cut;
    block.truncate(cut);
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

/// What [`tidy`] will write, decided before anything is written.
struct Plan {
    order: Order,
    /// Dimension values to write: (offset, LONG rather than SHORT, value).
    numbers: Vec<(usize, bool, u32)>,
    /// Offset of IFD0's link to IFD1.
    ifd1_link: usize,
    /// Where to cut the block: at IFD1 and its thumbnail, when they are the last
    /// thing in it and nothing IFD0 and its sub-IFDs use lies beyond their start.
    cut: Option<usize>,
}

/// Walks IFD0, its Exif, GPS and interoperability IFDs and IFD1; see [`Plan`].
fn plan(block: &mut [u8], width: u32, height: u32) -> Option<Plan> {
    let order = order_of(block)?;
    let tiff = Tiff {
        bytes: block,
        order,
    };
    let ifd0_at = tiff.u32_at(4)? as usize;
    let ifd0 = read_ifd(&tiff, ifd0_at)?;
    // One past the last byte IFD0 and its sub-IFDs use (as far as their entries say).
    let mut extent = ifd0.end.max(8);
    let mut seen = HashSet::from([ifd0_at]);
    let mut follow = |ifd: &Ifd, tag: u16, extent: &mut usize| -> Result<Option<Ifd>, ()> {
        let Some(at) = sub_ifd(&tiff, ifd, tag)? else {
            return Ok(None);
        };
        // A sub-IFD pointing back into one already read is a malformed (looping) block.
        if !seen.insert(at) {
            return Err(());
        }
        let sub = read_ifd(&tiff, at).ok_or(())?;
        *extent = (*extent).max(sub.end);
        Ok(Some(sub))
    };
    let exif = follow(&ifd0, EXIF_IFD, &mut extent).ok()?;
    follow(&ifd0, GPS_IFD, &mut extent).ok()?;
    if let Some(exif) = &exif {
        follow(exif, INTEROP_IFD, &mut extent).ok()?;
    }
    let mut numbers = Vec::new();
    let dims = [(&ifd0, IMAGE_WIDTH, width), (&ifd0, IMAGE_LENGTH, height)]
        .into_iter()
        .chain(exif.iter().flat_map(|e| {
            [
                (e, PIXEL_X_DIMENSION, width),
                (e, PIXEL_Y_DIMENSION, height),
            ]
        }));
    for (ifd, tag, value) in dims {
        if let Some((at, long)) = number_entry(ifd, tag) {
            // Too large for the entry's type: no edit is better than a wrong value.
            if !long && value > u32::from(u16::MAX) {
                return None;
            }
            numbers.push((at, long, value));
        }
    }
    let cut = thumbnail_start(&tiff, ifd0.next_at).filter(|&start| start >= extent);
    Some(Plan {
        order,
        numbers,
        ifd1_link: ifd0.next_at,
        cut,
    })
}

/// Where IFD1 and its JPEG thumbnail start, when together they run to the end of the
/// block (give or take 3 bytes of alignment) and IFD1 links no further IFD.
fn thumbnail_start(tiff: &Tiff, ifd1_link: usize) -> Option<usize> {
    let ifd1_at = tiff.u32_at(ifd1_link)? as usize;
    if ifd1_at == 0 {
        return None;
    }
    let ifd1 = read_ifd(tiff, ifd1_at)?;
    if tiff.u32_at(ifd1.next_at)? != 0 {
        return None;
    }
    let (mut start, mut end) = (ifd1_at, ifd1.end);
    let value = |(at, long): (usize, bool)| {
        if long {
            tiff.u32_at(at)
        } else {
            tiff.u16_at(at).map(u32::from)
        }
    };
    match (
        number_entry(&ifd1, JPEG_OFFSET),
        number_entry(&ifd1, JPEG_LENGTH),
    ) {
        (Some(o), Some(n)) => {
            let (offset, len) = (value(o)? as usize, value(n)? as usize);
            let thumb_end = offset.checked_add(len)?;
            if thumb_end > tiff.bytes.len() {
                return None;
            }
            start = start.min(offset);
            end = end.max(thumb_end);
        }
        (None, None) => {}
        _ => return None,
    }
    (tiff.bytes.len() - end < 4).then_some(start)
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
                tidy(&mut expected, 480, 640);
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
    fn a_size_a_short_cannot_hold_leaves_the_block_alone() {
        let original = block(false, 3, Some(100));
        for (w, h) in [(70_000, 10), (10, 70_000)] {
            let mut b = original.clone();
            assert_eq!(tidy(&mut b, w, h), Tidied::default());
            assert_eq!(b, original);
        }
    }

    #[test]
    fn bytes_after_the_thumbnail_keep_it_in_place() {
        // Something past the thumbnail (a maker's preview, say) may be referenced from
        // where this module does not look: the thumbnail is unlinked, nothing is cut.
        let mut b = block(false, 4, Some(100));
        b.extend_from_slice(&[7; 64]);
        let len = b.len();
        let t = tidy(&mut b, 1, 1);
        assert!(t.thumbnail_dropped);
        assert_eq!((t.bytes_removed, b.len()), (0, len));
        // Without a thumbnail, trailing bytes stay too.
        let mut b = block(true, 4, None);
        b.extend_from_slice(&[7; 64]);
        let len = b.len();
        assert_eq!(tidy(&mut b, 1, 1), Tidied::default());
        assert_eq!(b.len(), len);
    }

    #[test]
    fn a_pointer_in_another_form_leaves_the_block_alone() {
        // The Exif IFD pointer (IFD0's third entry) as a SHORT, then twice.
        let original = block(false, 4, Some(100));
        let mut b = original.clone();
        b[8 + 2 + 24 + 2] = 3;
        let before = b.clone();
        assert_eq!(tidy(&mut b, 1, 1), Tidied::default());
        assert_eq!(b, before);
        let mut b = original.clone();
        // The make entry (the first) retagged as a second Exif pointer.
        b[10..12].copy_from_slice(&EXIF_IFD.to_le_bytes());
        let before = b.clone();
        assert_eq!(tidy(&mut b, 1, 1), Tidied::default());
        assert_eq!(b, before);
    }

    #[test]
    fn malformed_blocks_are_left_alone() {
        let good = block(true, 4, Some(64));
        // Cut anywhere before the end of the Exif IFD (byte 90), the block is left
        // alone; from there on, the thumbnail is unlinked, and its bytes are cut only
        // from the whole block (before, IFD1 or the thumbnail runs past the end).
        for n in 0..=good.len() {
            let mut b = good[..n].to_vec();
            let t = tidy(&mut b, 1, 1);
            if n < 90 {
                assert_eq!((t, &b[..]), (Tidied::default(), &good[..n]), "{n}");
            } else {
                assert!(t.thumbnail_dropped, "{n}");
                let kept = if n == good.len() { 90 } else { n };
                assert_eq!(b.len(), kept, "{n}");
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
        // Random damage: a few bytes anywhere, a random cut, or random bytes after a
        // valid header; never a panic, never a longer block.
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..20_000 {
            let mut b = good.clone();
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..b.len());
                b[i] = rng.random();
            }
            if rng.random_bool(0.3) {
                b.truncate(rng.random_range(0..b.len()));
            }
            if rng.random_bool(0.1) {
                let n = rng.random_range(8..200);
                b = b"MM\0*"
                    .iter()
                    .copied()
                    .chain((4..n).map(|_| rng.random()))
                    .collect();
            }
            let len = b.len();
            let t = tidy(&mut b, rng.random(), rng.random());
            assert!(b.len() <= len && t.bytes_removed == len - b.len());
        }
        // A sub-IFD pointing back at IFD0.
        let mut b = block(false, 4, Some(10));
        b[8 + 2 + 24 + 8] = 8;
        let before = b.clone();
        assert_eq!(tidy(&mut b, 1, 1), Tidied::default());
        assert_eq!(b, before);
    }
}
