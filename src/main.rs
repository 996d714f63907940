use clap::Parser;

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
