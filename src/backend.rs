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
            BackendChoice::Wgpu => checked(
                wgpu_device()?,
                "wgpu acquired a GPU that cannot run a computation; `--backend cpu` runs \
                 without one",
            ),
            BackendChoice::Cuda => checked(
                cuda_device()?,
                "the CUDA backend found no usable GPU (is the NVIDIA driver installed?); \
                 `--backend cpu` runs without one",
            ),
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

/// `device`, or `message` as an error when it cannot run a tiny computation (rather
/// than the backend's panic on first use).
fn checked(device: Device, message: &str) -> anyhow::Result<Device> {
    anyhow::ensure!(usable(&device), "{message}");
    Ok(device)
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

/// The wgpu device, acquired once per process (a second acquisition is an error in
/// Burn). Pinned to Vulkan except on macOS: wgpu's fallback to OpenGL reaches software
/// renderers (Mesa's llvmpipe), where CubeCL deadlocked on this workplace's machines,
/// and no GPU worth using lacks Vulkan there.
#[cfg(feature = "wgpu")]
fn wgpu_device() -> anyhow::Result<Device> {
    use burn::tensor::wgpu::WgpuBackend;
    static DEVICE: std::sync::OnceLock<Result<Device, String>> = std::sync::OnceLock::new();
    let api = if cfg!(target_os = "macos") {
        WgpuBackend::Auto
    } else {
        WgpuBackend::Vulkan
    };
    DEVICE
        .get_or_init(|| {
            Device::wgpu_options()
                .graphics_api(api)
                .init()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| {
            anyhow::anyhow!(
                "wgpu found no usable GPU ({e}): it needs a GPU driver and, on Linux, the \
                 Vulkan loader (libvulkan1) and the driver's ICD (for NVIDIA, \
                 libGLX_nvidia, which needs libglvnd0); `--backend cpu` runs without one"
            )
        })
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
