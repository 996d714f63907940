//! Choosing the Burn device that runs g_a and g_s (and training).

use burn::prelude::Device;
use clap::ValueEnum;

use crate::codec::Codec;
use crate::model::weights::WeightsFile;

/// Which backend runs the neural transforms. The entropy-parameter path always runs
/// on the CPU in deterministic arithmetic, whatever is chosen here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendChoice {
    /// A GPU backend when one is compiled in, else the CPU.
    #[default]
    Auto,
    /// The CPU: neco's own kernels for g_a, h_a and g_s, Burn's pure-Rust `flex`
    /// backend for anything else.
    Cpu,
    /// Burn's `flex` CPU backend for every transform (slower than `cpu`; kept to
    /// compare against).
    Flex,
    /// Burn's wgpu backend (build with `--features wgpu`).
    Wgpu,
    /// Burn's CUDA backend (build with `--features cuda`).
    Cuda,
}

impl BackendChoice {
    /// The device for this choice, or an error naming the cargo feature that is missing.
    pub fn device(self) -> anyhow::Result<Device> {
        match self {
            BackendChoice::Cpu | BackendChoice::Flex => Ok(Device::flex()),
            BackendChoice::Wgpu => wgpu_device(),
            BackendChoice::Cuda => cuda_device(),
            BackendChoice::Auto => {
                // Prefer a compiled-in GPU backend that actually works on this machine.
                let candidates: [fn() -> anyhow::Result<Device>; 2] = [cuda_device, wgpu_device];
                for candidate in candidates {
                    if let Ok(device) = candidate() {
                        if usable(&device) {
                            return Ok(device);
                        }
                    }
                }
                Ok(Device::flex())
            }
        }
    }

    /// The codec for `weights` on this backend.
    pub fn codec(self, weights: &WeightsFile) -> anyhow::Result<Codec> {
        match self {
            BackendChoice::Flex => Codec::burn_only(weights, self.device()?),
            _ => Codec::new(weights, self.device()?),
        }
    }
}

/// Whether a device can run a tiny computation (a GPU backend compiled in but without a
/// GPU or driver present panics on first use; that panic is caught and kept quiet).
fn usable(device: &Device) -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        burn::tensor::Tensor::<1>::ones([1], device).into_data();
    }))
    .is_ok();
    std::panic::set_hook(hook);
    ok
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
