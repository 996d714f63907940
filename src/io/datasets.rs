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

/// The frames of a clip folder: its image files (as [`list_images`]) in frame order,
/// numbers in names compared by value, so `2.png` comes before `10.png` (unpadded
/// numbering is common in folders of extracted frames).
pub fn list_frames(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = list_images(dir)?;
    files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(files)
}

/// Orders `a` and `b` as text, except that runs of digits compare by their value
/// (leading zeros aside; ties fall back to plain text order, so the order is total).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while let (Some(&c), Some(&d)) = (x.first(), y.first()) {
        let ord = if c.is_ascii_digit() && d.is_ascii_digit() {
            let run = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
            let (n, m) = (run(x), run(y));
            let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&b| b == b'0').count() };
            let (dx, dy) = (&x[strip(&x[..n])..n], &y[strip(&y[..m])..m]);
            let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
            x = &x[n..];
            y = &y[m..];
            ord
        } else {
            x = &x[1..];
            y = &y[1..];
            c.cmp(&d)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    x.len().cmp(&y.len()).then_with(|| a.cmp(b))
}

/// The clips of a video data set: the sub-folders of `dir` that hold images (each
/// clip's frames, in [`list_frames`] order), sorted by name. Empty when `dir` has none.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_listed_by_number_not_by_text() {
        let dir = std::env::temp_dir().join(format!("neco-frames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "10.png",
            "2.png",
            "1.png",
            "frame_010.png",
            "frame_9.png",
            "a.txt",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let names: Vec<String> = list_frames(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            names,
            ["1.png", "2.png", "10.png", "frame_9.png", "frame_010.png"]
        );
    }

    #[test]
    fn natural_order_is_total() {
        use std::cmp::Ordering::*;
        assert_eq!(
            natural_cmp("f01", "f1"),
            Less,
            "zeros break the tie, as text"
        );
        assert_eq!(natural_cmp("f1", "f01"), Greater);
        assert_eq!(natural_cmp("f1", "f1"), Equal);
        assert_eq!(natural_cmp("f9x", "f10"), Less);
        assert_eq!(natural_cmp("f", "f0"), Less);
        assert_eq!(natural_cmp("f00000000000000000000000000001", "f2"), Less);
    }
}
