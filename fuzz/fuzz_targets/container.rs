//! The container parser on arbitrary bytes: it must return `Ok` or `Err`, never panic,
//! hang or over-allocate; and every stream it accepts must serialize back to exactly
//! the same bytes (the format has one serialization per stream).
#![no_main]

use libfuzzer_sys::fuzz_target;
use neco_core::container::ImageStream;
use neco_fuzz::{limits, prepare};

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = prepare(data) else { return };
    if let Ok(stream) = ImageStream::from_bytes(&bytes, &limits()) {
        let again = stream.to_bytes().expect("an accepted stream serializes");
        assert!(again == bytes, "accepted stream does not re-serialize identically");
    }
});
