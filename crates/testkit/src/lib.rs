//! What rri's integration tests and benchmarks share, so that each is written once: the
//! binaries of the workspace, shell commands, EAL arguments for virtual devices, a Knot DNS
//! server ([`knot`]) and strongSwan peers ([`strongswan`]).
//!
//! A dev-dependency only: nothing here is part of rri.

#![forbid(unsafe_code)]

pub mod knot;
pub mod strongswan;

use std::path::PathBuf;
use std::process::Command;

/// The path of binary `name` of this workspace, built (in the profile the tests run in) if
/// it is not there yet: tests of one package use the binaries of another (rrid's tests drive
/// rrictl), which Cargo builds only for the package's own tests.
///
/// # Panics
/// When the binary cannot be built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> -> target/<profile>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("a test binary lies in target/<profile>/deps");
    let bin = dir.join(name);
    let release = dir.file_name().is_some_and(|p| p == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--workspace", "--bin", name]);
    if release {
        build.arg("--release");
    }
    let status = build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --bin {name} failed");
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

/// Runs `cmd` with `sh -c`.
///
/// # Panics
/// When it fails, with its standard error.
pub fn sh(cmd: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` with `sh -c`; its standard output, then its standard error.
pub fn out(cmd: &str) -> String {
    let o = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("sh runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Whether this process runs as root (namespaces, veths, EAL runtime directories).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The `N received` of ping's summary; 0 when there is none.
pub fn ping_received(ping: &str) -> u32 {
    ping.lines()
        .find_map(|l| {
            l.split(", ")
                .find(|f| f.ends_with(" received"))
                .and_then(|f| f.trim_end_matches(" received").parse().ok())
        })
        .unwrap_or(0)
}

/// EAL options for a test process: no hugepages, no PCI, no telemetry, quiet logs, 512 MB,
/// `lcores` (as `--lcores` takes them), a file prefix (and so a runtime directory) of its own
/// made of `test` and the process id, and one `--vdev` per entry of `vdevs`. Each test file
/// is its own process and may start one EAL (DPDK allows one per process).
pub fn eal_args(test: &str, lcores: &str, vdevs: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--no-huge",
        "--no-pci",
        "--no-telemetry",
        "-m",
        "512",
        "--log-level",
        "lib.eal:notice",
        "--lcores",
        lcores,
        "--file-prefix",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(eal_prefix(test));
    with_vdevs(args, vdevs)
}

/// `args` and a `--vdev` for each of `vdevs`.
fn with_vdevs(mut args: Vec<String>, vdevs: &[impl AsRef<str>]) -> Vec<String> {
    for vdev in vdevs {
        args.push("--vdev".into());
        args.push(vdev.as_ref().to_string());
    }
    args
}

/// EAL options for a benchmark: the measured lcore on CPU 1 (`-l 1`, CPU 0 left to the
/// generator or the rest of the machine), no hugepages, no PCI, no telemetry, `memory_mb`,
/// warnings only, a file prefix of its own, and one `--vdev` per entry of `vdevs`.
pub fn bench_eal_args(bench: &str, memory_mb: u32, vdevs: &[&str]) -> Vec<String> {
    let args: Vec<String> = [
        "-l",
        "1",
        "--no-huge",
        "--no-pci",
        "-m",
        &memory_mb.to_string(),
        "--no-telemetry",
        "--log-level",
        "lib.eal:warning",
        "--log-level",
        "pmd.*:warning",
        "--file-prefix",
        &eal_prefix(bench),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    with_vdevs(args, vdevs)
}

/// The EAL file prefix [`eal_args`] and [`bench_eal_args`] give test `test` in this process; its runtime directory
/// is `/var/run/dpdk/PREFIX`.
pub fn eal_prefix(test: &str) -> String {
    format!("rri-test-{test}-{}", std::process::id())
}

/// A scratch directory for one test, removed and recreated.
///
/// # Panics
/// When the temporary directory is not writable.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rri-test-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// A child process killed (and reaped) when dropped, so that a failing test leaves no daemon
/// behind to load the machine for the tests after it.
#[derive(Debug)]
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
