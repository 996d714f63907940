use clap::Parser;

// Burn's CPU backend allocates and frees large buffers per layer; the system allocator
// returns them to the kernel each time (page faults, TLB shootdowns), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status after Ctrl-C / SIGTERM, as shells report SIGINT (128 + 2).
const INTERRUPTED: i32 = 130;

fn main() -> std::process::ExitCode {
    neco::alloc::keep_freed_memory();
    // On Ctrl-C (or SIGTERM), remove the temp files of outputs being written and stop:
    // an interrupted run leaves neither a partial output nor a stray temp file. A
    // training loop instead saves its checkpoint first (the first signal only).
    let _ = ctrlc::set_handler(|| {
        if neco::train::stop::request() {
            eprintln!("neco: stopping after this step and saving the checkpoint (interrupt again to stop at once)");
            return;
        }
        eprintln!("neco: interrupted");
        neco_core::container::remove_in_flight_temp_files_and_exit(INTERRUPTED);
    });
    let cli = neco::cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("neco: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
