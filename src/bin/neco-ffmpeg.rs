//! `neco-ffmpeg`: neco with FFmpeg loaded. `neco` starts it in its own place for the
//! commands that read or write video files or measure the HEVC anchor, so that its
//! image commands do not load FFmpeg's ~130 shared libraries (see
//! `neco::ffmpeg_helper`). Run directly, it is the whole `neco` command line.

// As in `neco` (src/main.rs): mimalloc keeps the large buffers Burn frees.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    if let Err(e) = neco::ffmpeg_helper::check_started_by_matching_neco() {
        eprintln!("neco: error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    neco::ffmpeg_helper::install();
    neco::cli::main()
}
