//! strongSwan's charon (5.9 from Debian, with its userspace ESP backend, kernel-libipsec) as
//! a peer in a network namespace: a configuration directory of its own, started and stopped
//! by the test, driven with swanctl over its own vici socket.

use crate::out;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The plugins every test charon loads: the ciphers rri negotiates, userspace ESP, vici.
const PLUGINS: &str = "random nonce aes sha1 sha2 hmac kdf gcm chapoly curve25519 openssl \
                       kernel-libipsec kernel-netlink socket-default vici";

/// A charon in namespace `ns`, its files in `dir`; stopped (and `dir` removed) when dropped.
/// The namespace is the caller's to make and remove.
#[derive(Debug)]
pub struct Charon {
    pub ns: String,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Charon {
    /// Writes strongswan.conf and `swanctl` (the whole swanctl.conf) into a fresh `dir`, then
    /// starts charon in `ns` and loads the configuration.
    ///
    /// # Panics
    /// When charon does not start, or does not load a connection.
    pub fn start(ns: &str, dir: PathBuf, swanctl: &str) -> Charon {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).expect("a directory for charon");
        let d = dir.display();
        std::fs::write(
            dir.join("strongswan.conf"),
            format!(
                "charon {{\n load_modular = no\n load = {PLUGINS}\n \
                 plugins {{\n  vici {{ socket = unix://{d}/charon.vici }}\n }}\n \
                 filelog {{\n  log {{ path = {d}/charon.log\n flush_line = yes\n default = 1\n \
                 ike = 2\n cfg = 2\n chd = 2\n enc = 1\n net = 2 }}\n }}\n}}\n"
            ),
        )
        .expect("strongswan.conf written");
        std::fs::write(dir.join("swanctl.conf"), swanctl).expect("swanctl.conf written");
        let mut charon = Charon {
            ns: ns.to_string(),
            dir,
            child: None,
        };
        charon.run();
        charon
    }

    /// Starts (or restarts) the daemon and loads the configuration.
    ///
    /// # Panics
    /// When charon does not start within 20 s or loads no connection.
    pub fn run(&mut self) {
        let d = self.dir.display();
        let _ = std::fs::remove_file(self.dir.join("charon.vici"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "sh", "-c"])
            .arg(format!(
                "mount --bind {d}/run /run && exec env STRONGSWAN_CONF={d}/strongswan.conf /usr/lib/ipsec/charon"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("charon runs (scripts/setup installs strongSwan)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.dir.join("charon.vici").exists() {
            assert!(
                Instant::now() < deadline,
                "charon did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let loaded = self.swanctl("--load-all");
        assert!(loaded.contains("loaded connection"), "{loaded}");
    }

    /// Kills the daemon (no deletes sent: the peer just goes silent).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // `ip netns exec` and the shell are gone with it; charon itself may survive them.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for p in $(ip netns pids {}); do kill -9 $p; done",
                self.ns
            ))
            .status();
        std::thread::sleep(Duration::from_millis(200));
    }

    /// A swanctl command with this charon's configuration file.
    pub fn swanctl(&self, args: &str) -> String {
        let d = self.dir.display();
        out(&format!(
            "swanctl {args} --file {d}/swanctl.conf --uri unix://{d}/charon.vici"
        ))
    }

    /// A swanctl command that takes no configuration file.
    pub fn vici(&self, args: &str) -> String {
        out(&format!(
            "swanctl {args} --uri unix://{}/charon.vici",
            self.dir.display()
        ))
    }

    /// `swanctl --list-sas`.
    pub fn list_sas(&self) -> String {
        self.vici("--list-sas")
    }

    /// charon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("charon.log")).unwrap_or_default()
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
