// Burn's CPU backend allocates and frees large buffers per layer; the system allocator
// returns them to the kernel each time (page faults, TLB shootdowns), mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    neco::cli::main()
}
