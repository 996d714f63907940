//! Full decode with the default weights on the flex CPU backend: parse, check the
//! weights, decode the latents, run the synthesis transform — for image streams and
//! for video streams (every group). Must return `Ok` or `Err`, never panic; decoded
//! pictures have the size the header claims.
#![no_main]

use std::io::Cursor;

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;
use neco::codec::video::decode_video;
use neco::codec::{Codec, Timings};
use neco::io::frames::FrameSink;
use neco::model::weights::WeightsFile;
use neco_core::container::video::VideoStreamReader;
use neco_core::container::ImageStream;
use neco_fuzz::{limits, prepare, DEFAULT_WEIGHTS};

thread_local! {
    static CODEC: Codec = Codec::new(
        &WeightsFile::parse(DEFAULT_WEIGHTS).expect("the default weights parse"),
        Device::flex(),
    )
    .expect("the default weights load");
}

/// Checks the size of every frame it is given.
struct SizeCheck(usize);

impl FrameSink for SizeCheck {
    fn write_frame(&mut self, rgb: &[u8]) -> anyhow::Result<()> {
        assert_eq!(rgb.len(), self.0, "decoded frame has the wrong size");
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = prepare(data) else { return };
    CODEC.with(|codec| {
        if let Ok(stream) = ImageStream::from_bytes(&bytes, &limits()) {
            if let Ok(img) = codec.decode(&stream, &mut Timings::default()) {
                let (w, h) = (img.width as usize, img.height as usize);
                assert_eq!(
                    (img.width, img.height),
                    (stream.header.width, stream.header.height)
                );
                assert_eq!(img.rgb.len(), w * h * 3);
                if let Some(a) = &img.alpha {
                    assert_eq!(a.len(), w * h);
                }
            }
        }
        if let Ok(mut video) = VideoStreamReader::open(Cursor::new(&bytes[..]), &limits()) {
            let h = video.header().clone();
            let n = video.frames();
            let mut sink = SizeCheck(h.width as usize * h.height as usize * 3);
            let _ = decode_video(
                codec,
                &mut video,
                0..n,
                &mut sink,
                &mut Timings::default(),
                |_| {},
            );
        }
    });
});
