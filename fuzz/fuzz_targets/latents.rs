//! neco-core's latent decoder on arbitrary payloads and image sizes (see
//! [`neco_fuzz::check_latents`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| neco_fuzz::check_latents(data));
