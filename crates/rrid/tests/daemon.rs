//! rrid as a user runs it: a real process with a real configuration, its two ports on
//! veths through `net_af_packet`, driven with rrictl.
//!
//! Inside namespace: a host 10.1.0.5 behind rrid's 10.1.0.1. Outside namespace: 192.0.2.2
//! and 192.0.2.3, the peers of two manual-key crypto map entries (the kernel there only
//! answers ARP; nothing needs to decrypt for the counters to move). A ping from the inside
//! host to 10.2.0.1 keeps entry 10's SA busy while the test reads the show commands,
//! replaces the configuration (entry 20 and the static routes change, entry 10 does not),
//! reloads on SIGHUP, streams `debug crypto ipsec`, scrapes the metrics and stops rrid with
//! SIGTERM, checking that nothing is left behind.
//!
//! Needs root (namespaces, veths, raw sockets); `scripts/test` runs as root in CI.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use testkit::{is_root, sh};

const RRID: &str = env!("CARGO_BIN_EXE_rrid");
/// rrictl, from its own package (built here if the suite has not built it yet).
static RRICTL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| testkit::workspace_bin("rrictl").display().to_string());

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223";
const KEY_B: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3";

/// Namespaces and veths, removed on drop.
struct Net {
    tag: String,
}

impl Net {
    fn new() -> Net {
        let tag = format!("rd{}", std::process::id() % 100_000);
        let net = Net { tag };
        let t = &net.tag;
        net.cleanup();
        sh(&format!(
            "ip netns add {t}in && ip netns add {t}out && \
             ip link add {t}i0 type veth peer name {t}i1 && ip link set {t}i1 netns {t}in && \
             ip link add {t}o0 type veth peer name {t}o1 && ip link set {t}o1 netns {t}out && \
             ip link set {t}i0 up && ip link set {t}o0 up && \
             ethtool -K {t}i0 tx off rx off >/dev/null 2>&1; ethtool -K {t}o0 tx off rx off >/dev/null 2>&1; \
             ip netns exec {t}in sh -c 'ip link set lo up && ip link set {t}i1 up && \
               ip addr add 10.1.0.5/24 dev {t}i1 && ip route add 10.0.0.0/8 via 10.1.0.1 && \
               ethtool -K {t}i1 tx off rx off >/dev/null 2>&1; true' && \
             ip netns exec {t}out sh -c 'ip link set lo up && ip link set {t}o1 up && \
               ip addr add 192.0.2.2/24 dev {t}o1 && ip addr add 192.0.2.3/24 dev {t}o1 && \
               ethtool -K {t}o1 tx off rx off >/dev/null 2>&1; true'"
        ));
        net
    }

    fn cleanup(&self) {
        let t = &self.tag;
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "ip link del {t}i0 2>/dev/null; ip link del {t}o0 2>/dev/null; \
                     ip netns del {t}in 2>/dev/null; ip netns del {t}out 2>/dev/null; true"
                ),
            ])
            .output();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn config(net: &Net, entry20_dst: &str, extra: &str) -> String {
    let t = &net.tag;
    format!(
        "hostname hub
crypto ipsec transform-set GCM esp-gcm 256
crypto map vpn 10 ipsec-manual
 set peer 192.0.2.2
 match address 101
 set transform-set GCM
 set session-key inbound esp 300 cipher {KEY_A}
 set session-key outbound esp 301 cipher {KEY_B}
 reverse-route static
crypto map vpn 20 ipsec-manual
 set peer 192.0.2.3
 match address 102
 set transform-set GCM
 set session-key inbound esp 400 cipher {KEY_A}
 set session-key outbound esp 401 cipher {KEY_B}
 reverse-route static
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
 dpdk device vdev net_af_packet0,iface={t}i0,qpairs=2
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map vpn
 dpdk device vdev net_af_packet1,iface={t}o0,qpairs=2
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
access-list 102 permit ip 10.1.0.0 0.0.255.255 {entry20_dst} 0.0.255.255
{extra}"
    )
}

struct Rrid {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    prefix: String,
}

impl Rrid {
    fn start(dir: &Path, config: &Path, metrics: &str) -> Rrid {
        let socket = dir.join("rrid.sock");
        let prefix = format!("rrid-test-{}", std::process::id());
        let child = Command::new(RRID)
            .args([
                "-l",
                "0",
                "--no-huge",
                "--no-pci",
                "-m",
                "512",
                "--file-prefix",
                &prefix,
                // AES-GCM bursts sealed on the engines rrid times at start (the device's
                // library among them); the device must be released for the EAL to clean up
                // at exit (checked at the end).
                "--vdev",
                "crypto_aesni_gcm",
            ])
            .args(["--", "--config"])
            .arg(config)
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .args(["--group", "nogroup"])
            .args(["--metrics", metrics])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("rrid.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let mut r = Rrid {
            child,
            dir: dir.to_path_buf(),
            socket,
            prefix,
        };
        let began = Instant::now();
        loop {
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("rrid exited with {status}:\n{}", r.log());
            }
            if r.ctl(&["show", "version"]).status.success() {
                break;
            }
            assert!(
                began.elapsed() < Duration::from_secs(30),
                "rrid did not answer:\n{}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        r
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("rrid.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(RRICTL.as_str())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn show(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "rrictl {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Packets encapsulated by the outbound SA of `vpn seq`.
    fn encaps(&self, seq: u64) -> Option<u64> {
        let json = self.show(&["--json", "show", "crypto", "ipsec", "sa"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v.as_array()?
            .iter()
            .find(|e| e["seq"].as_u64() == Some(seq))?["outbound"]["packets"]
            .as_u64()
    }
}

impl Drop for Rrid {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A helper process that must not outlive a failed test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    sh(&format!("kill -{sig} {}", child.id()));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// The LAST of the one record in a manual-SA sequence file (`SPACE LAST PEER SPI`).
fn reserved_last(file: &str) -> Option<u64> {
    let mut records = file.lines().filter(|l| !l.starts_with('#'));
    let last = records.next()?.split_whitespace().nth(1)?.parse().ok();
    records.next().is_none().then_some(last).flatten()
}

#[test]
fn rrid_runs_reloads_and_stops_cleanly() {
    if !is_root() {
        panic!("this test needs root (namespaces, veths, raw sockets)");
    }
    let net = Net::new();
    let dir = std::env::temp_dir().join(format!("rrid-daemon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("hub.cfg");
    std::fs::write(&cfg, config(&net, "10.3.0.0", "")).unwrap();
    let metrics_port = free_port();
    let mut rrid = Rrid::start(&dir, &cfg, &format!("127.0.0.1:{metrics_port}"));
    // No core file can carry its keys away.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", rrid.child.id())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );

    // The socket admits root and its group only.
    let mode = std::fs::metadata(&rrid.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);

    let running = rrid.show(&["show", "running-config"]);
    assert!(running.starts_with("hostname hub\n"), "{running}");
    assert!(
        running.contains("crypto map vpn 10 ipsec-manual"),
        "{running}"
    );
    // Keys are masked, in text and JSON, unless asked for.
    assert!(
        running.contains("set session-key inbound esp 300 cipher *****"),
        "{running}"
    );
    assert!(!running.contains(KEY_A) && !running.contains(KEY_B));
    let json = rrid.show(&["--json", "show", "running-config"]);
    assert!(!json.contains(KEY_A) && json.contains("*****"), "{json}");
    let unmasked = rrid.show(&["show", "running-config", "unmasked"]);
    assert!(
        unmasked.contains(&format!("set session-key inbound esp 300 cipher {KEY_A}")),
        "{unmasked}"
    );
    let version = rrid.show(&["sh", "ver"]);
    assert!(version.contains("hub uptime is"), "{version}");
    let interfaces = rrid.show(&["show", "interfaces"]);
    println!("{interfaces}");
    assert!(
        interfaces.contains("GigabitEthernet0/0 is up"),
        "{interfaces}"
    );
    assert!(
        interfaces.contains("Internet address is 192.0.2.1/24"),
        "{interfaces}"
    );
    let map = rrid.show(&["show", "crypto", "map"]);
    println!("{map}");
    assert!(map.contains("Crypto Map \"vpn\" 10 ipsec-manual"), "{map}");
    assert!(
        map.contains("access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255"),
        "{map}"
    );
    let routes = rrid.show(&["show", "crypto", "route"]);
    println!("{routes}");
    assert!(routes.contains("10.2.0.0/255.255.0.0"), "{routes}");
    assert!(routes.contains("10.3.0.0/255.255.0.0"), "{routes}");

    // IOS's answer to a typo, with the caret under the first wrong character.
    let bad = rrid.ctl(&["show", "crypto", "rxute"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(
        err,
        "show crypto rxute\n             ^\n% Invalid input detected at '^' marker.\n"
    );
    let ambiguous = rrid.ctl(&["c"]);
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("% Ambiguous command"));

    // The console: a prompt with the host name, `?` help, abbreviations, IOS's errors.
    let mut console = Command::new(RRICTL.as_str())
        .arg("--socket")
        .arg(&rrid.socket)
        .env("HOME", &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    console
        .stdin
        .take()
        .unwrap()
        .write_all(b"sh ver\nshow crypto ?\nsh cry ro\nshow bogus\nexit\n")
        .unwrap();
    let session = console.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&session.stdout),
        String::from_utf8_lossy(&session.stderr),
    );
    println!("{out}{err}");
    assert!(session.status.success(), "{out}{err}");
    assert!(out.contains("hub#"), "{out}");
    assert!(out.contains("hub uptime is"), "{out}");
    assert!(out.contains("  route    Routes injected by RRI\n"), "{out}");
    assert!(
        out.contains("Routes created in table GLOBAL DEFAULT"),
        "{out}"
    );
    assert!(
        err.contains("% Invalid input detected at '^' marker."),
        "{err}"
    );
    assert!(std::fs::read_to_string(dir.join(".rrictl_history"))
        .unwrap()
        .contains("sh cry ro"));

    // Traffic on entry 10's SA.
    let t = &net.tag;
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{t}in"),
            "ping",
            "-q",
            "-i",
            "0.02",
            "10.2.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ping = KillOnDrop(ping);
    let began = Instant::now();
    while rrid.encaps(10).unwrap_or(0) < 50 {
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "no traffic on the SA:\n{}\n{}",
            rrid.show(&["show", "crypto", "ipsec", "sa"]),
            rrid.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let sa = rrid.show(&["show", "crypto", "ipsec", "sa", "peer", "192.0.2.2"]);
    println!("{sa}");
    assert!(sa.contains("current outbound spi: 0x12D(301)"), "{sa}");
    assert!(!sa.contains("192.0.2.3"), "peer filter: {sa}");

    // debug crypto ipsec streams while the configuration is replaced.
    let mut debug = Command::new(RRICTL.as_str())
        .arg("--socket")
        .arg(&rrid.socket)
        .args(["debug", "crypto", "ipsec"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut debug_out = BufReader::new(debug.stdout.take().unwrap());
    let mut first = String::new();
    debug_out.read_line(&mut first).unwrap();
    assert!(first.contains("debugging is on"), "{first}");

    // configure replace: entry 20's ACL and the static routes change; entry 10 does not.
    let before = rrid.encaps(10).unwrap();
    let cfg2 = dir.join("hub2.cfg");
    std::fs::write(
        &cfg2,
        config(
            &net,
            "10.4.0.0",
            "ip route 172.16.0.0 255.255.0.0 192.0.2.254\n",
        ),
    )
    .unwrap();
    let replaced = rrid.show(&["configure", "replace", cfg2.to_str().unwrap()]);
    println!("{replaced}");
    assert!(
        replaced.contains("crypto map entries: 1 unchanged, 1 changed, 0 added, 0 removed"),
        "{replaced}"
    );
    let right_after = rrid.encaps(10).unwrap();
    assert!(
        right_after >= before,
        "entry 10's SA was replaced: {before} packets before, {right_after} after"
    );
    std::thread::sleep(Duration::from_secs(1));
    let later = rrid.encaps(10).unwrap();
    assert!(
        later > right_after,
        "entry 10 stopped forwarding: {right_after} -> {later}"
    );
    let routes = rrid.show(&["show", "ip", "route"]);
    assert!(routes.contains("172.16.0.0"), "{routes}");
    let crypto_routes = rrid.show(&["show", "crypto", "route"]);
    assert!(
        crypto_routes.contains("10.4.0.0/255.255.0.0"),
        "{crypto_routes}"
    );
    assert!(
        !crypto_routes.contains("10.3.0.0/255.255.0.0"),
        "{crypto_routes}"
    );
    // The stream carries the RRI route changes and the replacement itself.
    let mut seen = String::new();
    while !seen.contains("CONFIG: configuration replaced") {
        let mut line = String::new();
        assert!(
            debug_out.read_line(&mut line).unwrap() > 0,
            "debug stream ended: {seen}"
        );
        seen += &line;
    }
    println!("{seen}");
    assert!(
        seen.contains("VPN Route Deleted 10.3.0.0 255.255.0.0 via 192.0.2.3"),
        "{seen}"
    );
    let _ = debug.kill();
    let _ = debug.wait();

    // A configuration with an error is refused and changes nothing.
    let broken = dir.join("broken.cfg");
    std::fs::write(
        &broken,
        "crypto map vpn 10 ipsec-manual\n set peeer 1.2.3.4\n",
    )
    .unwrap();
    let refused = rrid.ctl(&["configure", "replace", broken.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("broken.cfg:2:"));
    // rrid reads only files from its configuration's directory (it runs as root, the
    // socket's group need not): nothing of /etc/shadow comes back in diagnostics.
    let outside = rrid.ctl(&["configure", "replace", "/etc/shadow"]);
    assert_eq!(outside.status.code(), Some(1));
    let said = String::from_utf8_lossy(&outside.stderr);
    assert!(said.contains("outside"), "{said}");
    assert!(!said.contains("root:"), "{said}");
    // Each of those state-changing commands was logged with who sent it.
    let log = rrid.log();
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("management command") && l.contains("configure replace"))
        .collect();
    assert!(audit.len() >= 2, "{log}");
    assert!(
        audit
            .iter()
            .all(|l| l.contains("uid=0") && l.contains("pid=")),
        "{audit:?}"
    );
    // Past the file's mode, the client's credentials are checked: a socket opened to
    // everyone still refuses a user who is neither root, rrid's user nor in its group.
    std::fs::set_permissions(&rrid.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let stranger = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=4321",
            "--clear-groups",
            RRICTL.as_str(),
            "--socket",
        ])
        .arg(&rrid.socket)
        .args(["clear", "crypto", "sa"])
        .output()
        .unwrap();
    assert_eq!(stranger.status.code(), Some(1), "{stranger:?}");
    assert!(
        String::from_utf8_lossy(&stranger.stderr).contains("Permission denied"),
        "{stranger:?}"
    );
    std::fs::set_permissions(&rrid.socket, std::fs::Permissions::from_mode(0o660)).unwrap();
    assert!(rrid.log().contains("management connection refused"));
    // A member of the socket's group (--group nogroup) reads the configuration, keys
    // masked, and may not unmask them: that is for root and rrid's own user.
    let member = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                RRICTL.as_str(),
                "--socket",
            ])
            .arg(&rrid.socket)
            .args(args)
            .output()
            .unwrap()
    };
    let masked = member(&["show", "running-config"]);
    assert!(masked.status.success(), "{masked:?}");
    assert!(!String::from_utf8_lossy(&masked.stdout).contains(KEY_A));
    let unmasked = member(&["show", "running-config", "unmasked"]);
    assert_eq!(unmasked.status.code(), Some(1), "{unmasked:?}");
    assert!(
        String::from_utf8_lossy(&unmasked.stderr).contains("only root or rrid's own user"),
        "{unmasked:?}"
    );
    assert!(!String::from_utf8_lossy(&unmasked.stdout).contains(KEY_A));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rrid.encaps(10).unwrap() > later,
        "forwarding stopped after a refused replace"
    );

    // Manual SAs reserve their sequence numbers on disk before they use them.
    let state = dir.join("state").join("manual-sa-sequences");
    let recorded = std::fs::read_to_string(&state).unwrap();
    // Entries 10 and 20 send with the same key (KEY_B): one nonce space, a block for each SA
    // made so far (the replace above made a new one for entry 20).
    let first_run = reserved_last(&recorded).unwrap();
    assert!(
        first_run >= 2 << 24 && first_run.is_multiple_of(1 << 24),
        "{recorded}"
    );
    // A reload whose last step fails (the new entry's block cannot be written: the state
    // file's place is taken by a directory) is refused and changes nothing: SAs, routes and
    // counters stay as they were, and traffic goes on.
    std::fs::rename(&state, dir.join("state.saved")).unwrap();
    std::fs::create_dir_all(state.join("blocker")).unwrap();
    let routes_before = rrid.show(&["show", "ip", "route"]);
    let sas_before: serde_json::Value =
        serde_json::from_str(&rrid.show(&["--json", "show", "crypto", "ipsec", "sa"])).unwrap();
    let grown = dir.join("grown.cfg");
    std::fs::write(
        &grown,
        config(
            &net,
            "10.3.0.0",
            &format!(
                "crypto map vpn 30 ipsec-manual\n set peer 192.0.2.3\n match address 102\n \
                 set transform-set GCM\n set session-key inbound esp 500 cipher {KEY_A}\n \
                 set session-key outbound esp 501 cipher {KEY_B}\n\
                 ip route 172.18.0.0 255.255.0.0 192.0.2.254\n"
            ),
        ),
    )
    .unwrap();
    let at_refusal = rrid.encaps(10).unwrap();
    let refused = rrid.ctl(&["configure", "replace", grown.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("manual-sa-sequences"), "{said}");
    assert_eq!(rrid.show(&["show", "ip", "route"]), routes_before);
    let sas_after: serde_json::Value =
        serde_json::from_str(&rrid.show(&["--json", "show", "crypto", "ipsec", "sa"])).unwrap();
    let spis = |v: &serde_json::Value| -> Vec<(u64, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["outbound"]["spi"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(spis(&sas_after), spis(&sas_before));
    std::thread::sleep(Duration::from_millis(300));
    assert!(rrid.encaps(10).unwrap() > at_refusal, "counters stopped");
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::rename(dir.join("state.saved"), &state).unwrap();

    // SIGHUP re-reads --config.
    std::fs::write(
        &cfg,
        config(
            &net,
            "10.4.0.0",
            "ip route 172.17.0.0 255.255.0.0 192.0.2.254\n",
        ),
    )
    .unwrap();
    let at_hup = rrid.encaps(10).unwrap();
    signal(&rrid.child, "HUP");
    let began = Instant::now();
    while !rrid.show(&["show", "ip", "route"]).contains("172.17.0.0") {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "SIGHUP not applied:\n{}",
            rrid.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rrid.encaps(10).unwrap() >= at_hup);

    // JSON answers and the metrics endpoint.
    let peers: serde_json::Value =
        serde_json::from_str(&rrid.show(&["--json", "show", "crypto", "route"])).unwrap();
    assert!(peers
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["prefix"] == "10.2.0.0"));
    let metrics = scrape(metrics_port);
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(
        metrics.contains("rri_sa_packets_total{map=\"vpn\",seq=\"10\",peer=\"192.0.2.2\",direction=\"outbound\",spi=\"0x0000012d\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rri_worker_drops_total{worker=\"0\",reason="),
        "{metrics}"
    );

    // SIGTERM: a clean stop, nothing left behind.
    let _ = ping.0.kill();
    let _ = ping.0.wait();
    signal(&rrid.child, "TERM");
    let began = Instant::now();
    let status = loop {
        if let Some(s) = rrid.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            began.elapsed() < Duration::from_secs(15),
            "rrid did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = rrid.log();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("stopped"), "{log}");
    // The engines' plan is logged: one engine for every length, or lengths per engine; the
    // device is crypto_aesni_gcm, so its library is called directly where it takes part.
    let plan_line = log
        .lines()
        .find(|l| l.contains("AES-GCM bursts sealed"))
        .unwrap_or_else(|| panic!("no engine plan logged\n{log}"));
    assert!(
        plan_line.contains("AES-GCM bursts sealed with ")
            || plan_line.contains("AES-GCM bursts sealed: plaintexts below "),
        "{plan_line}"
    );
    assert!(
        !plan_line.contains("intel-ipsec-mb")
            || plan_line.contains("called directly (crypto_aesni_gcm's library)"),
        "{plan_line}"
    );
    assert!(!rrid.socket.exists(), "socket left behind");
    assert!(
        !Path::new(&format!("/var/run/dpdk/{}", rrid.prefix)).exists(),
        "EAL runtime directory left behind"
    );
    assert!(TcpStream::connect(("127.0.0.1", metrics_port)).is_err());

    std::fs::copy(&state, dir.join("first-run-state")).unwrap();
    // Started again with the same state: the manual SA resumes past the block the first
    // run reserved, so no sequence number (and no nonce) is used twice.
    let metrics_port = free_port();
    let rrid = Rrid::start(&dir, &cfg, &format!("127.0.0.1:{metrics_port}"));
    let recorded = std::fs::read_to_string(&state).unwrap();
    // A block more for each of the two entries' SAs, past everything the first run reserved.
    let first_run =
        reserved_last(&std::fs::read_to_string(dir.join("first-run-state")).unwrap()).unwrap();
    assert_eq!(
        reserved_last(&recorded),
        Some(first_run + (2 << 24)),
        "{recorded}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&rrid.show(&["--json", "show", "crypto", "ipsec", "sa"])).unwrap();
    let entry10 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == 10)
        .unwrap();
    assert!(
        entry10["outbound"]["sequence"].as_u64().unwrap() >= 16_777_216,
        "{entry10}"
    );
    let prefix = rrid.prefix.clone();
    drop(rrid);
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    std::fs::remove_dir_all(&dir).unwrap();
}
