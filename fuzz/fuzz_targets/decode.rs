//! Full decode with the default weights on the flex CPU backend: parse, check the
//! weights, decode the latents, run the synthesis transform. Must return `Ok` or
//! `Err`, never panic; a decoded image has the size its header claims.
#![no_main]

use burn::prelude::Device;
use libfuzzer_sys::fuzz_target;
use neco::codec::{Codec, Timings};
use neco::model::weights::WeightsFile;
use neco_core::container::ImageStream;
use neco_fuzz::{limits, prepare, DEFAULT_WEIGHTS};

thread_local! {
    static CODEC: Codec = Codec::new(
        &WeightsFile::parse(DEFAULT_WEIGHTS).expect("the default weights parse"),
        Device::flex(),
    )
    .expect("the default weights load");
}

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = prepare(data) else { return };
    let Ok(stream) = ImageStream::from_bytes(&bytes, &limits()) else {
        return;
    };
    CODEC.with(|codec| {
        if let Ok(img) = codec.decode(&stream, &mut Timings::default()) {
            let (w, h) = (img.width as usize, img.height as usize);
            assert_eq!((img.width, img.height), (stream.header.width, stream.header.height));
            assert_eq!(img.rgb.len(), w * h * 3);
            if let Some(a) = &img.alpha {
                assert_eq!(a.len(), w * h);
            }
        }
    });
});
