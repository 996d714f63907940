//! Command-line interface: argument parsing and output only, one file per command.

pub mod bd;
pub mod common;
pub mod decode;
pub mod encode;
pub mod export;
pub mod info;
pub mod rd;
pub mod train;
pub mod video;

use clap::{Parser, Subcommand};

/// neco: a learned image and video codec with bit-exact decoding on every machine.
#[derive(Debug, Parser)]
#[command(name = "neco", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encode an image, a video or an image sequence to a .neco file.
    Encode(encode::EncodeCmd),
    /// Decode a .neco file to an image (or a video stream to a video or image sequence).
    Decode(decode::DecodeCmd),
    /// Show what a .neco file holds.
    Info(info::InfoCmd),
    /// Measure rate–distortion of neco and its anchors (JPEG, HEVC, AVIF, JPEG XL,
    /// WebP; AV1 on video) on a data set.
    Rd(Box<rd::RdCmd>),
    /// Train (or resume training) a model.
    Train(train::TrainCmd),
    /// Train (or resume training) the temporal prior of video frames for a weights file.
    TrainTemporal(train::TrainTemporalCmd),
    /// Train (or resume training) the entropy model of a weights file with its
    /// transforms frozen, optionally as the multivariate Gaussian model.
    TrainEntropy(train::TrainEntropyCmd),
    /// Export a training checkpoint as a weights file.
    Export(export::ExportCmd),
    /// BD-rate between rate–quality curves in CSV files (e.g. two training runs'
    /// valid_coded.csv).
    Bd(bd::BdCmd),
}

impl Cli {
    /// Run the chosen command.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Encode(cmd) => cmd.run(),
            Command::Decode(cmd) => cmd.run(),
            Command::Info(cmd) => cmd.run(),
            Command::Rd(cmd) => cmd.run(),
            Command::Train(cmd) => cmd.run(),
            Command::TrainTemporal(cmd) => cmd.run(),
            Command::TrainEntropy(cmd) => cmd.run(),
            Command::Export(cmd) => cmd.run(),
            Command::Bd(cmd) => cmd.run(),
        }
    }
}

/// SIGHUP's disposition. ctrlc's handler also catches SIGHUP, which would undo
/// `nohup`: a training run started with `nohup neco train … &` would stop when its
/// terminal closed. A process that starts with SIGHUP ignored keeps it ignored.
#[cfg(unix)]
mod hangup {
    /// Whether SIGHUP is ignored now (as `nohup` leaves it for the program it runs).
    pub fn ignored() -> bool {
        // SAFETY: a zeroed sigaction is a valid out-parameter; a null `act` only
        // queries the current disposition.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
        }
    }

    /// Ignore SIGHUP again (after ctrlc installed its handler for it).
    pub fn ignore() {
        // SAFETY: SIG_IGN is a valid disposition for SIGHUP.
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
    }
}

#[cfg(not(unix))]
mod hangup {
    pub fn ignored() -> bool {
        false
    }
    pub fn ignore() {}
}

/// Exit status after Ctrl-C / SIGTERM, as shells report SIGINT (128 + 2).
const INTERRUPTED: i32 = 130;

/// The `neco` command line, run: the `main` of both binaries (`neco`, and
/// `neco-ffmpeg`, which [installs](crate::ffmpeg_helper::install) FFmpeg first).
pub fn main() -> std::process::ExitCode {
    crate::alloc::keep_freed_memory();
    // On Ctrl-C (or SIGTERM), remove the temp files of outputs being written and stop:
    // an interrupted run leaves neither a partial output nor a stray temp file. A
    // training loop instead saves its checkpoint first (the first signal only).
    let hangup_ignored = hangup::ignored();
    let _ = ctrlc::set_handler(|| {
        if crate::train::stop::request() {
            eprintln!("neco: stopping after this step and saving the checkpoint (interrupt again to stop at once)");
            return;
        }
        eprintln!("neco: interrupted");
        neco_core::container::remove_in_flight_temp_files_and_exit(INTERRUPTED);
    });
    if hangup_ignored {
        hangup::ignore();
    }
    let cli = Cli::parse();
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("neco: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
