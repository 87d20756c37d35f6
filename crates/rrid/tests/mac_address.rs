//! IOS's `mac-address` on an interface: rrid gives the port that address (its ARP replies
//! and frames carry it, and `show interfaces` says so), or refuses to start, naming the
//! interface, when the device cannot take it.
//!
//! Needs root (the EAL's runtime directory); `scripts/test` runs as root in CI.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::KillOnDrop;

const RRID: &str = env!("CARGO_BIN_EXE_rrid");

const CONFIG: &str = "hostname solo
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
 mac-address 0200.1234.5678
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
";

/// rrid on two ports of driver `driver` (`net_null` or `net_ring`), its files in a scratch
/// directory.
fn start(driver: &str) -> (KillOnDrop, std::path::PathBuf) {
    let dir = testkit::scratch_dir(&format!("mac-{driver}"));
    std::fs::write(dir.join("solo.cfg"), CONFIG).unwrap();
    let child = Command::new(RRID)
        .args([
            "-l",
            "0",
            "--no-huge",
            "--no-pci",
            "-m",
            "256",
            "--file-prefix",
        ])
        .arg(testkit::eal_prefix(&format!("mac-{driver}")))
        .args([
            "--vdev",
            &format!("{driver}0"),
            "--vdev",
            &format!("{driver}1"),
        ])
        .args(["--", "--config"])
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
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("rrid.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    (KillOnDrop(child), dir)
}

#[test]
fn the_port_takes_the_configured_address() {
    let (mut child, dir) = start("net_null");
    let rrictl = testkit::workspace_bin("rrictl");
    let log = || std::fs::read_to_string(dir.join("rrid.log")).unwrap_or_default();
    let began = Instant::now();
    let shown = loop {
        let out = Command::new(&rrictl)
            .arg("--socket")
            .arg(dir.join("rrid.sock"))
            .args(["show", "interfaces"])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "rrid exited:\n{}",
            log()
        );
        assert!(began.elapsed() < Duration::from_secs(30), "{}", log());
        std::thread::sleep(Duration::from_millis(200));
    };
    let gi0 = shown
        .split("GigabitEthernet0/1")
        .next()
        .expect("GigabitEthernet0/0 comes first");
    assert!(gi0.contains("address is 0200.1234.5678"), "{shown}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let began = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(began.elapsed() < Duration::from_secs(15), "{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_device_that_cannot_take_it_stops_the_start() {
    let (mut child, dir) = start("net_ring");
    let began = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "rrid kept running"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(dir.join("rrid.log")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("interface GigabitEthernet0/0: mac-address 0200.1234.5678:"),
        "{log}"
    );
}
