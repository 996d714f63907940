//! Atomic file replacement, so a crash never leaves a half-written `.neco` file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::{NecoError, Result};

/// Distinguishes temp files of concurrent writes within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Temp files that exist right now, so an interrupt handler can remove them.
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temp file a [`write_atomic`] call in this process is writing right
/// now, then exits with `code`. For a signal handler: the registry stays locked until
/// the process is gone, so no write can create a new temp file in between; finished
/// outputs (already renamed into place) are untouched.
pub fn remove_in_flight_temp_files_and_exit(code: i32) -> ! {
    let list = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    remove_listed(&list);
    std::process::exit(code)
}

fn remove_listed(list: &[PathBuf]) {
    for path in list {
        let _ = fs::remove_file(path);
    }
}

/// Writes `bytes` to `path` atomically: readers see either the old file or the
/// complete new one, never a partial write.
///
/// The data goes to a temp file in the same directory (see [`AtomicFile`]), is
/// fsynced, then renamed over `path`. If `overwrite` is false and `path` exists,
/// returns [`NecoError::Io`] with [`io::ErrorKind::AlreadyExists`] and leaves the
/// existing file untouched. On any failure the temp file is removed.
///
/// An existing device or FIFO (`/dev/null`, a pipe) is written into directly, with or
/// without `overwrite`: there is no file to replace, nor to keep.
pub fn write_atomic(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    if fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut file = OpenOptions::new().write(true).open(path)?;
        return Ok(file.write_all(bytes)?);
    }
    let (out, mut file) = AtomicFile::create(path, overwrite, "")?;
    file.write_all(bytes)?;
    drop(file);
    out.commit()
}

/// An output being written under a temporary name `.{name}.neco-tmp-{pid}-{n}{suffix}`
/// in the target's directory (so the final rename stays on one filesystem). The temp
/// file is listed for [`remove_in_flight_temp_files_and_exit`] while it lives and
/// removed when the `AtomicFile` is dropped without [`commit`](Self::commit): a
/// failed or interrupted write leaves nothing behind and the target untouched.
pub struct AtomicFile {
    tmp: TempFile,
    target: PathBuf,
    dir: PathBuf,
    overwrite: bool,
}

impl AtomicFile {
    /// Creates the (empty) temp file for `path`. `suffix` ends the temp name, for
    /// writers that pick a format by extension. If `overwrite` is false and `path`
    /// exists, fails with [`io::ErrorKind::AlreadyExists`] before creating anything.
    ///
    /// With `overwrite`, a symbolic link is followed, so the file it points to is
    /// replaced and the link stays; a target that is not a regular file (a folder, a
    /// device, a FIFO) is refused: renaming over it would put a file in its place.
    pub fn create(path: &Path, overwrite: bool, suffix: &str) -> Result<(AtomicFile, fs::File)> {
        let existing = fs::symlink_metadata(path);
        if !overwrite && existing.is_ok() {
            return Err(already_exists(path));
        }
        let resolved;
        let path = match existing {
            Ok(m) if m.file_type().is_symlink() => {
                // To a file, or to where one can be made (its folder exists).
                let dangling = || {
                    let link = fs::read_link(path).ok()?;
                    let target = path.parent().unwrap_or(Path::new("")).join(link);
                    let folder = target.parent().filter(|p| !p.as_os_str().is_empty());
                    let folder = folder
                        .map_or(Ok(PathBuf::from(".")), fs::canonicalize)
                        .ok()?;
                    Some(folder.join(target.file_name()?))
                };
                resolved = fs::canonicalize(path).ok().or_else(dangling).ok_or_else(|| {
                    NecoError::InvalidArgument(format!(
                        "{} is a symbolic link to nothing a file can be made at: name a file to write",
                        path.display()
                    ))
                })?;
                resolved.as_path()
            }
            _ => path,
        };
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(NecoError::InvalidArgument(format!(
                    "{} is a folder: name a file to write",
                    path.display()
                )))
            }
            Ok(m) if !m.is_file() => return Err(not_regular(path)),
            _ => {}
        }
        let name = path.file_name().ok_or_else(|| {
            NecoError::InvalidArgument(format!("{} does not name a file", path.display()))
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".neco-tmp-{}-{}{suffix}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let (tmp, file) = TempFile::create(dir.join(tmp_name))?;
        Ok((
            AtomicFile {
                tmp,
                target: path.to_path_buf(),
                dir: dir.to_path_buf(),
                overwrite,
            },
            file,
        ))
    }

    /// Where the data goes until [`commit`](Self::commit).
    pub fn temp_path(&self) -> &Path {
        &self.tmp.0
    }

    /// Syncs the temp file and moves it to the target (refusing, without
    /// `overwrite`, a target that appeared meanwhile).
    pub fn commit(self) -> Result<()> {
        // Opened for writing: some platforms refuse to sync a read-only handle.
        OpenOptions::new()
            .write(true)
            .open(&self.tmp.0)?
            .sync_all()?;
        let (tmp, path) = (&self.tmp.0, self.target.as_path());
        if self.overwrite {
            fs::rename(tmp, path)?;
        } else {
            // A hard link fails if the target exists, closing the race between the
            // check in `create` and now. Filesystems without hard links fall back to
            // a re-check and rename.
            match fs::hard_link(tmp, path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(already_exists(path))
                }
                Err(_) => {
                    if fs::symlink_metadata(path).is_ok() {
                        return Err(already_exists(path));
                    }
                    fs::rename(tmp, path)?;
                }
            }
        }
        // After a rename this is a no-op; after a hard link it drops the extra name.
        let dir = self.dir.clone();
        drop(self);
        sync_dir(&dir);
        Ok(())
    }
}

fn not_regular(path: &Path) -> NecoError {
    NecoError::InvalidArgument(format!(
        "{} is not a regular file (a device, FIFO or socket): write a file, or - for standard output",
        path.display()
    ))
}

fn already_exists(path: &Path) -> NecoError {
    NecoError::Io(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} already exists; refusing to overwrite it without the overwrite option",
            path.display()
        ),
    ))
}

/// Persists the rename itself. Best effort: the new file is already in place,
/// and some platforms cannot open or sync a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Removes the temp file when dropped, whether the write succeeded or not; listed in
/// [`IN_FLIGHT`] while it lives.
struct TempFile(PathBuf);

impl TempFile {
    /// Creates the file and lists it, under the registry lock, so an interrupt sees
    /// either no file or a listed one. `create_new`: never follow or clobber something
    /// already at the temp name (and never list, hence never delete, such a thing).
    fn create(path: PathBuf) -> io::Result<(Self, fs::File)> {
        let mut list = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        list.push(path.clone());
        Ok((TempFile(path), file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let mut list = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = list.iter().position(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_cleanup_removes_only_in_flight_temp_files() {
        let dir = std::env::temp_dir().join(format!("neco-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let done = dir.join("done.neco");
        write_atomic(&done, b"finished", false).unwrap();
        let (tmp, mut file) = TempFile::create(dir.join(".partial.neco-tmp")).unwrap();
        file.write_all(b"half").unwrap();
        // What the interrupt handler does, limited to this test's folder so that
        // writes of tests running beside it are left alone.
        let ours: Vec<PathBuf> = IN_FLIGHT
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(&dir))
            .cloned()
            .collect();
        remove_listed(&ours);
        assert!(!tmp.0.exists(), "the in-flight temp file must be gone");
        assert_eq!(fs::read(&done).unwrap(), b"finished");
        drop(tmp);
        assert!(!IN_FLIGHT
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with(&dir)));
        // Something already at a temp name is neither clobbered nor listed.
        let squatter = dir.join(".squatter");
        fs::write(&squatter, b"not ours").unwrap();
        assert!(TempFile::create(squatter.clone()).is_err());
        assert_eq!(fs::read(&squatter).unwrap(), b"not ours");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn links_are_followed_and_folders_refused() {
        let dir = std::env::temp_dir().join(format!("neco-atomic-links-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let folder = dir.join("sub");
        fs::create_dir_all(&folder).unwrap();
        let err = write_atomic(&folder, b"x", true).unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
        #[cfg(unix)]
        {
            // A link's target is replaced, the link stays; a link to nothing is refused.
            let target = dir.join("target.neco");
            fs::write(&target, b"old").unwrap();
            let link = dir.join("link.neco");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            write_atomic(&link, b"new", true).unwrap();
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(fs::read(&target).unwrap(), b"new");
            // A link to a file not made yet: made there; into a missing folder: refused.
            let ahead = dir.join("ahead.neco");
            std::os::unix::fs::symlink(dir.join("later.neco"), &ahead).unwrap();
            write_atomic(&ahead, b"made", true).unwrap();
            assert_eq!(fs::read(dir.join("later.neco")).unwrap(), b"made");
            let dangling = dir.join("dangling.neco");
            std::os::unix::fs::symlink(dir.join("no-folder/x.neco"), &dangling).unwrap();
            let err = write_atomic(&dangling, b"x", true).unwrap_err().to_string();
            assert!(err.contains("symbolic link to nothing"), "{err}");
            // A device is written into, not replaced by a file (with or without overwrite).
            write_atomic(Path::new("/dev/null"), b"discarded", false).unwrap();
            assert!(!fs::metadata("/dev/null").unwrap().is_file());
            // Streaming writers cannot write a device through a temp file: refused.
            let err = AtomicFile::create(Path::new("/dev/null"), true, "")
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
