//! Named data sets from `datasets.toml`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct DatasetsFile {
    #[serde(default)]
    image_set: Vec<ImageSet>,
    /// Folders of clips, each clip a folder of numbered frames.
    #[serde(default)]
    video_set: Vec<ImageSet>,
}

#[derive(Debug, Deserialize)]
struct ImageSet {
    name: String,
    path: String,
}

/// Resolve `name_or_dir` to a folder: an existing directory is used as is; otherwise the
/// name is looked up in `datasets.toml` (in the current directory, or `NECO_DATASETS`).
pub fn resolve_dataset(name_or_dir: &str) -> anyhow::Result<PathBuf> {
    let as_dir = Path::new(name_or_dir);
    if as_dir.is_dir() {
        return Ok(as_dir.to_path_buf());
    }
    let toml_path = std::env::var_os("NECO_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("datasets.toml"));
    let text = std::fs::read_to_string(&toml_path).with_context(|| {
        format!(
            "{name_or_dir:?} is not a folder, and {} could not be read to look it up",
            toml_path.display()
        )
    })?;
    let file: DatasetsFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", toml_path.display()))?;
    let mut sets = file.image_set.iter().chain(&file.video_set);
    let Some(set) = sets.find(|s| s.name == name_or_dir) else {
        let names: Vec<_> = file
            .image_set
            .iter()
            .chain(&file.video_set)
            .map(|s| s.name.as_str())
            .collect();
        bail!(
            "no data set named {name_or_dir:?} in {} (known: {})",
            toml_path.display(),
            names.join(", ")
        );
    };
    let base = toml_path.parent().unwrap_or(Path::new("."));
    let dir = base.join(&set.path);
    if !dir.is_dir() {
        bail!(
            "data set {:?} points to {}, which is not a folder (is ../shared/datasets present?)",
            set.name,
            dir.display()
        );
    }
    Ok(dir)
}

/// Extensions of the image files a data set folder lists (lower case).
const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "ppm", "webp", "tif", "tiff", "bmp"];

/// The image files (png, jpg, jpeg, ppm, webp, tif, tiff, bmp) in `dir`, sorted by
/// name.
pub fn list_images(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!(
            "no images ({}) in {}",
            IMAGE_EXTENSIONS.join("/"),
            dir.display()
        );
    }
    Ok(files)
}

/// The clips of a video data set: the sub-folders of `dir` that hold images (each
/// clip's frames, in name order), sorted by name. Empty when `dir` has none.
pub fn list_clips(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut clips = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() && list_images(&path).is_ok() {
            clips.push(path);
        }
    }
    clips.sort();
    Ok(clips)
}
