//! Build script: the hash of the built-in weights, computed once here rather than by
//! every `neco` run (hashing 8.5 MB was a twentieth of a one-image encode).

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The default weights, compiled into the binary (src/model/weights.rs).
const DEFAULT_WEIGHTS: &str = "weights/hp-n64m192-vr.nwt";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = manifest.join(DEFAULT_WEIGHTS);
    println!("cargo:rerun-if-changed={DEFAULT_WEIGHTS}");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let code = format!(
        "/// The weights compiled into the binary: the default model ({DEFAULT_WEIGHTS}).\n\
         pub static DEFAULT_WEIGHTS: &[u8] = include_bytes!({path:?});\n\
         /// sha256 of [`DEFAULT_WEIGHTS`], computed by the build script.\n\
         pub const DEFAULT_WEIGHTS_SHA256: [u8; 32] = {digest:?};\n"
    );
    std::fs::write(out.join("default_weights.rs"), code).expect("writing default_weights.rs");
}
