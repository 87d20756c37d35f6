//! rri-pktgen as a user runs it: its options, and a run through a real rrid.
//!
//! The rrid test starts rrid (a sibling binary: `cargo nextest run --workspace`, which
//! scripts/test runs, builds both) with a manual-key crypto map on two memif ports, and
//! rri-pktgen on the other ends: clear frames in, ESP out, which rri-pktgen decrypts and
//! verifies with the SA's key. With the right key every frame verifies and none is lost;
//! with a wrong key every ESP frame is rejected. Needs root (/var/run/dpdk).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PKTGEN: &str = env!("CARGO_BIN_EXE_rri-pktgen");
const KEY_IN: &str = "101112131415161718191a1b1c1d1e1f20212223";
const KEY_OUT: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3";

fn sibling(name: &str) -> PathBuf {
    testkit::workspace_bin(name)
}

const NOT_HEX_FILE: &str = "/tmp/rri-pktgen-test-key-zz";
const SHORT_KEY_FILE: &str = "/tmp/rri-pktgen-test-key-short";

#[test]
fn bad_options_are_refused_with_a_reason() {
    std::fs::write(NOT_HEX_FILE, "zz\n").unwrap();
    std::fs::write(SHORT_KEY_FILE, "0011\n").unwrap();
    for (args, why) in [
        (vec!["--size", "20"], "--size must be"),
        (vec!["--dst-mac", "nonsense"], "--dst-mac"),
        (vec!["--sa-spi", "5"], "--sa-spi needs --sa-key-file"),
        (
            vec!["--sa-spi", "5", "--sa-key-file", "/nonexistent/key"],
            "--sa-key-file /nonexistent/key",
        ),
        (
            vec!["--sa-spi", "5", "--sa-key-file", NOT_HEX_FILE],
            "--sa-key-file must hold the key in hex",
        ),
        (
            vec!["--sa-spi", "5", "--sa-key-file", SHORT_KEY_FILE],
            "--sa-key-file",
        ),
    ] {
        let out = Command::new(PKTGEN)
            .args([
                "--no-huge",
                "--no-pci",
                "-m",
                "64",
                "--no-telemetry",
                "--file-prefix",
            ])
            .arg(format!("pktgen-cli-{}", std::process::id()))
            .arg("--")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

struct Rrid(Child, PathBuf);

impl Drop for Rrid {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn field(out: &str, name: &str) -> String {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {out}"))
        .to_string()
}

fn pktgen(tag: &str, socket: &str, key: &str) -> String {
    let mut out = Command::new(PKTGEN)
        .args([
            "-l",
            "0",
            "--no-huge",
            "--no-pci",
            "-m",
            "256",
            "--no-telemetry",
        ])
        .args(["--log-level", "lib.eal:warning", "--file-prefix"])
        .arg(format!("pktgen-esp-{tag}-{}", std::process::id()))
        .arg("--vdev")
        .arg(format!(
            "net_memif0,role=client,socket={socket}-in,id=0,mac=02:00:00:00:00:01"
        ))
        .arg("--vdev")
        .arg(format!(
            "net_memif1,role=client,socket={socket}-out,id=0,mac=02:00:00:00:00:02"
        ))
        .args(["--", "--tx-port", "0", "--rx-port", "1", "--queues", "2"])
        .args([
            "--dst-mac",
            "02:00:00:00:01:01",
            "--dst-base",
            "10.2.0.0",
            "--flows",
            "64",
        ])
        .args([
            "--size",
            "imix-esp",
            "--rate-mpps",
            "0.02",
            "--duration",
            "3",
            "--warmup",
            "1",
        ])
        // The key comes on standard input, never on the command line.
        .args(["--link-wait", "10", "--sa-spi", "301", "--sa-key-file", "-"])
        .args(["--sa-transform", "esp-gcm-128"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = out.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, format!("{key}\n").as_bytes()).unwrap();
    drop(stdin);
    let out = out.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn esp_from_rrid_is_verified_and_decrypted() {
    let rrid_bin = sibling("rrid");
    let rrictl = sibling("rrictl");
    let dir = std::env::temp_dir().join(format!("pktgen-esp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = format!("/run/rri/pktgen-esp-{}", std::process::id());
    let config = format!(
        "hostname dut
crypto ipsec transform-set GCM esp-gcm 128
crypto map vpn 10 ipsec-manual
 set peer 192.0.2.2
 match address 101
 set transform-set GCM
 set session-key inbound esp 300 cipher {KEY_IN}
 set session-key outbound esp 301 cipher {KEY_OUT}
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
 dpdk device vdev net_memif0,role=server,socket={socket}-in,id=0,mac=02:00:00:00:01:01
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map vpn
 dpdk device vdev net_memif1,role=server,socket={socket}-out,id=0,mac=02:00:00:00:01:02
ip route 10.2.0.0 255.255.0.0 192.0.2.2
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
"
    );
    let cfg = dir.join("dut.cfg");
    std::fs::write(&cfg, config).unwrap();
    let ctl = dir.join("rrid.sock");
    let child = Command::new(&rrid_bin)
        .args([
            "-l",
            "1",
            "--no-huge",
            "--no-pci",
            "-m",
            "512",
            "--no-telemetry",
        ])
        .arg("--file-prefix")
        .arg(format!("pktgen-dut-{}", std::process::id()))
        .args(["--", "--config"])
        .arg(&cfg)
        .arg("--socket")
        .arg(&ctl)
        // Its own state: the manual SA's sequence blocks go here, not to /var/lib/rri.
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args([
            "--neighbour",
            "GigabitEthernet0/1,192.0.2.2,02:00:00:00:00:02",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _rrid = Rrid(child, dir.clone());
    let began = Instant::now();
    while !Command::new(&rrictl)
        .arg("--socket")
        .arg(&ctl)
        .args(["show", "version"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "rrid did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let good = pktgen("good", &socket, KEY_OUT);
    println!("{good}");
    let ok: u64 = field(&good, "esp_ok").parse().unwrap();
    assert!(ok > 30_000, "{good}");
    assert_eq!(field(&good, "esp_rejected"), "0", "{good}");
    assert_eq!(field(&good, "lost"), "0", "{good}");
    assert_ne!(field(&good, "latency_p99_us"), "-", "{good}");

    let bad = pktgen("bad", &socket, &KEY_OUT.replace("a0", "a1"));
    assert_eq!(field(&bad, "esp_ok"), "0", "{bad}");
    let rejected: u64 = field(&bad, "esp_rejected").parse().unwrap();
    assert!(rejected > 30_000, "{bad}");
}
