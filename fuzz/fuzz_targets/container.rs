//! The container parsers on arbitrary bytes: they must return `Ok` or `Err`, never
//! panic, hang or over-allocate. Every image stream the parser accepts must serialize
//! back to exactly the same bytes (the format has one serialization per stream); a
//! video stream's index and every group are read.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use neco_core::container::video::VideoStreamReader;
use neco_core::container::ImageStream;
use neco_fuzz::{limits, prepare};

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = prepare(data) else { return };
    if let Ok(stream) = ImageStream::from_bytes(&bytes, &limits()) {
        let again = stream.to_bytes().expect("an accepted stream serializes");
        assert!(
            again == bytes,
            "accepted stream does not re-serialize identically"
        );
    }
    if let Ok(mut video) = VideoStreamReader::open(Cursor::new(&bytes[..]), &limits()) {
        for i in 0..video.groups().len() {
            let _ = video.read_group(i);
        }
    }
});
