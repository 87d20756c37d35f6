//! Configuration files: read with bounds, checked, and (for management requests) confined to
//! the directory of the configuration rrid was started with.

use std::path::{Path, PathBuf};

/// The largest configuration file rrid reads (a million static routes is about 40 MB).
pub const MAX_CONFIG_BYTES: u64 = 256 << 20;

/// Reads a configuration file: a regular file of at most [`MAX_CONFIG_BYTES`], so that a
/// device, FIFO or endless file named by mistake cannot block the control thread.
pub fn read_config(path: &Path) -> Result<Vec<u8>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    // Checked before opening too: opening a FIFO blocks until a writer comes.
    if !std::fs::metadata(path).map_err(|e| fail(&e))?.is_file() {
        return Err(fail(&"not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let meta = file.metadata().map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(fail(&"not a regular file"));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(fail(&format!(
            "{} bytes, more than the {MAX_CONFIG_BYTES} a configuration may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_CONFIG_BYTES), &mut bytes)
        .map_err(|e| fail(&e))?;
    Ok(bytes)
}

/// The file a management request names (`configure replace FILE`, `check FILE`), which must
/// lie in the directory of the configuration rrid was started with, as IOS takes such files
/// from its flash: rrid runs as root and the socket's group is not, so a request cannot make
/// it read (and quote in diagnostics) any other file. A relative name is taken from that
/// directory.
pub fn requested_file(config_path: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = config_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("% {}: {e}\n", dir.display()))?;
    let path = dir.join(name);
    let real = path
        .canonicalize()
        .map_err(|e| format!("% {name}: {e}\n"))?;
    if !real.starts_with(&dir) {
        return Err(format!(
            "% {name}: outside {}, the configuration directory\n",
            dir.display()
        ));
    }
    Ok(real)
}

/// Reads and checks a configuration file; the error text lists every problem.
pub fn load(path: &Path) -> Result<config::Config, String> {
    // The file's bytes and text hold the keys as written: wiped once parsed.
    let bytes = secret::SecretBytes::new(read_config(path)?);
    let (text, checked) = config::check_bytes(&bytes);
    let text = secret::SecretString::new(text);
    if checked.diagnostics.has_errors() {
        return Err(checked
            .diagnostics
            .render(&path.display().to_string(), &text));
    }
    Ok(checked.config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("rrid-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn requested_files_stay_in_the_configuration_directory() {
        let dir = TempDir::new("requested");
        let config = dir.path().join("hub.cfg");
        std::fs::write(&config, "hostname hub\n").unwrap();
        std::fs::write(dir.path().join("hub2.cfg"), "hostname hub2\n").unwrap();
        let real_dir = dir.path().canonicalize().unwrap();

        assert_eq!(
            requested_file(&config, "hub2.cfg").unwrap(),
            real_dir.join("hub2.cfg")
        );
        let absolute = dir.path().join("hub2.cfg");
        assert_eq!(
            requested_file(&config, absolute.to_str().unwrap()).unwrap(),
            real_dir.join("hub2.cfg")
        );
        for outside in ["/etc/passwd", "../../../../etc/passwd", "/dev/zero"] {
            let err = requested_file(&config, outside).unwrap_err();
            assert!(err.contains("outside"), "{outside}: {err}");
        }
        // A link inside the directory that points out of it is outside too.
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.cfg")).unwrap();
        assert!(requested_file(&config, "link.cfg")
            .unwrap_err()
            .contains("outside"));
        assert!(requested_file(&config, "missing.cfg").is_err());
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        assert!(read_config(Path::new("/dev/zero"))
            .unwrap_err()
            .contains("not a regular file"));
        assert!(read_config(Path::new("/"))
            .unwrap_err()
            .contains("not a regular file"));
        let dir = TempDir::new("regular");
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(read_config(&fifo)
            .unwrap_err()
            .contains("not a regular file"));
        let big = dir.path().join("big.cfg");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        assert!(read_config(&big).unwrap_err().contains("more than"));
        let ok = dir.path().join("ok.cfg");
        std::fs::write(&ok, "hostname r1\n").unwrap();
        assert_eq!(read_config(&ok).unwrap(), b"hostname r1\n");
    }
}
