//! Video streams: group round trips, random access, damage confined to a group,
//! hostile indexes, and recovery by a scan when the index is lost.

use std::io::Cursor;

use neco_core::container::video::{FrameBits, FrameMode, VideoStreamReader, VideoStreamWriter};
use neco_core::container::{Header, ImageStream, Kind, PixelFormat, VideoParams};
use neco_core::{Limits, NecoError};

fn header(gop: u16) -> Header {
    Header {
        kind: Kind::Video,
        width: 64,
        height: 48,
        pixel_format: PixelFormat::Rgb8,
        bit_depth: 8,
        quality: 50,
        model_id: "hp-n64m96".into(),
        weights_sha256: [3; 32],
        y_channels: 96,
        z_channels: 64,
        substreams: 2,
        video: Some(VideoParams {
            fps_num: 30000,
            fps_den: 1001,
            gop,
        }),
    }
}

/// Frame `n`: intra at the start of a group of 4, temporal otherwise.
fn frame(n: usize) -> FrameBits {
    FrameBits {
        mode: if n.is_multiple_of(4) {
            FrameMode::Intra
        } else {
            FrameMode::Temporal
        },
        z_bits: vec![n as u8; n % 5 + 1],
        y_bits: vec![vec![0xA0 ^ n as u8; 8 + n], vec![]],
    }
}

/// Frames 0..10 in groups of 4, 4, 2.
fn groups() -> Vec<Vec<FrameBits>> {
    vec![
        (0..4).map(frame).collect(),
        (4..8).map(frame).collect(),
        (8..10).map(frame).collect(),
    ]
}

fn stream() -> Vec<u8> {
    let mut w = VideoStreamWriter::new(Vec::new(), header(4)).unwrap();
    for g in groups() {
        w.write_group(&g).unwrap();
    }
    w.finish().unwrap()
}

fn open(b: &[u8]) -> neco_core::Result<VideoStreamReader<Cursor<&[u8]>>> {
    VideoStreamReader::open(Cursor::new(b), &Limits::default())
}

/// (type, offset) of every chunk of a well-formed stream.
fn chunks(b: &[u8]) -> Vec<([u8; 4], usize)> {
    let mut out = Vec::new();
    let mut at = 10;
    while at < b.len() {
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        out.push((b[at..at + 4].try_into().unwrap(), at));
        at += 12 + len;
    }
    out
}

/// Recomputes the CRC of the chunk at `at`.
fn fix_crc(b: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
    let mut h = crc32fast::Hasher::new();
    h.update(&b[at..at + 4]);
    h.update(&b[at + 8..at + 8 + len]);
    b[at + 8 + len..at + 12 + len].copy_from_slice(&h.finalize().to_le_bytes());
}

/// Opens `b`, whose index is unusable for the reason `needle`: a scan must find the
/// groups `expected` (their GRUP and FRME chunks are intact).
fn recovered(b: &[u8], needle: &str, expected: &[Vec<FrameBits>]) {
    let mut r = open(b).unwrap_or_else(|e| panic!("expected a recovery ({needle}), got {e}"));
    let rec = r.recovery().expect("the index was unusable").clone();
    assert!(rec.reason.contains(needle), "{}", rec.reason);
    let frames: usize = expected.iter().map(Vec::len).sum();
    assert_eq!(
        (rec.found_groups, rec.missing_frames, rec.known_frames),
        (expected.len(), 0, frames as u64)
    );
    assert_eq!(r.groups().len(), expected.len());
    for (i, g) in expected.iter().enumerate() {
        assert_eq!(&r.read_group(i).unwrap(), g, "group {i}");
    }
}

#[test]
fn groups_round_trip_with_random_access() {
    let b = stream();
    let mut r = open(&b).unwrap();
    assert_eq!(r.header(), &header(4));
    assert_eq!(r.frames(), 10);
    let firsts: Vec<_> = r
        .groups()
        .iter()
        .map(|g| (g.first_frame, g.frames))
        .collect();
    assert_eq!(firsts, [(0, 4), (4, 4), (8, 2)]);
    // Any order.
    for i in [2, 0, 1] {
        assert_eq!(r.read_group(i).unwrap(), groups()[i], "group {i}");
    }
    assert!(r.read_group(3).is_err());
}

#[test]
fn damage_stays_in_its_group() {
    let b = stream();
    let frme_in_group_1 = chunks(&b)
        .iter()
        .filter(|(t, _)| t == b"FRME")
        .nth(5)
        .unwrap()
        .1;
    for (what, damage) in [
        (
            "bit flip",
            Box::new(|b: &mut Vec<u8>, at: usize| b[at + 14] ^= 1)
                as Box<dyn Fn(&mut Vec<u8>, usize)>,
        ),
        (
            "lying length",
            Box::new(|b: &mut Vec<u8>, at: usize| {
                b[at + 4..at + 8].copy_from_slice(&9999u32.to_le_bytes())
            }),
        ),
        (
            "wrong type",
            Box::new(|b: &mut Vec<u8>, at: usize| b[at..at + 4].copy_from_slice(b"JUNK")),
        ),
    ] {
        let mut bad = b.clone();
        damage(&mut bad, frme_in_group_1);
        let mut r = open(&bad).unwrap();
        assert!(r.read_group(1).is_err(), "{what}: group 1 decoded");
        // The group's frames before the damaged one (its second) are still there.
        let (before, damage) = r.read_group_prefix(1).unwrap();
        assert_eq!(before, groups()[1][..1], "{what}");
        assert!(damage.unwrap().to_string().contains("frame 5"), "{what}");
        assert_eq!(r.read_group(0).unwrap(), groups()[0], "{what}");
        assert_eq!(r.read_group(2).unwrap(), groups()[2], "{what}");
    }
}

#[test]
fn hostile_indexes_and_ends() {
    let b = stream();
    let cs = chunks(&b);
    let indx = cs.iter().find(|(t, _)| t == b"INDX").unwrap().1;
    let iend = cs.last().unwrap().1;

    // IEND pointing past the end, or at the header.
    for target in [u64::MAX, b.len() as u64, 10] {
        let mut bad = b.clone();
        bad[iend + 8..iend + 16].copy_from_slice(&target.to_le_bytes());
        fix_crc(&mut bad, iend);
        recovered(&bad, "IEND points at offset", &groups());
    }
    // An index entry pointing past the end.
    let mut bad = b.clone();
    bad[indx + 12..indx + 20].copy_from_slice(&(1u64 << 40).to_le_bytes());
    fix_crc(&mut bad, indx);
    recovered(&bad, "group 0 at offset", &groups());
    // Absurd frame counts: more than the group size, or a gap.
    let mut bad = b.clone();
    bad[indx + 24..indx + 26].copy_from_slice(&60000u16.to_le_bytes());
    fix_crc(&mut bad, indx);
    recovered(&bad, "expected to start at 0 with 1..=4 frames", &groups());
    let mut bad = b.clone();
    bad[indx + 8..indx + 12].copy_from_slice(&1_000_000u32.to_le_bytes());
    fix_crc(&mut bad, indx);
    recovered(&bad, "groups claimed", &groups());
    // More frames than the limit.
    let tight = Limits {
        max_frames: 9,
        ..Limits::default()
    };
    match VideoStreamReader::open(Cursor::new(&b[..]), &tight) {
        Err(NecoError::LimitExceeded(m)) => assert!(m.contains("more than 9 frames"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn truncated_streams_keep_their_intact_groups() {
    let b = stream();
    // Where each group's chunks end: the next GRUP, or the index.
    let starts: Vec<usize> = chunks(&b)
        .iter()
        .filter(|(t, _)| t == b"GRUP" || t == b"INDX")
        .map(|&(_, at)| at)
        .collect();
    let grup_end = starts[0] + 12 + 10;
    for len in 0..b.len() {
        let cut = &b[..len];
        let intact = starts[1..].iter().filter(|&&end| end <= len).count();
        match open(cut) {
            Err(e) => assert!(len < grup_end, "truncated to {len}: {e}"),
            Ok(mut r) => {
                let rec = r.recovery().expect("an index at its end").clone();
                assert!(len >= grup_end && rec.missing_frames == 0, "{len}: {rec:?}");
                assert!(r.groups().len() >= intact && r.groups().len() <= intact + 1);
                for (i, g) in groups().iter().enumerate().take(intact) {
                    assert_eq!(
                        &r.read_group(i).unwrap(),
                        g,
                        "truncated to {len}: group {i}"
                    );
                }
                // A group cut inside its frames is listed, and fails alone.
                if r.groups().len() > intact {
                    assert!(r.read_group(intact).is_err(), "{len}");
                }
            }
        }
    }
    // Cut before IEND's last byte: the message says what happened.
    let r = open(&b[..b.len() - 1]).unwrap();
    let reason = &r.recovery().unwrap().reason;
    assert!(reason.contains("IEND"), "{reason}");
}

#[test]
fn a_lost_index_and_a_damaged_group_cost_that_group_only() {
    let b = stream();
    let cs = chunks(&b);
    let indx = cs.iter().find(|(t, _)| t == b"INDX").unwrap().1;
    let grup1 = cs.iter().filter(|(t, _)| t == b"GRUP").nth(1).unwrap().1;
    // The index zeroed (as a failed write leaves a preallocated file), and the
    // second group's GRUP chunk damaged.
    let mut bad = b.clone();
    bad[indx..].fill(0);
    bad[grup1 + 9] ^= 0x10;
    let mut r = open(&bad).unwrap();
    let rec = r.recovery().unwrap().clone();
    assert_eq!(
        (rec.found_groups, rec.missing_frames, rec.known_frames),
        (2, 4, 10)
    );
    assert_eq!(r.frames(), 10);
    assert_eq!(r.read_group(0).unwrap(), groups()[0]);
    let e = r.read_group(1).unwrap_err().to_string();
    assert!(e.contains("missing: the stream's index is damaged"), "{e}");
    assert!(r.is_missing(1) && !r.is_missing(0));
    assert_eq!(r.read_group(2).unwrap(), groups()[2]);
    // Nothing intact: an error that says why.
    let mut none = bad.clone();
    none[..indx].iter_mut().skip(200).for_each(|v| *v = 0);
    for (t, at) in chunks(&b).iter().filter(|(t, _)| t == b"GRUP") {
        assert_eq!(t, b"GRUP");
        none[*at] = b'X';
    }
    match open(&none) {
        Err(NecoError::Corrupt(m)) => assert!(m.contains("found none intact"), "{m}"),
        other => panic!("{:?}", other.map(|r| r.recovery().cloned())),
    }
}

#[test]
fn images_and_videos_are_told_apart() {
    let b = stream();
    match ImageStream::from_bytes(&b, &Limits::default()) {
        Err(NecoError::Unsupported(m)) => assert!(m.contains("video stream"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut h = header(4);
    h.kind = Kind::Image;
    h.video = None;
    let img = ImageStream {
        header: h,
        z_bits: vec![1],
        y_bits: vec![vec![], vec![]],
        alpha: None,
        icc: None,
        exif: None,
    }
    .to_bytes()
    .unwrap();
    assert!(matches!(open(&img), Err(NecoError::Unsupported(_))));
    // Video fields must be valid.
    let mut bad = header(4);
    bad.video = Some(VideoParams {
        fps_num: 0,
        fps_den: 1,
        gop: 4,
    });
    assert!(VideoStreamWriter::new(Vec::new(), bad).is_err());
    let mut w = VideoStreamWriter::new(Vec::new(), header(2)).unwrap();
    let e = w.write_group(&groups()[0]).unwrap_err().to_string();
    assert!(e.contains("a group of 4 frames, must be 1..=2"), "{e}");
    // A frame rate FFmpeg cannot represent.
    let mut bad = header(4);
    bad.video = Some(VideoParams {
        fps_num: u32::MAX,
        fps_den: 1,
        gop: 4,
    });
    assert!(VideoStreamWriter::new(Vec::new(), bad).is_err());
}

#[test]
fn refused_groups_leave_the_stream_consistent() {
    let mut w = VideoStreamWriter::new(Vec::new(), header(4)).unwrap();
    let mut odd = groups()[0].clone();
    odd[2].y_bits.pop();
    let e = w.write_group(&odd).unwrap_err().to_string();
    assert!(
        e.contains("a frame with 1 ŷ substreams, the header declares 2"),
        "{e}"
    );
    w.write_group(&groups()[0]).unwrap();
    let b = w.finish().unwrap();
    let mut r = open(&b).unwrap();
    assert_eq!(r.frames(), 4);
    assert_eq!(r.read_group(0).unwrap(), groups()[0]);
    // A stream with no group at all is not written.
    let empty = VideoStreamWriter::new(Vec::new(), header(4)).unwrap();
    assert!(empty.finish().is_err());
}

#[test]
fn groups_start_intra_and_frame_modes_are_checked() {
    // The writer refuses a group whose first frame is temporal.
    let mut w = VideoStreamWriter::new(Vec::new(), header(4)).unwrap();
    let mut g = groups()[0].clone();
    g[0].mode = FrameMode::Temporal;
    let e = w.write_group(&g).unwrap_err().to_string();
    assert!(e.contains("must start with an intra frame"), "{e}");

    // A reader refuses it too, and an unknown mode, in that group only.
    let b = stream();
    let frme: Vec<usize> = chunks(&b)
        .into_iter()
        .filter(|(t, _)| t == b"FRME")
        .map(|(_, at)| at)
        .collect();
    assert_eq!(frme.len(), 10);
    for (at, mode, needle) in [
        (frme[4], 1u8, "group 1 starts with a temporal frame"),
        (
            frme[5],
            7,
            "frame mode 7, this build reads 0 (intra) and 1 (temporal)",
        ),
    ] {
        let mut bad = b.clone();
        bad[at + 8] = mode;
        fix_crc(&mut bad, at);
        let mut r = open(&bad).unwrap();
        let e = r.read_group(1).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
        assert_eq!(r.read_group(0).unwrap(), groups()[0]);
        assert_eq!(r.read_group(2).unwrap(), groups()[2]);
    }
}

#[test]
fn an_index_cannot_claim_more_frames_than_fit() {
    // Frames with empty payloads: each group is exactly as long as its frames need.
    let empty = |n: usize| FrameBits {
        mode: if n == 0 {
            FrameMode::Intra
        } else {
            FrameMode::Temporal
        },
        z_bits: vec![],
        y_bits: vec![vec![], vec![]],
    };
    let mut w = VideoStreamWriter::new(Vec::new(), header(4)).unwrap();
    w.write_group(&(0..2).map(empty).collect::<Vec<_>>())
        .unwrap();
    w.write_group(&[empty(0)]).unwrap();
    let b = w.finish().unwrap();
    let mut r = open(&b).unwrap();
    assert_eq!(r.frames(), 3);
    assert_eq!(r.read_group(0).unwrap().len(), 2);
    assert_eq!(r.read_group(1).unwrap().len(), 1);

    let indx = chunks(&b).iter().find(|(t, _)| t == b"INDX").unwrap().1;
    let (entry0, entry1) = (indx + 12, indx + 12 + 14);
    // The last group claiming two frames: the second would run into the index.
    let mut bad = b.clone();
    bad[entry1 + 12..entry1 + 14].copy_from_slice(&2u16.to_le_bytes());
    fix_crc(&mut bad, indx);
    recovered(
        &bad,
        "group 1 of 2 frames at offset",
        &[vec![empty(0), empty(1)], vec![empty(0)]],
    );
    // The first group claiming three: the third would run into the second group.
    let mut bad = b.clone();
    bad[entry0 + 12..entry0 + 14].copy_from_slice(&3u16.to_le_bytes());
    bad[entry1 + 8..entry1 + 12].copy_from_slice(&3u32.to_le_bytes());
    fix_crc(&mut bad, indx);
    recovered(
        &bad,
        "group 1 at offset",
        &[vec![empty(0), empty(1)], vec![empty(0)]],
    );
}

/// The bytes of each group of `stream()` (GRUP and its FRME chunks) and the header
/// before them.
fn group_bytes(b: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let cs = chunks(b);
    let grups: Vec<usize> = cs
        .iter()
        .filter(|(t, _)| t == b"GRUP")
        .map(|&(_, at)| at)
        .collect();
    let indx = cs.iter().find(|(t, _)| t == b"INDX").unwrap().1;
    let mut ends = grups[1..].to_vec();
    ends.push(indx);
    (
        b[..grups[0]].to_vec(),
        grups
            .iter()
            .zip(ends)
            .map(|(&s, e)| b[s..e].to_vec())
            .collect(),
    )
}

#[test]
fn a_scan_keeps_groups_in_frame_order_past_a_cut_out_group_and_whole_copies_first() {
    let b = stream();
    let (head, g) = group_bytes(&b);
    let open_frames = |bytes: &[u8]| {
        let mut r = open(bytes).unwrap();
        let rec = r.recovery().unwrap().clone();
        let read: Vec<Option<Vec<FrameBits>>> = (0..r.groups().len())
            .map(|i| r.read_group(i).ok())
            .collect();
        (rec, read)
    };
    // Group 1's bytes cut out (a copy that skipped what it could not read).
    let cut = [head.clone(), g[0].clone(), g[2].clone()].concat();
    let (rec, read) = open_frames(&cut);
    assert_eq!(
        (rec.found_groups, rec.missing_frames, rec.known_frames),
        (2, 4, 10)
    );
    assert_eq!(read[0].as_ref(), Some(&groups()[0]));
    assert!(read[1].is_none());
    assert_eq!(read[2].as_ref(), Some(&groups()[2]));
    // Groups stored out of order.
    let shuffled = [head.clone(), g[2].clone(), g[1].clone(), g[0].clone()].concat();
    let (rec, read) = open_frames(&shuffled);
    assert_eq!((rec.found_groups, rec.missing_frames), (3, 0));
    for (i, group) in groups().iter().enumerate() {
        assert_eq!(read[i].as_ref(), Some(group), "group {i}");
    }
    // A resumed download: a truncated copy of group 1, then the whole stream.
    let resumed = [head.clone(), g[0].clone(), g[1][..g[1].len() - 9].to_vec()]
        .concat()
        .into_iter()
        .chain(g[1].iter().copied())
        .chain(g[2].iter().copied())
        .collect::<Vec<u8>>();
    let (rec, read) = open_frames(&resumed);
    assert_eq!((rec.found_groups, rec.ignored_groups), (3, 1));
    assert_eq!(read[1].as_ref(), Some(&groups()[1]));
    // A lone group far into the frames: up to four times its frames may be missing
    // before it, not more.
    let lone = |first: u32| {
        let mut w = VideoStreamWriter::new(Vec::new(), header(4)).unwrap();
        w.write_group(&groups()[0]).unwrap();
        let b = w.finish().unwrap();
        let (head, g) = group_bytes(&b);
        let mut grup = g[0].clone();
        grup[12..16].copy_from_slice(&first.to_le_bytes());
        fix_crc(&mut grup, 0);
        [head, grup].concat()
    };
    let (rec, _) = open_frames(&lone(16));
    assert_eq!((rec.missing_frames, rec.known_frames), (16, 20));
    match open(&lone(17)) {
        Err(NecoError::Corrupt(m)) => assert!(m.contains("cannot be believed"), "{m}"),
        other => panic!("{:?}", other.map(|r| r.recovery().cloned())),
    }
}

/// A reader that counts the bytes and calls it was asked for.
struct Counting<'a> {
    inner: Cursor<&'a [u8]>,
    bytes: std::rc::Rc<std::cell::Cell<(u64, u64)>>,
}

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (b, c) = self.bytes.get();
        self.bytes.set((b + n as u64, c + 1));
        Ok(n)
    }
}

impl std::io::Seek for Counting<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn a_scan_reads_each_byte_about_once_whatever_the_chunks_claim() {
    let b = stream();
    let (head, g) = group_bytes(&b);
    // A one-frame GRUP every 64 bytes, each followed by a FRME that claims to reach
    // almost to the end (with a wrong CRC): read to the end each time, that was
    // quadratic. Then "GRUP" tags with wrong CRCs every 8 bytes.
    let mut bad = head.clone();
    let grup_at = |bad: &mut Vec<u8>, n: u32| {
        let at = bad.len();
        bad.extend_from_slice(b"GRUP");
        bad.extend_from_slice(&10u32.to_le_bytes());
        bad.extend_from_slice(&n.to_le_bytes());
        bad.extend_from_slice(&(n * 4).to_le_bytes());
        bad.extend_from_slice(&1u16.to_le_bytes());
        bad.extend_from_slice(&[0; 4]);
        fix_crc(bad, at);
    };
    for n in 0..8_000u32 {
        grup_at(&mut bad, n);
        bad.extend_from_slice(b"FRME");
        bad.extend_from_slice(&(1u32 << 30).to_le_bytes());
        bad.resize(bad.len() + 64 - 30, 0x55);
    }
    for _ in 0..64_000 {
        bad.extend_from_slice(b"GRUP\x0a\0\0\0");
    }
    bad.extend_from_slice(&g[0]);
    let count = std::rc::Rc::new(std::cell::Cell::new((0, 0)));
    let src = Counting {
        inner: Cursor::new(&bad),
        bytes: count.clone(),
    };
    let r = VideoStreamReader::open(src, &Limits::default());
    let (bytes, calls) = count.get();
    let len = bad.len() as u64;
    assert!(bytes < 3 * len, "read {bytes} bytes of a {len}-byte stream");
    assert!(calls < 20_000, "{calls} reads of a {len}-byte stream");
    // The real group at the end is found.
    assert!(r.is_ok());
}
