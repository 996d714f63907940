//! Video streams (`HEAD` kind 1): frames in groups that each decode on their own,
//! listed in an index for random access, written and read with memory bounded by a
//! group.
//!
//! # Layout after the magic and version
//!
//! ```text
//! HEAD            kind 1; the image fields, then fps num u32, fps den u32, gop u16
//! per group:
//!   GRUP          group number u32, first frame u32, frames u16 (1..=gop)
//!   FRME × frames mode u8 (0 = intra, 1 = temporal), ẑ length u32, ẑ bits,
//!                 then `substreams` × (length u32, ŷ bits)
//! INDX            groups u32, then per group: offset u64 of its GRUP chunk,
//!                 first frame u32, frames u16
//! IEND            offset u64 of the INDX chunk
//! ```
//!
//! Groups start at frame 0 and follow each other without gaps, in order. The first
//! frame of every group is intra; a temporal frame's ŷ parameters also depend on
//! the frame before it, so a group decodes on its own but not from its middle. A reader
//! finds the index through `IEND` (the last 20 bytes), so one damaged group — a bad
//! CRC, a lying length — costs only its own frames: the others are still found and
//! decoded. When the index itself is missing or damaged (a truncated file, an
//! interrupted copy or recording), the reader scans the stream for `GRUP` chunks
//! whose CRCs hold and keeps every group it finds ([`Recovery`]). Every length and
//! count is checked against the stream's size and [`Limits`] before anything is
//! allocated.

use std::io::{Read, Seek, SeekFrom, Write};

use super::reader::chunk_crc;
use super::{tag, Header, Kind, CONTAINER_VERSION, MAGIC};
use crate::bytes::ByteReader;
use crate::{Limits, NecoError, Result};

const GRUP: [u8; 4] = *b"GRUP";
const FRME: [u8; 4] = *b"FRME";
const INDX: [u8; 4] = *b"INDX";
/// Bytes of the magic and version.
const PREAMBLE: u64 = 10;
/// Chunk type + length before the payload, CRC after it.
const CHUNK_OVERHEAD: u64 = 12;
/// Size of the `IEND` chunk of a video stream.
const IEND_LEN: u64 = CHUNK_OVERHEAD + 8;
/// Bytes per index entry.
const ENTRY_LEN: usize = 8 + 4 + 2;
/// How many lost frames a scan may list for each frame it found (see
/// `VideoStreamReader::scan`).
const GAP_FACTOR: u64 = 4;

/// How a frame's ŷ is predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameMode {
    /// From its own hyperprior only (byte 0).
    Intra,
    /// From its hyperprior and the previous frame's ŷ through the weights' temporal
    /// prior (byte 1). Never the first frame of a group.
    Temporal,
}

/// The coded bits of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameBits {
    /// Prediction mode.
    pub mode: FrameMode,
    /// ẑ bits.
    pub z_bits: Vec<u8>,
    /// ŷ substreams (as many as the header's `substreams`).
    pub y_bits: Vec<Vec<u8>>,
}

/// One entry of the group index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupEntry {
    /// Byte offset of the group's `GRUP` chunk.
    pub offset: u64,
    /// Number of its first frame.
    pub first_frame: u32,
    /// Frames in the group.
    pub frames: u16,
}

fn write_chunk<W: Write>(out: &mut W, t: [u8; 4], payload: &[u8]) -> Result<u64> {
    let len = u32::try_from(payload.len()).map_err(|_| {
        NecoError::InvalidArgument(format!("a chunk of {} bytes does not fit", payload.len()))
    })?;
    out.write_all(&t)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(payload)?;
    out.write_all(&chunk_crc(&t, payload).to_le_bytes())?;
    Ok(CHUNK_OVERHEAD + payload.len() as u64)
}

/// Writes a video stream group by group.
pub struct VideoStreamWriter<W: Write> {
    out: W,
    header: Header,
    pos: u64,
    index: Vec<GroupEntry>,
    next_frame: u32,
}

impl<W: Write> VideoStreamWriter<W> {
    /// Writes the magic, version and `HEAD` (which must be a valid video header).
    pub fn new(mut out: W, header: Header) -> Result<Self> {
        if header.kind != Kind::Video {
            return Err(NecoError::InvalidArgument(
                "a video stream needs a kind-1 header".into(),
            ));
        }
        let head = header.to_payload()?;
        out.write_all(&MAGIC)?;
        out.write_all(&CONTAINER_VERSION.to_le_bytes())?;
        let pos = PREAMBLE + write_chunk(&mut out, tag::HEAD, &head)?;
        Ok(VideoStreamWriter {
            out,
            header,
            pos,
            index: Vec::new(),
            next_frame: 0,
        })
    }

    /// Appends a group of 1..=gop frames.
    pub fn write_group(&mut self, frames: &[FrameBits]) -> Result<()> {
        let gop = self.header.video.map_or(0, |v| v.gop);
        let count = u16::try_from(frames.len())
            .ok()
            .filter(|&n| (1..=gop).contains(&n))
            .ok_or_else(|| {
                NecoError::InvalidArgument(format!(
                    "a group of {} frames, must be 1..={gop}",
                    frames.len()
                ))
            })?;
        // Check everything before writing anything, so a refused group leaves the
        // stream as it was.
        if frames.first().is_some_and(|f| f.mode != FrameMode::Intra) {
            return Err(NecoError::InvalidArgument(
                "a group must start with an intra frame".into(),
            ));
        }
        if let Some(f) = frames
            .iter()
            .find(|f| f.y_bits.len() != usize::from(self.header.substreams))
        {
            return Err(NecoError::InvalidArgument(format!(
                "a frame with {} ŷ substreams, the header declares {}",
                f.y_bits.len(),
                self.header.substreams
            )));
        }
        if frames
            .iter()
            .flat_map(|f| std::iter::once(&f.z_bits).chain(&f.y_bits))
            .any(|b| u32::try_from(b.len()).is_err())
        {
            return Err(NecoError::InvalidArgument("a payload over 4 GiB".into()));
        }
        let next_frame = self
            .next_frame
            .checked_add(u32::from(count))
            .ok_or_else(|| NecoError::InvalidArgument("more than 2^32 frames".into()))?;
        let number = self.index.len() as u32;
        let entry = GroupEntry {
            offset: self.pos,
            first_frame: self.next_frame,
            frames: count,
        };
        let mut grup = Vec::with_capacity(10);
        grup.extend_from_slice(&number.to_le_bytes());
        grup.extend_from_slice(&entry.first_frame.to_le_bytes());
        grup.extend_from_slice(&count.to_le_bytes());
        let mut pos = self.pos + write_chunk(&mut self.out, GRUP, &grup)?;
        for f in frames {
            let mut p = Vec::new();
            p.push(match f.mode {
                FrameMode::Intra => 0,
                FrameMode::Temporal => 1,
            });
            for bits in std::iter::once(&f.z_bits).chain(&f.y_bits) {
                // Checked above to fit.
                p.extend_from_slice(&(bits.len() as u32).to_le_bytes());
                p.extend_from_slice(bits);
            }
            pos += write_chunk(&mut self.out, FRME, &p)?;
        }
        self.pos = pos;
        self.next_frame = next_frame;
        self.index.push(entry);
        Ok(())
    }

    /// Writes the index and `IEND`; returns the output. A stream needs at least one
    /// group.
    pub fn finish(mut self) -> Result<W> {
        if self.index.is_empty() {
            return Err(NecoError::InvalidArgument(
                "a video stream needs at least one group".into(),
            ));
        }
        let mut indx = Vec::with_capacity(4 + self.index.len() * ENTRY_LEN);
        indx.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
        for e in &self.index {
            indx.extend_from_slice(&e.offset.to_le_bytes());
            indx.extend_from_slice(&e.first_frame.to_le_bytes());
            indx.extend_from_slice(&e.frames.to_le_bytes());
        }
        let indx_at = self.pos;
        write_chunk(&mut self.out, INDX, &indx)?;
        write_chunk(&mut self.out, tag::IEND, &indx_at.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// What a scan of a stream whose index could not be used found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Why the index could not be used.
    pub reason: String,
    /// Groups whose `GRUP` chunk was found intact and listed (their frames may still
    /// be damaged).
    pub found_groups: usize,
    /// Intact `GRUP` chunks left out: copies of frames already listed, or frame
    /// numbers too far from the groups found to be believed.
    pub ignored_groups: usize,
    /// Frames between found groups that no intact `GRUP` chunk accounts for: their
    /// groups are listed as missing ([`VideoStreamReader::read_group`] fails for them).
    pub missing_frames: u64,
    /// Frames the stream is known to hold: up to the end of the last group found.
    /// Frames after it, if there were any, are lost without a trace.
    pub known_frames: u64,
}

/// A `GRUP` chunk a scan found intact.
#[derive(Debug, Clone, Copy)]
struct GrupHead {
    offset: u64,
    number: u32,
    first_frame: u32,
    frames: u16,
    /// Where its frames start.
    after: u64,
}

/// Where a listed group's chunks are.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// The number its `GRUP` chunk must carry.
    number: u32,
    /// Where its chunks end; `None` for a group a scan did not find.
    end: Option<u64>,
}

/// Reads a video stream: header and index up front, then any group on demand.
pub struct VideoStreamReader<R: Read + Seek> {
    src: R,
    len: u64,
    header: Header,
    groups: Vec<GroupEntry>,
    spans: Vec<Span>,
    recovery: Option<Recovery>,
    limits: Limits,
}

impl<R: Read + Seek> VideoStreamReader<R> {
    /// Reads and checks the preamble, `HEAD`, `IEND` and the index. When `IEND` or the
    /// index is missing or damaged, the groups come from a scan of the stream instead
    /// (see [`recovery`](Self::recovery)); an error only when the scan finds none.
    pub fn open(mut src: R, limits: &Limits) -> Result<Self> {
        let len = src.seek(SeekFrom::End(0))?;
        let mut pre = [0u8; PREAMBLE as usize];
        if len < PREAMBLE {
            return Err(NecoError::corrupt(format!(
                "truncated: {len} bytes, shorter than the magic and version"
            )));
        }
        read_at(&mut src, 0, &mut pre)?;
        if pre[..8] != MAGIC {
            return Err(NecoError::corrupt("not a .neco stream (bad magic)"));
        }
        let version = u16::from_le_bytes([pre[8], pre[9]]);
        if version != CONTAINER_VERSION {
            return Err(NecoError::Unsupported(format!(
                "container version {version} for a video stream, this build reads video streams of version {CONTAINER_VERSION}"
            )));
        }
        let mut r = VideoStreamReader {
            src,
            len,
            header: placeholder_header(),
            groups: Vec::new(),
            spans: Vec::new(),
            recovery: None,
            limits: *limits,
        };
        let (head, after_head) = r.chunk_at(PREAMBLE, tag::HEAD, len)?;
        r.header = Header::from_payload(&head, limits)?;
        let Some(video) = r.header.video else {
            return Err(NecoError::Unsupported(
                "an image stream, not a video".into(),
            ));
        };
        match r.read_index(after_head, video.gop) {
            Ok(groups) => {
                let index_at = r.index_offset_of(groups.len());
                r.spans = (0..groups.len())
                    .map(|i| Span {
                        number: i as u32,
                        end: Some(groups.get(i + 1).map_or(index_at, |n| n.offset)),
                    })
                    .collect();
                r.groups = groups;
            }
            Err(NecoError::Corrupt(reason)) => r.scan(after_head, video.gop, reason)?,
            Err(e) => return Err(e),
        }
        Ok(r)
    }

    /// The groups `IEND` and the index list, checked against the stream.
    fn read_index(&mut self, after_head: u64, gop: u16) -> Result<Vec<GroupEntry>> {
        let (len, limits) = (self.len, self.limits);
        if len < after_head + IEND_LEN {
            return Err(NecoError::corrupt(format!(
                "video stream of {len} bytes ends before its IEND chunk (truncated?)"
            )));
        }
        let r = self;
        let (iend, _) = r.chunk_at(len - IEND_LEN, tag::IEND, len)?;
        let indx_at = match <[u8; 8]>::try_from(iend.as_slice()) {
            Ok(b) => u64::from_le_bytes(b),
            Err(_) => u64::MAX,
        };
        if !(after_head..len - IEND_LEN).contains(&indx_at) {
            return Err(NecoError::corrupt(format!(
                "IEND points at offset {indx_at} for the index, outside {after_head}..{}",
                len - IEND_LEN
            )));
        }
        let (indx, indx_end) = r.chunk_at(indx_at, INDX, len)?;
        if indx_end != len - IEND_LEN {
            return Err(NecoError::corrupt(format!(
                "{} bytes between the index and IEND",
                len - IEND_LEN - indx_end
            )));
        }
        let substreams = r.header.substreams;
        parse_index(&indx, after_head, indx_at, gop, substreams, &limits)
    }

    /// Lists the groups a scan from `from` finds, when the index could not be used
    /// (`reason`). Every `GRUP` chunk whose CRC holds is a candidate (one pass over the
    /// bytes); its frames are read up to the next candidate, so each byte is checked
    /// once however the chunks lie. Candidates are taken in frame order — of two
    /// copies of the same frames, the one with more intact frames — and the frames
    /// between them listed as missing groups of up to `gop` frames. A gap must have
    /// room in the bytes for its frames (as the index must) or be at most
    /// [`GAP_FACTOR`] times the frames found so far with this group's, so a few bytes
    /// cannot claim a million lost frames while a cut-out stretch of a real stream
    /// can still be skipped.
    fn scan(&mut self, from: u64, gop: u16, reason: String) -> Result<()> {
        struct Candidate {
            entry: GroupEntry,
            number: u32,
            end: u64,
            intact_frames: u16,
        }
        let min_frame = min_group_len(1, self.header.substreams) - min_group_len(0, 0);
        let heads = self.valid_grups(from, gop)?;
        let mut candidates = Vec::with_capacity(heads.len());
        for (k, h) in heads.iter().enumerate() {
            let bound = heads.get(k + 1).map_or(self.len, |n| n.offset);
            let (mut end, mut intact_frames) = (h.after, 0);
            while intact_frames < h.frames {
                match self.chunk_at(end, FRME, bound) {
                    Ok((_, next)) => {
                        end = next;
                        intact_frames += 1;
                    }
                    Err(_) => break,
                }
            }
            candidates.push(Candidate {
                entry: GroupEntry {
                    offset: h.offset,
                    first_frame: h.first_frame,
                    frames: h.frames,
                },
                number: h.number,
                // A damaged group's chunks may reach to the next candidate.
                end: if intact_frames == h.frames {
                    end
                } else {
                    bound
                },
                intact_frames,
            });
        }
        candidates.sort_by_key(|c| {
            (
                c.entry.first_frame,
                std::cmp::Reverse(c.intact_frames),
                c.entry.offset,
            )
        });
        let (mut groups, mut spans) = (Vec::new(), Vec::new());
        let (mut frame, mut missing, mut found_frames, mut ignored) = (0u64, 0u64, 0u64, 0usize);
        let mut free_from = from;
        for c in &candidates {
            let first = u64::from(c.entry.first_frame);
            let count = u64::from(c.entry.frames);
            // A copy of frames already listed, or overlapping them.
            let Some(gap) = first.checked_sub(frame) else {
                ignored += 1;
                continue;
            };
            let room = c.entry.offset.saturating_sub(free_from) / min_frame;
            if (gap > room && gap > GAP_FACTOR * (found_frames + count))
                || first + count > self.limits.max_frames
            {
                ignored += 1;
                continue;
            }
            while frame < first {
                let n = (first - frame).min(u64::from(gop));
                groups.push(GroupEntry {
                    offset: 0,
                    first_frame: frame as u32,
                    frames: n as u16,
                });
                spans.push(Span {
                    number: 0,
                    end: None,
                });
                missing += n;
                frame += n;
            }
            groups.push(c.entry);
            spans.push(Span {
                number: c.number,
                end: Some(c.end),
            });
            frame += count;
            found_frames += count;
            free_from = free_from.max(c.end);
        }
        if found_frames == 0 {
            return Err(NecoError::corrupt(match candidates.len() {
                0 => format!("{reason}; a scan for its groups found none intact"),
                n => format!(
                    "{reason}; a scan for its groups found {n} intact GRUP chunk{} whose \
                     frame numbers cannot be believed",
                    if n == 1 { "" } else { "s" }
                ),
            }));
        }
        self.recovery = Some(Recovery {
            reason,
            found_groups: candidates.len() - ignored,
            ignored_groups: ignored,
            missing_frames: missing,
            known_frames: frame,
        });
        self.groups = groups;
        self.spans = spans;
        Ok(())
    }

    /// Every `GRUP` chunk from `from` on whose CRC holds and whose frame count is
    /// 1..=`gop`, found in one pass over the bytes, read in blocks. More than the
    /// frame limit allows is an error.
    fn valid_grups(&mut self, from: u64, gop: u16) -> Result<Vec<GrupHead>> {
        const BLOCK: usize = 1 << 16;
        // A whole GRUP chunk: type, length, 10 bytes of payload, CRC.
        const LEN: usize = CHUNK_OVERHEAD as usize + 10;
        let mut out = Vec::new();
        let mut buf = vec![0u8; BLOCK + LEN];
        let mut at = from;
        while at + LEN as u64 <= self.len {
            let n = (BLOCK as u64 + LEN as u64).min(self.len - at) as usize;
            read_at(&mut self.src, at, &mut buf[..n])?;
            // Chunks that start in this block's first BLOCK bytes (the next block starts
            // there and holds the later ones whole).
            let starts = (n + 1 - LEN).min(BLOCK);
            for i in 0..starts {
                let c = &buf[i..i + LEN];
                if c[..4] != GRUP || c[4..8] != 10u32.to_le_bytes() {
                    continue;
                }
                let stored = u32::from_le_bytes([c[18], c[19], c[20], c[21]]);
                if chunk_crc(&GRUP, &c[8..18]) != stored {
                    continue;
                }
                let frames = u16::from_le_bytes([c[16], c[17]]);
                if !(1..=gop).contains(&frames) {
                    continue;
                }
                if out.len() as u64 >= self.limits.max_frames {
                    return Err(NecoError::LimitExceeded(format!(
                        "a scan of the stream found more than {} groups, the frame limit",
                        self.limits.max_frames
                    )));
                }
                let offset = at + i as u64;
                out.push(GrupHead {
                    offset,
                    number: u32::from_le_bytes([c[8], c[9], c[10], c[11]]),
                    first_frame: u32::from_le_bytes([c[12], c[13], c[14], c[15]]),
                    frames,
                    after: offset + LEN as u64,
                });
            }
            if starts < BLOCK {
                break;
            }
            at += BLOCK as u64;
        }
        Ok(out)
    }

    /// What a scan found, when the stream's index could not be used (`None` when it
    /// could).
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The stream header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The group index, in frame order.
    pub fn groups(&self) -> &[GroupEntry] {
        &self.groups
    }

    /// Total frames.
    pub fn frames(&self) -> u64 {
        self.groups.iter().map(|g| u64::from(g.frames)).sum()
    }

    /// Whether group `i` is one a scan did not find (its frames are lost).
    pub fn is_missing(&self, i: usize) -> bool {
        self.spans.get(i).is_some_and(|s| s.end.is_none())
    }

    /// Reads group `i`'s frames. A damaged group is an error for this group only.
    pub fn read_group(&mut self, i: usize) -> Result<Vec<FrameBits>> {
        match self.read_group_prefix(i)? {
            (frames, None) => Ok(frames),
            (_, Some(e)) => Err(e),
        }
    }

    /// Reads group `i`'s frames as far as they are intact: the frames before the first
    /// damaged one (they depend on no later frame), with the error that stopped the
    /// read (`None` when the whole group is intact). An error when the group itself
    /// is unusable: its `GRUP` chunk damaged or missing, or its first frame not intra.
    pub fn read_group_prefix(&mut self, i: usize) -> Result<(Vec<FrameBits>, Option<NecoError>)> {
        let g = *self.groups.get(i).ok_or_else(|| {
            NecoError::InvalidArgument(format!("group {i} of {}", self.groups.len()))
        })?;
        // The group's chunks must end where the next group (or the index) starts.
        let span = self.spans[i];
        let Some(end) = span.end else {
            return Err(NecoError::corrupt(
                "missing: the stream's index is damaged and a scan found no GRUP chunk \
                 it could use for these frames",
            ));
        };
        let (grup, mut at) = self.chunk_at(g.offset, GRUP, end)?;
        let mut f = ByteReader::new(&grup, "GRUP", NecoError::Corrupt);
        let (number, first, count) = (f.u32()?, f.u32()?, f.u16()?);
        f.finish()?;
        if (number, first, count) != (span.number, g.first_frame, g.frames) {
            return Err(NecoError::corrupt(format!(
                "group {i}: its GRUP chunk says group {number}, frames {first}+{count}; the index says frames {}+{}",
                g.first_frame, g.frames
            )));
        }
        let mut frames = Vec::with_capacity(usize::from(count));
        let mut damage = None;
        for k in 0..count {
            let frame = self.chunk_at(at, FRME, end).and_then(|(payload, next)| {
                at = next;
                parse_frame(&payload, self.header.substreams)
            });
            match frame {
                Ok(f) => frames.push(f),
                Err(e) => {
                    let n = u64::from(first) + u64::from(k);
                    let detail = match e {
                        NecoError::Corrupt(m) => m,
                        other => other.to_string(),
                    };
                    damage = Some(NecoError::corrupt(format!("frame {n}: {detail}")));
                    break;
                }
            }
        }
        if frames.first().is_some_and(|f| f.mode != FrameMode::Intra) {
            return Err(NecoError::corrupt(format!(
                "group {i} starts with a temporal frame (it has no previous frame)"
            )));
        }
        if damage.is_none() && at != end {
            damage = Some(NecoError::corrupt(format!(
                "group {i}: {} unexpected bytes after its frames",
                end - at
            )));
        }
        Ok((frames, damage))
    }

    /// Where an index of `groups` entries starts: it directly precedes IEND
    /// (validated in `open`).
    fn index_offset_of(&self, groups: usize) -> u64 {
        let entries = groups as u64 * ENTRY_LEN as u64;
        self.len - IEND_LEN - CHUNK_OVERHEAD - 4 - entries
    }

    /// Reads the chunk at `at`, which must be of type `want` and end by `end`;
    /// returns its payload and the offset after it.
    fn chunk_at(&mut self, at: u64, want: [u8; 4], end: u64) -> Result<(Vec<u8>, u64)> {
        let name = String::from_utf8_lossy(&want).into_owned();
        if at.checked_add(CHUNK_OVERHEAD).is_none_or(|e| e > end) {
            return Err(NecoError::corrupt(format!(
                "{name} chunk at offset {at} does not fit before offset {end}"
            )));
        }
        let mut head = [0u8; 8];
        read_at(&mut self.src, at, &mut head)?;
        if head[..4] != want {
            return Err(NecoError::corrupt(format!(
                "expected {} {name} chunk at offset {at}, found \"{}\"",
                if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
                    "an"
                } else {
                    "a"
                },
                head[..4].escape_ascii()
            )));
        }
        let len = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let after = at + CHUNK_OVERHEAD + len;
        if after > end {
            return Err(NecoError::corrupt(format!(
                "{name} chunk at offset {at} claims {len} bytes, only {} fit before offset {end}",
                end - at - CHUNK_OVERHEAD
            )));
        }
        if len > self.limits.max_chunk_bytes {
            return Err(NecoError::LimitExceeded(format!(
                "{name} chunk at offset {at} is {len} bytes, over the limit of {}",
                self.limits.max_chunk_bytes
            )));
        }
        let mut buf = vec![0u8; len as usize + 4];
        read_at(&mut self.src, at + 8, &mut buf)?;
        let crc_bytes = buf.split_off(len as usize);
        let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        let actual = chunk_crc(&want, &buf);
        if stored != actual {
            return Err(NecoError::corrupt(format!(
                "{name} chunk at offset {at}: CRC is {stored:#010x}, computed {actual:#010x}"
            )));
        }
        Ok((buf, after))
    }
}

/// Whether `src` starts like a video stream (magic, version, a `HEAD` chunk of kind 1).
/// Anything else — an image stream, a damaged or foreign file — is `false`, for the
/// image parser to report.
pub fn is_video<R: Read + Seek>(src: &mut R) -> bool {
    let mut b = [0u8; PREAMBLE as usize + 9];
    read_at(src, 0, &mut b).is_ok() && b[..8] == MAGIC && b[10..14] == tag::HEAD && b[18] == 1
}

fn read_at<R: Read + Seek>(src: &mut R, at: u64, buf: &mut [u8]) -> Result<()> {
    src.seek(SeekFrom::Start(at))?;
    src.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            NecoError::corrupt(format!("stream ends inside the data at offset {at}"))
        }
        _ => NecoError::Io(e),
    })
}

/// The fewest bytes a group of `frames` frames of `substreams` ŷ substreams takes:
/// its `GRUP` chunk and a `FRME` chunk per frame, every payload empty.
fn min_group_len(frames: u16, substreams: u16) -> u64 {
    let frame = CHUNK_OVERHEAD + 1 + 4 + 4 * u64::from(substreams);
    CHUNK_OVERHEAD + 4 + 4 + 2 + u64::from(frames) * frame
}

/// Parses the `INDX` payload. Each group must have room for its frames before the
/// next group (or the index) starts, so that a small stream cannot claim many frames
/// (which a decoder would otherwise conceal one by one as lost).
fn parse_index(
    b: &[u8],
    first_offset: u64,
    index_offset: u64,
    gop: u16,
    substreams: u16,
    limits: &Limits,
) -> Result<Vec<GroupEntry>> {
    let mut r = ByteReader::new(b, "INDX", NecoError::Corrupt);
    let n = r.u32()? as usize;
    if n.checked_mul(ENTRY_LEN) != Some(r.remaining()) {
        return Err(r.err(format_args!(
            "{n} groups claimed, {} bytes of entries present",
            r.remaining()
        )));
    }
    if n == 0 {
        return Err(r.err("no groups"));
    }
    let mut groups = Vec::with_capacity(n);
    let (mut next_frame, mut min_offset) = (0u64, first_offset);
    for i in 0..n {
        let e = GroupEntry {
            offset: u64::from_le_bytes(r.array()?),
            first_frame: r.u32()?,
            frames: r.u16()?,
        };
        if e.offset < min_offset || e.offset >= index_offset {
            return Err(r.err(format_args!(
                "group {i} at offset {}, outside {min_offset}..{index_offset}",
                e.offset
            )));
        }
        if u64::from(e.first_frame) != next_frame || !(1..=gop).contains(&e.frames) {
            return Err(r.err(format_args!(
                "group {i} holds frames {}+{}, expected to start at {next_frame} with 1..={gop} frames",
                e.first_frame, e.frames
            )));
        }
        // Both offsets are below the stream's length: no overflow.
        let end = e.offset + min_group_len(e.frames, substreams);
        if end > index_offset {
            return Err(r.err(format_args!(
                "group {i} of {} frames at offset {} cannot end before the index at {index_offset}",
                e.frames, e.offset
            )));
        }
        next_frame += u64::from(e.frames);
        if next_frame > limits.max_frames {
            return Err(NecoError::LimitExceeded(format!(
                "the index lists more than {} frames, the limit",
                limits.max_frames
            )));
        }
        min_offset = end;
        groups.push(e);
    }
    Ok(groups)
}

fn parse_frame(b: &[u8], substreams: u16) -> Result<FrameBits> {
    let mut r = ByteReader::new(b, "FRME", NecoError::Corrupt);
    let mode = match r.u8()? {
        0 => FrameMode::Intra,
        1 => FrameMode::Temporal,
        m => {
            return Err(NecoError::Unsupported(format!(
                "frame mode {m}, this build reads 0 (intra) and 1 (temporal)"
            )))
        }
    };
    let next = |r: &mut ByteReader| -> Result<Vec<u8>> {
        let len = r.u32()? as usize;
        Ok(r.take(len)?.to_vec())
    };
    let z_bits = next(&mut r)?;
    let y_bits = (0..substreams)
        .map(|_| next(&mut r))
        .collect::<Result<Vec<_>>>()?;
    r.finish()?;
    Ok(FrameBits {
        mode,
        z_bits,
        y_bits,
    })
}

/// Stands in until `HEAD` is parsed (never returned to a caller).
fn placeholder_header() -> Header {
    Header {
        kind: Kind::Video,
        width: 1,
        height: 1,
        pixel_format: super::PixelFormat::Rgb8,
        bit_depth: 8,
        quality: 0,
        model_id: String::new(),
        weights_sha256: [0; 32],
        y_channels: 1,
        z_channels: 1,
        substreams: 1,
        video: None,
    }
}
