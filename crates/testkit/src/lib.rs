//! What rri's integration tests and benchmarks share, so that each is written once: the
//! binaries of the workspace, shell commands, EAL arguments for virtual devices.
//!
//! A dev-dependency only: nothing here is part of rri.

#![forbid(unsafe_code)]

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

/// Runs `cmd` with `sh -c`; whether it succeeded.
pub fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` with `sh -c`; its standard output and error, together.
pub fn out(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} 2>&1"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// EAL arguments for a test process on this machine: no hugepages, no PCI, no telemetry,
/// quiet logs, `memory_mb` of memory, and a file prefix (and runtime directory) of its own,
/// `prefix` with the process id, so that tests run side by side.
pub fn eal_args(prefix: &str, memory_mb: u32) -> Vec<String> {
    [
        "rri-test",
        "--no-huge",
        "--no-pci",
        "--no-telemetry",
        "--single-file-segments",
        "-m",
        &memory_mb.to_string(),
        "--log-level",
        "*:error",
        "--file-prefix",
        &format!("{prefix}-{}", std::process::id()),
    ]
    .map(String::from)
    .to_vec()
}
