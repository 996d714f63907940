//! The fuzz targets' checks (fuzz/src/lib.rs) on stable Rust, in every `cargo test`:
//! each committed seed, then a fixed number of mutations of it (bit flips, interesting
//! bytes, cuts, repeats, insertions; a fixed seed, so a failure reproduces). This is
//! no substitute for `cargo fuzz` (docs/robustness.md), but it keeps the targets built
//! and catches a parser regression on the inputs the seeds reach.

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Mutated inputs tried per seed.
const MUTATIONS: usize = 400;

/// splitmix64: a small generator with a fixed seed, for mutations that reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `input` (its first byte, the harness's mode, included).
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            v.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(v.len());
        match rng.below(7) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v[at] = rng.next() as u8,
            2 => v[at] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe][rng.below(6)],
            3 => v.truncate(at),
            4 => {
                // A 4-byte field set to an extreme (lengths, counts, sizes).
                let extreme = [0u32, u32::MAX, 0x7fff_ffff, 0x8000_0000, 1 << 20][rng.below(5)];
                for (i, b) in extreme.to_le_bytes().into_iter().enumerate() {
                    if let Some(x) = v.get_mut(at + i) {
                        *x = b;
                    }
                }
            }
            5 => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                let piece = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, piece);
            }
            _ => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
        }
    }
    v
}

/// Runs `check` on every seed of `fuzz/seeds/<dir>` and on [`MUTATIONS`] mutations of
/// each; a panic fails the test and names the input.
fn smoke(dir: &str, check: fn(&[u8])) {
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(dir);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no seeds in {}", seeds.display());
    let mut rng = Rng(0x6e65_636f);
    let mut runs = 0;
    for path in names {
        let seed = std::fs::read(&path).unwrap();
        for i in 0..=MUTATIONS {
            let input = if i == 0 {
                seed.clone()
            } else {
                mutate(&seed, &mut rng)
            };
            if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
                let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
                panic!(
                    "{} mutation {i} panicked (above); the input, hex: {hex}",
                    path.display()
                );
            }
            runs += 1;
        }
    }
    eprintln!("{dir}: {runs} inputs checked");
}

#[test]
fn container_target_on_seeds_and_mutations() {
    smoke("stream", harness::check_container);
}

#[test]
fn latents_target_on_seeds_and_mutations() {
    smoke("latents", harness::check_latents);
}
