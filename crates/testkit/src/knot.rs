//! A Knot DNS server started for one test on a free loopback port, with a private
//! configuration and zones, stopped when dropped.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Knot DNS server for one test.
#[derive(Debug)]
pub struct Knot {
    dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Knot {
    /// Zones: `vpn.test` (signed with one combined ECDSA key, records with a 1 s TTL) and
    /// `plain.test` (unsigned).
    pub fn start(name: &str) -> Knot {
        let dir = std::env::temp_dir().join(format!("rri-knot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["run", "db", "zones"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        std::fs::write(
            dir.join("knot.conf"),
            format!(
                "server:\n    rundir: \"{d}/run\"\n    listen: 127.0.0.1@{port}\n\
                 database:\n    storage: \"{d}/db\"\n\
                 log:\n  - target: stderr\n    any: warning\n\
                 policy:\n  - id: single\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n\
                 template:\n  - id: default\n    storage: \"{d}/zones\"\n    file: \"%s.zone\"\n\
                 zone:\n  - domain: vpn.test\n    dnssec-signing: on\n    dnssec-policy: single\n\
                 \x20 - domain: plain.test\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("zones/vpn.test.zone"),
            "$ORIGIN vpn.test.\n$TTL 1\n@ SOA ns1 admin 1 60 60 600 1\n@ NS ns1\n\
             ns1 A 127.0.0.1\nhub A 192.0.2.10\npair A 192.0.2.21\npair A 192.0.2.22\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("zones/plain.test.zone"),
            "$ORIGIN plain.test.\n$TTL 1\n@ SOA ns1 admin 1 60 60 600 1\n@ NS ns1\n\
             ns1 A 127.0.0.1\nhub A 198.51.100.7\n",
        )
        .unwrap();
        let child = Command::new("knotd")
            .arg("-c")
            .arg(dir.join("knot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("knotd runs (scripts/setup installs knot)");
        let knot = Knot { dir, port, child };
        // Ready when the signed zone answers with its signature.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("kdig")
                .args([
                    "@127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "+dnssec",
                    "+short",
                    "hub.vpn.test",
                    "A",
                ])
                .output()
                .expect("kdig runs");
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("192.0.2.10") && text.contains("A 13") {
                break;
            }
            assert!(Instant::now() < deadline, "knot did not come up: {text}");
            std::thread::sleep(Duration::from_millis(100));
        }
        knot
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.join("knot.conf")
    }

    /// Replaces the A records of `owner` in `zone`, live.
    pub fn set_a(&self, zone: &str, owner: &str, addrs: &[&str]) {
        let knotc = |args: &[&str]| {
            let out = Command::new("knotc")
                .arg("-c")
                .arg(self.conf())
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "knotc {args:?}: {out:?}");
        };
        knotc(&["zone-begin", zone]);
        knotc(&["zone-unset", zone, owner, "A"]);
        for a in addrs {
            knotc(&["zone-set", zone, owner, "1", "A", a]);
        }
        knotc(&["zone-commit", zone]);
    }

    /// The zone's DNSKEY records, as `keymgr` prints them, in a trust anchor file.
    pub fn trust_anchor_file(&self, zone: &str) -> PathBuf {
        let out = Command::new("keymgr")
            .arg("-c")
            .arg(self.conf())
            .args([zone, "dnskey"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("DNSKEY"), "keymgr: {out:?}");
        let path = self.dir.join(format!("{zone}.anchor"));
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
