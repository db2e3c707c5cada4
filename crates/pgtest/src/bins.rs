//! Finding the PostgreSQL binaries: `initdb` and `postgres` (the server) and the client tools beside them (`psql`,
//! `createdb`).
//!
//! Where they live: on `PATH`, or under `/usr/lib/postgresql/<version>/bin`, where Debian's `postgresql` package puts
//! them (it only links the client tools into `/usr/bin`). A binary found on `PATH` is followed through symlinks so
//! the client tools come from the same version's directory.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What to do when the binaries are missing; every error of this module ends with it.
pub(crate) const INSTALL_HINT: &str = "the PostgreSQL tests need a real server: install it with \
     `apt-get install -y postgresql` (Debian/Ubuntu; .ci/run does this when it runs as root), \
     see docs/testing.md";

/// Debian's per-version directories: `/usr/lib/postgresql/<version>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The directory holding `initdb` and `postgres` (one PostgreSQL version).
#[derive(Debug, Clone)]
pub(crate) struct BinDir(PathBuf);

impl BinDir {
    /// Finds the server binaries: the first `initdb` on `PATH` that has `postgres` beside it (after following
    /// symlinks), else the highest version under `/usr/lib/postgresql/*/bin`.
    pub(crate) fn find() -> Result<BinDir, String> {
        find_in(std::env::var_os("PATH"), Path::new(DEBIAN_ROOT))
    }

    /// The path of a server binary (`initdb`, `postgres`), which `find` checked exists.
    pub(crate) fn server(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The path of a client tool (`psql`, `createdb`): from this directory, else from `PATH`.
    pub(crate) fn client(&self, name: &str) -> Result<PathBuf, String> {
        let here = self.0.join(name);
        if is_executable(&here) {
            return Ok(here);
        }
        on_path(name).ok_or_else(|| format!("`{name}` not found in {} nor on PATH; {INSTALL_HINT}", self.0.display()))
    }
}

/// `BinDir::find` with the `PATH` value and the Debian root given.
fn find_in(path: Option<OsString>, debian_root: &Path) -> Result<BinDir, String> {
    if let Some(dir) = search(path.as_deref(), "initdb").and_then(|initdb| server_dir_of(&initdb)) {
        return Ok(BinDir(dir));
    }
    if let Some(dir) = highest_version(debian_root) {
        return Ok(BinDir(dir));
    }
    Err(format!(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH or under {}/*/bin; {INSTALL_HINT}",
        debian_root.display()
    ))
}

/// The real directory of `initdb` when `postgres` sits beside it.
fn server_dir_of(initdb: &Path) -> Option<PathBuf> {
    let real = initdb.canonicalize().ok()?;
    let dir = real.parent()?.to_path_buf();
    is_executable(&dir.join("postgres")).then_some(dir)
}

/// `<root>/<v>/bin` for the highest version `<v>` (compared as numbers: 9.6 < 10 < 15) that has both `initdb` and
/// `postgres`.
fn highest_version(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version_key(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            (is_executable(&bin.join("initdb")) && is_executable(&bin.join("postgres"))).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// "15" -> [15], "9.6" -> [9, 6]; `None` for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The first executable `name` in a directory of the process's `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    search(std::env::var_os("PATH").as_deref(), name)
}

/// The first executable `name` in a directory of `path` (a `PATH` value).
fn search(path: Option<&OsStr>, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path?).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

/// A regular file (after symlinks) with an execute bit.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::{INSTALL_HINT, find_in, version_key};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    /// A scratch directory for one test, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("pgtest-bins-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// An empty file with the execute bits, standing in for a binary.
    fn fake_binary(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn missing_binaries_fail_with_the_install_command() {
        let scratch = Scratch::new("missing");
        let err = find_in(Some(scratch.0.clone().into_os_string()), &scratch.0.join("no-such-root")).unwrap_err();
        assert!(err.contains("apt-get install -y postgresql"), "{err}");
        assert!(err.ends_with(INSTALL_HINT), "{err}");
    }

    #[test]
    fn the_highest_complete_debian_version_wins() {
        let scratch = Scratch::new("debian");
        for version in ["9.6", "10", "15"] {
            fake_binary(&scratch.0.join(version).join("bin"), "initdb");
            fake_binary(&scratch.0.join(version).join("bin"), "postgres");
        }
        // 16 lacks the server binary (only the client package installed): skipped.
        fake_binary(&scratch.0.join("16").join("bin"), "initdb");
        let found = find_in(None, &scratch.0).unwrap();
        assert_eq!(found.server("initdb"), scratch.0.join("15/bin/initdb"));
    }

    #[test]
    fn path_comes_first_and_is_followed_to_the_real_directory() {
        let scratch = Scratch::new("path");
        let real = scratch.0.join("lib/14/bin");
        fake_binary(&real, "initdb");
        fake_binary(&real, "postgres");
        fake_binary(&real, "psql");
        let links = scratch.0.join("links");
        std::fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink(real.join("initdb"), links.join("initdb")).unwrap();
        fake_binary(&scratch.0.join("debian/17/bin"), "initdb");
        fake_binary(&scratch.0.join("debian/17/bin"), "postgres");
        let found = find_in(Some(links.into_os_string()), &scratch.0.join("debian")).unwrap();
        let real = real.canonicalize().unwrap();
        assert_eq!(found.server("postgres"), real.join("postgres"));
        assert_eq!(found.client("psql").unwrap(), real.join("psql"));
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version_key("9.6") < version_key("10"));
        assert!(version_key("10") < version_key("15"));
        assert_eq!(version_key("15"), Some(vec![15]));
        assert_eq!(version_key("common"), None);
    }
}
