//! Frames in and out, whatever holds them: a video file (FFmpeg) or a numbered image
//! sequence. The video pipeline reads a [`FrameSource`] and writes a [`FrameSink`]
//! one frame at a time, so memory does not grow with the clip.

use anyhow::ensure;

/// A frame rate, `num / den` frames per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fps {
    /// Numerator.
    pub num: u32,
    /// Denominator (≥ 1).
    pub den: u32,
}

impl Fps {
    /// `num / den` frames per second; both must be in 1..=2^31−1 (FFmpeg's range).
    pub fn new(num: u32, den: u32) -> anyhow::Result<Self> {
        let ok = 1..=i32::MAX as u32;
        ensure!(
            ok.contains(&num) && ok.contains(&den),
            "frame rate {num}/{den}: both terms must be in 1..={}",
            i32::MAX
        );
        Ok(Fps { num, den })
    }

    /// Frames per second as a float.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }
}

impl std::fmt::Display for Fps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// A source of RGB frames of one size.
pub trait FrameSource {
    /// Width and height of every frame.
    fn size(&self) -> (u32, u32);
    /// Frame rate.
    fn fps(&self) -> Fps;
    /// The next frame (interleaved RGB, `width × height × 3` bytes), `None` at the end.
    fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>>;
    /// Notes for the user gathered since the last call (a dropped alpha channel,
    /// uneven frame timing), each said once by the source.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// A destination of RGB frames.
pub trait FrameSink {
    /// Appends one frame.
    fn write_frame(&mut self, rgb: &[u8]) -> anyhow::Result<()>;
    /// Completes the output (moves it into place).
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}
