//! Finding the weights a stream was made with: the files neco once shipped as its
//! default (by sha256, with where to get them), and a folder of weights files
//! searched by hash.
//!
//! Every stream records the sha256 of its weights and decodes only with that exact
//! file, so streams made before a change of the default weights need the old file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::weights::MAX_WEIGHTS_BYTES;

/// A weights file that was neco's built-in default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// sha256 of the file, lower-case hex.
    pub sha256: &'static str,
    /// Its path in neco's repository.
    pub path: &'static str,
    /// A commit of neco's repository that holds it at `path`.
    pub commit: &'static str,
    /// When it became the default.
    pub since: &'static str,
}

/// The earlier defaults, oldest first (the current one is built into the binary).
/// When the default changes, the outgoing file gets a row here.
pub const RELEASED: &[Released] = &[
    Released {
        sha256: "80830626b240723ad8d8dabfeea8f8a005998beedf1e89aa689f1067ad7a5559",
        path: "weights/hp-n64m96.nwt",
        commit: "6761d8e",
        since: "2026-11-23",
    },
    Released {
        sha256: "27ce3d1a50c85721e8edba278bea46e8b5bd5e1af38d603fad94b60f442b54b2",
        path: "weights/hp-n64m96.nwt",
        commit: "6d61a2c",
        since: "2026-11-23",
    },
    Released {
        sha256: "d8141be881edd66e728a075c9ad6088c5c488809f93bcdc2d39855aab6ddb015",
        path: "weights/hp-n64m96.nwt",
        commit: "ce950c8",
        since: "2026-11-23",
    },
    Released {
        sha256: "f4de9d2f01bff4205393fee9066db47ac307e5eaee08467e63caa554dbb5ea52",
        path: "weights/hp-n64m96.nwt",
        commit: "334a9f2",
        since: "2026-11-23",
    },
    Released {
        sha256: "591ac4738f814352fa2d43aed6c786fa52bdd99f65be0962603075e9628dd92f",
        path: "weights/hp-n64m96.nwt",
        commit: "94081db",
        since: "2026-11-23",
    },
    Released {
        sha256: "dbbb26e831d57a99f82ebf3c89391c890e00b289ee0c3d5d1709963a815df493",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "32a405b",
        since: "2026-11-26",
    },
    Released {
        sha256: "8a5d0133201dfd6a7411707f963b94d1848711a00c13757c2d7631e17b0233ea",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "68a6c64",
        since: "2026-11-26",
    },
    Released {
        sha256: "c44fdc992b64b71969d3daa213a571eb23a40133acb04855575624c071420e00",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "3d92b94",
        since: "2026-11-26",
    },
    Released {
        sha256: "94feb3728d7c44de5190e3eb584fd7a3d4b42c31bcff6aa18245ebab7d43dab1",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "972bb8e",
        since: "2026-11-27",
    },
    Released {
        sha256: "1cd4781b0bf8548f956340871f0a4a85108ef0472ceb4e1acc5772e79b2b9101",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "e036934",
        since: "2026-11-27",
    },
    Released {
        sha256: "ef0a6a770b7c2effc8e83e8af4fa97b77cb280740580a74768243de456b37d9a",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "0ea1062",
        since: "2026-11-27",
    },
    Released {
        sha256: "fbc189dcf0fa43b306a184c642907d1701499d8bc2f60eca9bb81805f527b7b9",
        path: "weights/hp-n64m96-vr.nwt",
        commit: "22fa55d",
        since: "2026-11-27",
    },
    Released {
        sha256: "0a44a956a8c6cc0b737da7845c7e9b33543ba9609b779480010284b0015cbc2b",
        path: "weights/hp-n64m192-vr.nwt",
        commit: "029c3c1",
        since: "2026-11-27",
    },
    Released {
        sha256: "4208d54d52cedd666bb281fb797ba0b2bd534b5e1a5d759cf8c88007fedafd5c",
        path: "weights/hp-n64m192-vr.nwt",
        commit: "8b61fa0",
        since: "2026-12-03",
    },
    Released {
        sha256: "8459674def94561f01b313c8518a7e724e9287a26e8f89296d81607ddfb3661d",
        path: "weights/hp-n64m192-vr.nwt",
        commit: "4482050",
        since: "2026-12-07",
    },
    Released {
        sha256: "89e4b95766a8d5f20170e78e20565015182ed9032aa223fbea1dd10bbce67815",
        path: "weights/hp-n64w128m192-vr.nwt",
        commit: "93ae18a",
        since: "2026-12-07",
    },
];

/// The earlier default with this hash, if any.
pub fn released(sha256: &[u8; 32]) -> Option<&'static Released> {
    let hex = neco_core::hex(sha256);
    RELEASED.iter().find(|r| r.sha256 == hex)
}

impl Released {
    /// How to get the file, for an error message.
    pub fn how_to_get(&self) -> String {
        let name = Path::new(self.path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("weights");
        format!(
            "neco's default weights from {} ({}, sha256 {}…); in neco's repository: \
             `git show {}:{} > {name}-{}.nwt`",
            self.since,
            self.path,
            &self.sha256[..8],
            self.commit,
            self.path,
            &self.sha256[..8],
        )
    }
}

/// Where a stream's weights come from, as far as this binary knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// The weights built into this `neco`.
    BuiltIn,
    /// An earlier default.
    Earlier(&'static Released),
    /// Weights neco never shipped as its default (trained or exported by a user).
    Other,
}

impl Provenance {
    /// What made a stream whose weights have hash `sha256`.
    pub fn of(sha256: &[u8; 32]) -> Provenance {
        if crate::model::weights::DEFAULT_WEIGHTS_SHA256 == *sha256 {
            Provenance::BuiltIn
        } else {
            released(sha256).map_or(Provenance::Other, Provenance::Earlier)
        }
    }

    /// A one-word tag for JSON output.
    pub fn tag(&self) -> &'static str {
        match self {
            Provenance::BuiltIn => "built-in",
            Provenance::Earlier(_) => "earlier-default",
            Provenance::Other => "other",
        }
    }
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::BuiltIn => write!(f, "built into this neco"),
            Provenance::Earlier(r) => write!(f, "{}", r.how_to_get()),
            Provenance::Other => write!(f, "not neco's default: decode with --weights FILE"),
        }
    }
}

/// The `.nwt` file in `dir` whose sha256 is `sha256`, if any, with its bytes (so the
/// caller parses what was hashed instead of reading it again). Other files, and files
/// over 1 GiB, are not read.
pub fn find_in_dir(dir: &Path, sha256: &[u8; 32]) -> anyhow::Result<Option<(PathBuf, Vec<u8>)>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nwt"))
        .collect();
    // A fixed order, so the same folder always gives the same answer.
    paths.sort();
    for path in paths {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_WEIGHTS_BYTES {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if <[u8; 32]>::from(Sha256::digest(&bytes)) == *sha256 {
            return Ok(Some((path, bytes)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::weights::DEFAULT_WEIGHTS;

    #[test]
    fn earlier_defaults_are_distinct_and_not_the_current_one() {
        let current: [u8; 32] = Sha256::digest(DEFAULT_WEIGHTS).into();
        let current = neco_core::hex(&current);
        for (i, r) in RELEASED.iter().enumerate() {
            assert_eq!(r.sha256.len(), 64);
            assert_ne!(
                r.sha256, current,
                "the built-in default is not an earlier one"
            );
            assert!(RELEASED[..i].iter().all(|o| o.sha256 != r.sha256));
        }
    }

    /// Each row names the file its commit holds, where the history is at hand.
    #[test]
    fn earlier_defaults_match_the_repository_history() {
        let root = env!("CARGO_MANIFEST_DIR");
        for r in RELEASED {
            let out = std::process::Command::new("git")
                .args(["-C", root, "show", &format!("{}:{}", r.commit, r.path)])
                .output();
            let Ok(out) = out.map_err(|e| e.to_string()).and_then(|o| {
                if o.status.success() {
                    Ok(o)
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).into_owned())
                }
            }) else {
                eprintln!("skipping: no git history with commit {} here", r.commit);
                return;
            };
            let sha: [u8; 32] = Sha256::digest(&out.stdout).into();
            assert_eq!(neco_core::hex(&sha), r.sha256, "{}:{}", r.commit, r.path);
        }
    }

    #[test]
    fn lookup_by_hash_and_folder_search() {
        let mut sha = [0u8; 32];
        for (i, b) in sha.iter_mut().enumerate() {
            *b = u8::from_str_radix(&RELEASED[0].sha256[2 * i..2 * i + 2], 16).unwrap();
        }
        assert_eq!(released(&sha), Some(&RELEASED[0]));
        assert!(released(&[0; 32]).is_none());
        assert_eq!(Provenance::of(&sha), Provenance::Earlier(&RELEASED[0]));
        assert_eq!(Provenance::of(&[0; 32]), Provenance::Other);
        let built_in: [u8; 32] = Sha256::digest(DEFAULT_WEIGHTS).into();
        assert_eq!(Provenance::of(&built_in), Provenance::BuiltIn);
        assert!(RELEASED[0]
            .how_to_get()
            .contains("git show 6761d8e:weights/hp-n64m96.nwt"));

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.nwt"), b"not this one").unwrap();
        std::fs::write(dir.path().join("b.txt"), b"the one").unwrap();
        let the_one: [u8; 32] = Sha256::digest(b"the one").into();
        // Only .nwt files count.
        assert_eq!(find_in_dir(dir.path(), &the_one).unwrap(), None);
        std::fs::write(dir.path().join("c.nwt"), b"the one").unwrap();
        assert_eq!(
            find_in_dir(dir.path(), &the_one).unwrap(),
            Some((dir.path().join("c.nwt"), b"the one".to_vec()))
        );
        assert!(find_in_dir(&dir.path().join("missing"), &the_one).is_err());
    }
}
