//! Build script: the hash of the built-in weights, computed once here rather than by
//! every `neco` run (hashing 8.5 MB was a twentieth of a one-image encode); and a hash
//! of the sources, by which `neco` and its FFmpeg helper check they were built
//! together (src/ffmpeg_helper.rs).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The source trees whose contents make the source id.
const SOURCES: [&str; 2] = ["src", "crates/neco-core/src"];

/// Every file under `dir`, in a stable order.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The default weights, compiled into the binary (src/model/weights.rs).
const DEFAULT_WEIGHTS: &str = "weights/hp-n64w128m192-vr-b5.nwt";

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

    // The source id: the sources' paths and bytes, the locked dependencies, the
    // enabled features and the built-in weights.
    let mut hasher = Sha256::new();
    hasher.update(digest);
    println!("cargo:rerun-if-changed=Cargo.lock");
    hasher.update(std::fs::read(manifest.join("Cargo.lock")).unwrap_or_default());
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_string))
        .collect();
    features.sort();
    hasher.update(features.join(",").as_bytes());
    for dir in SOURCES {
        println!("cargo:rerun-if-changed={dir}");
        let mut files = Vec::new();
        files_under(&manifest.join(dir), &mut files);
        for f in files {
            let rel = f.strip_prefix(&manifest).unwrap_or(&f);
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            let bytes = std::fs::read(&f).unwrap_or_default();
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
    }
    let id: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=NECO_SOURCE_ID={id}");
}
