//! A worker that panics does not leave its queues silently unserved: rrid logs it, counts
//! it and, by default, stops with a non-zero status so that a supervisor restarts it; with
//! `--on-worker-panic continue` it keeps the rest running and says so. The panic is injected
//! (RRID_FAULT_INJECT=worker-panic makes worker 0 panic as it starts); ports are `net_null`.
//!
//! Needs root (the EAL's runtime directory); `scripts/test` runs as root in CI.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::KillOnDrop;

const RRID: &str = env!("CARGO_BIN_EXE_rrid");
/// rrictl, from its own package (built here if the suite has not built it yet).
static RRICTL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| testkit::workspace_bin("rrictl").display().to_string());

const CONFIG: &str = "hostname solo
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
";

fn start(tag: &str, extra: &[&str]) -> (KillOnDrop, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("rrid-panic-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("solo.cfg"), CONFIG).unwrap();
    let child = Command::new(RRID)
        .env("RRID_FAULT_INJECT", "worker-panic")
        .args([
            "-l",
            "0,1",
            "--no-huge",
            "--no-pci",
            "-m",
            "256",
            "--file-prefix",
        ])
        .arg(format!("rrid-panic-{tag}-{}", std::process::id()))
        .args([
            "--vdev",
            "net_null0",
            "--vdev",
            "net_null1",
            "--",
            "--config",
        ])
        .arg(dir.join("solo.cfg"))
        .arg("--socket")
        .arg(dir.join("rrid.sock"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args([
            "--port",
            "GigabitEthernet0/0=0",
            "--port",
            "GigabitEthernet0/1=1",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("rrid.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    (KillOnDrop(child), dir)
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(secs) {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn a_worker_panic_stops_rrid_with_a_failure_status() {
    let (mut child, dir) = start("exit", &[]);
    let status = wait_exit(&mut child, 30);
    let log = std::fs::read_to_string(dir.join("rrid.log")).unwrap();
    let Some(status) = status else {
        let _ = child.kill();
        panic!("rrid kept running with a dead worker:\n{log}");
    };
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("worker panicked"), "{log}");
    assert!(log.contains("fault injection"), "{log}");
    assert!(
        log.contains("stopped because 1 worker(s) panicked"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_continue_the_panic_is_logged_counted_and_the_rest_runs() {
    let (mut child, dir) = start("continue", &["--on-worker-panic", "continue"]);
    let socket = dir.join("rrid.sock");
    let began = Instant::now();
    let log = || std::fs::read_to_string(dir.join("rrid.log")).unwrap();
    loop {
        let ok = Command::new(RRICTL.as_str())
            .arg("--socket")
            .arg(&socket)
            .args(["show", "version"])
            .output()
            .unwrap()
            .status
            .success();
        if ok && log().contains("worker panicked") {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "rrid exited:\n{}",
            log()
        );
        assert!(began.elapsed() < Duration::from_secs(30), "{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = wait_exit(&mut child, 15).expect("rrid stops on SIGTERM");
    assert!(status.success(), "{status}\n{}", log());
    std::fs::remove_dir_all(&dir).unwrap();
}
