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
    /// Measure rate–distortion of neco and JPEG/HEVC anchors on a data set.
    Rd(rd::RdCmd),
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
