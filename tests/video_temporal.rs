//! The temporal prior in the video pipeline: it lowers the rate of a moving clip
//! against intra-only coding, random access inside a group decodes the same frames,
//! and a lost frame takes the temporal frames after it in its group with it — but
//! nothing beyond the group.

mod common;

use std::io::Cursor;

use neco::codec::video::{decode_video, encode_video, LostFrames};
use neco::codec::Timings;
use neco::io::frames::FrameSink;
use neco_core::container::video::{FrameMode, VideoStreamReader, VideoStreamWriter};
use neco_core::Limits;

/// 12 frames of 96×64 windows panning across the sample, 2 px right and 1 px down
/// per frame.
fn pan() -> Vec<Vec<u8>> {
    common::sample_pan(12, (96, 64), (200, 150), (2, 1))
}

struct Sink(Vec<Vec<u8>>);

impl FrameSink for Sink {
    fn write_frame(&mut self, rgb: &[u8]) -> anyhow::Result<()> {
        self.0.push(rgb.to_vec());
        Ok(())
    }
    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}

fn encode(temporal: bool) -> Vec<u8> {
    let codec = common::codec();
    let mut src = common::MemoryFrames::new(96, 64, pan());
    let mut t = Timings::default();
    encode_video(
        &codec,
        &mut src,
        Vec::new(),
        50,
        6,
        temporal,
        &mut t,
        |_| {},
    )
    .unwrap()
    .0
}

fn decode(bytes: &[u8], range: std::ops::Range<u64>) -> (Vec<Vec<u8>>, Vec<LostFrames>) {
    let codec = common::codec();
    let mut r = VideoStreamReader::open(Cursor::new(bytes), &Limits::default()).unwrap();
    let mut sink = Sink(Vec::new());
    let lost = decode_video(
        &codec,
        &mut r,
        range,
        &mut sink,
        &mut Timings::default(),
        |_| {},
    )
    .unwrap();
    (sink.0, lost)
}

fn modes(bytes: &[u8]) -> Vec<FrameMode> {
    let mut r = VideoStreamReader::open(Cursor::new(bytes), &Limits::default()).unwrap();
    (0..r.groups().len())
        .flat_map(|g| r.read_group(g).unwrap())
        .map(|f| f.mode)
        .collect()
}

#[test]
fn the_temporal_prior_lowers_the_rate_and_decodes_exactly() {
    let (temporal, intra) = (encode(true), encode(false));
    let m = modes(&temporal);
    assert_eq!(
        (m[0], m[6]),
        (FrameMode::Intra, FrameMode::Intra),
        "groups start intra"
    );
    assert!(
        m.iter().filter(|&&x| x == FrameMode::Temporal).count() >= 8,
        "most frames use the prior on a pan: {m:?}"
    );
    assert!(modes(&intra).iter().all(|&x| x == FrameMode::Intra));
    assert!(
        (temporal.len() as f64) < 0.97 * intra.len() as f64,
        "temporal {} bytes vs intra {}",
        temporal.len(),
        intra.len()
    );
    // The saving is not bought with quality: the temporal frames are at least as good
    // (their means, and so their ŷ, differ from intra's: here a little better).
    let src = pan();
    let (a, lost_a) = decode(&temporal, 0..12);
    let (b, lost_b) = decode(&intra, 0..12);
    assert!(lost_a.is_empty() && lost_b.is_empty());
    let mean = |v: &[Vec<u8>]| {
        v.iter()
            .zip(&src)
            .map(|(x, y)| common::psnr(x, y))
            .sum::<f64>()
            / 12.0
    };
    let (pa, pb) = (mean(&a), mean(&b));
    assert!(pa > pb - 0.1, "temporal {pa:.2} dB, intra {pb:.2} dB");

    // Random access from the middle of a group decodes the very same pictures.
    let (part, lost) = decode(&temporal, 3..9);
    assert!(lost.is_empty());
    assert!(part == a[3..9], "frames 3..9 differ from the full decode");
}

#[test]
fn a_lost_frame_takes_its_dependants_in_the_group_only() {
    let bytes = encode(true);
    let mut r = VideoStreamReader::open(Cursor::new(&bytes), &Limits::default()).unwrap();
    let header = r.header().clone();
    let mut groups: Vec<_> = (0..r.groups().len())
        .map(|g| r.read_group(g).unwrap())
        .collect();
    assert_eq!(groups[0][2].mode, FrameMode::Temporal);
    // Frame 2's ẑ bits gain a byte (no longer whole 32-bit words): the container is
    // intact, the frame is not.
    groups[0][2].z_bits.push(0);
    let mut w = VideoStreamWriter::new(Vec::new(), header).unwrap();
    for g in &groups {
        w.write_group(g).unwrap();
    }
    let damaged = w.finish().unwrap();

    let (good, _) = decode(&bytes, 0..12);
    let (frames, lost) = decode(&damaged, 0..12);
    assert_eq!(frames.len(), 12, "the timing holds");
    let ranges: Vec<_> = lost.iter().map(|l| l.frames.clone()).collect();
    let after_2: Vec<u64> = (3..6)
        .take_while(|&n| groups[0][n as usize].mode == FrameMode::Temporal)
        .collect();
    // Frame 2 is lost; the temporal frames after it up to the next intra frame too.
    assert_eq!(ranges[0], 2..3, "{lost:?}");
    if let (Some(&first), Some(&last)) = (after_2.first(), after_2.last()) {
        assert_eq!(ranges[1], first..last + 1, "{lost:?}");
        assert_eq!(
            lost[1].reason,
            "group 0: depends on frame 2, which was lost"
        );
    }
    assert!(frames[..2] == good[..2] && frames[6..] == good[6..]);
    assert!(
        ranges.iter().all(|r| r.end <= 6),
        "group 1 decodes: {lost:?}"
    );
}

/// Frames damaged inside their chunks (CRCs recomputed, so the damage reaches the
/// entropy decoder, the temporal prior and the transforms) decode as frames or as
/// lost frames, never a panic, and the clip keeps its length.
#[test]
fn damaged_frames_never_panic() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let bytes = encode(true);
    let frames: Vec<common::ChunkPos> = common::chunks(&bytes)
        .into_iter()
        .filter(|c| &c.tag == b"FRME")
        .collect();
    let codec = common::codec();
    let mut rng = common::Rng::new(0x7669_6465);
    let mut lost_any = false;
    for i in 0..40 {
        let c = frames[rng.below(frames.len())];
        let at = c.payload() + rng.below(c.len);
        let mut bad = bytes.clone();
        common::damage(&mut bad, at, c.crc(), i, &mut rng);
        common::fix_crc(&mut bad, &c);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut r = VideoStreamReader::open(Cursor::new(&bad[..]), &Limits::default())?;
            let mut sink = Sink(Vec::new());
            let lost = decode_video(
                &codec,
                &mut r,
                0..12,
                &mut sink,
                &mut Timings::default(),
                |_| {},
            )?;
            Ok::<_, anyhow::Error>((sink.0.len(), lost.len()))
        }))
        .unwrap_or_else(|_| panic!("mutation {i} at byte {at} panicked"));
        if let Ok((n, lost)) = outcome {
            assert_eq!(n, 12, "mutation {i}: the timing holds");
            lost_any |= lost > 0;
        }
    }
    assert!(lost_any, "some mutations lose frames");
}
