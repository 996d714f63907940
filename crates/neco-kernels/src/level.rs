//! The instruction-set level every kernel runs at, detected once per process.
//!
//! `NECO_CPU_LEVEL` (`scalar`, `avx2`, `avx512`, `avx512-bf16`) lowers it, to test
//! and measure the paths other machines take; a level above what the CPU has is
//! refused with a warning (running it would be undefined behaviour), as is a name
//! that is not a level.

use std::fmt;
use std::sync::OnceLock;

/// The environment variable that lowers the detected level.
pub const ENV: &str = "NECO_CPU_LEVEL";

/// What a kernel may use, in increasing order: each level includes the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Portable Rust (whatever the compiler's baseline target gives).
    Scalar,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 F (with AVX2 and FMA).
    Avx512,
    /// AVX-512 with the BF16 dot products (`vdpbf16ps`).
    Avx512Bf16,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 4] = [Level::Scalar, Level::Avx2, Level::Avx512, Level::Avx512Bf16];

    /// The name `NECO_CPU_LEVEL` takes.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Avx512Bf16 => "avx512-bf16",
        }
    }

    /// The level called `name`, if any.
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == name)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The highest level this CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx2") && has!("fma") {
            return if has!("avx512bf16") {
                Level::Avx512Bf16
            } else {
                Level::Avx512
            };
        }
        if has!("avx2") && has!("fma") {
            return Level::Avx2;
        }
    }
    Level::Scalar
}

/// The level `requested` (the value of `NECO_CPU_LEVEL`, if set) gives on a CPU whose
/// highest level is `cpu`, and a warning when the request is not followed.
pub fn resolve(requested: Option<&str>, cpu: Level) -> (Level, Option<String>) {
    let Some(name) = requested else {
        return (cpu, None);
    };
    match Level::from_name(name.trim()) {
        Some(l) if l <= cpu => (l, None),
        Some(l) => (
            cpu,
            Some(format!(
                "{ENV}={l} is above what this CPU supports; running at {cpu}"
            )),
        ),
        None => {
            let names: Vec<&str> = Level::ALL.iter().map(|l| l.name()).collect();
            (
                cpu,
                Some(format!(
                    "{ENV}={name:?} is not a level (one of {}); running at {cpu}",
                    names.join(", ")
                )),
            )
        }
    }
}

/// The level of this process: detected on first use, lowered by `NECO_CPU_LEVEL`.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let requested = std::env::var(ENV).ok();
        let (level, warning) = resolve(requested.as_deref(), detected());
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        level
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lowers_the_level_and_never_raises_it() {
        assert_eq!(resolve(None, Level::Avx512), (Level::Avx512, None));
        assert_eq!(resolve(Some("avx2"), Level::Avx512).0, Level::Avx2);
        assert_eq!(resolve(Some("scalar"), Level::Avx2), (Level::Scalar, None));
        let (l, w) = resolve(Some("avx512-bf16"), Level::Avx2);
        assert_eq!(l, Level::Avx2);
        assert!(w.unwrap().contains("above what this CPU supports"));
        let (l, w) = resolve(Some("sse9"), Level::Avx512);
        assert_eq!(l, Level::Avx512);
        assert!(w.unwrap().contains("not a level"));
    }

    #[test]
    fn names_round_trip_in_order() {
        for pair in Level::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for l in Level::ALL {
            assert_eq!(Level::from_name(l.name()), Some(l));
        }
    }

    #[test]
    fn the_level_is_at_most_the_cpus() {
        assert!(level() <= detected());
    }
}
