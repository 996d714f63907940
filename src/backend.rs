//! Choosing the Burn device that runs g_a and g_s (and training).

use burn::prelude::Device;
use clap::ValueEnum;

/// Which backend runs the neural transforms. The entropy-parameter path always runs
/// on the CPU in deterministic arithmetic, whatever is chosen here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendChoice {
    /// A GPU backend when one is compiled in, else the CPU.
    #[default]
    Auto,
    /// Burn's pure-Rust `flex` CPU backend.
    Cpu,
    /// Burn's wgpu backend (build with `--features wgpu`).
    Wgpu,
    /// Burn's CUDA backend (build with `--features cuda`).
    Cuda,
}

impl BackendChoice {
    /// The device for this choice, or an error naming the cargo feature that is missing.
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            BackendChoice::Cpu => Ok(Device::flex()),
            BackendChoice::Wgpu => wgpu_device(),
            BackendChoice::Cuda => cuda_device(),
            BackendChoice::Auto => {
                if cfg!(feature = "cuda") {
                    cuda_device()
                } else if cfg!(feature = "wgpu") {
                    wgpu_device()
                } else {
                    Ok(Device::flex())
                }
            }
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> anyhow::Result<Device> {
    Ok(Device::wgpu(Default::default()))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> anyhow::Result<Device> {
    anyhow::bail!("this neco was built without the wgpu backend (rebuild with `--features wgpu`)")
}

#[cfg(feature = "cuda")]
fn cuda_device() -> anyhow::Result<Device> {
    Ok(Device::cuda(0))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> anyhow::Result<Device> {
    anyhow::bail!("this neco was built without the CUDA backend (rebuild with `--features cuda`)")
}
