use clap::Parser;

// Burn's CPU backend allocates and frees large buffers per layer; the system allocator
// returns them to the kernel each time (page faults, TLB shootdowns), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = neco::cli::Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("neco: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
