//! Real-time resolution against a real DNS server: each test starts Knot DNS on a free
//! loopback port with a private configuration and zones (one DNSSEC-signed, one not), and
//! stops it afterwards. Knot comes from Debian (`scripts/setup` installs it).

use peer::dns::{DnsSettings, PeerResolver};
use peer::{Action, EntryPeers, Outcome, PeerManager};
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Knot DNS server for one test.
struct Knot {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Knot {
    /// Zones: `vpn.test` (signed with one combined ECDSA key, records with a 1 s TTL) and
    /// `plain.test` (unsigned).
    fn start(name: &str) -> Knot {
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

    fn conf(&self) -> PathBuf {
        self.dir.join("knot.conf")
    }

    /// Replaces the A records of `owner` in `zone`, live.
    fn set_a(&self, zone: &str, owner: &str, addrs: &[&str]) {
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
    fn trust_anchor_file(&self, zone: &str) -> PathBuf {
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

fn now_ns(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

fn manager(text: &str) -> (PeerManager, config::model::Config) {
    let checked = config::check(text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    (PeerManager::from_config(&checked.config), checked.config)
}

/// Carries out resolutions until an attempt starts (or none can); returns its address.
async fn drive(
    e: &mut EntryPeers,
    resolver: &PeerResolver,
    start: Instant,
    mut actions: Vec<Action>,
) -> Option<Ipv4Addr> {
    loop {
        let mut next = Vec::new();
        for a in actions {
            match a {
                Action::Initiate { addr, .. } => return Some(addr),
                Action::Resolve { peer, name } => {
                    let result = resolver.lookup(&name, now_ns(start)).await;
                    next.extend(e.resolved(now_ns(start), peer, result));
                }
                Action::Clear { .. } | Action::WakeAt(_) => {}
            }
        }
        if next.is_empty() {
            return None;
        }
        actions = next;
    }
}

fn map_text(port: u16, extra_global: &str, peers: &[&str]) -> String {
    let mut t = format!(
        "ip domain name vpn.test\nip name-server 127.0.0.1:{port}\n{extra_global}\n\
         access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n\
         crypto ipsec transform-set T esp-gcm 256\n"
    );
    for (i, p) in peers.iter().enumerate() {
        t.push_str(&format!(
            "crypto map VPN {} ipsec-isakmp\n set transform-set T\n match address 101\n set peer {p}\n",
            10 * (i + 1)
        ));
    }
    t
}

#[tokio::test]
async fn a_changed_record_is_picked_up_with_dynamic_and_not_without() {
    let knot = Knot::start("dynamic");
    let (mut mgr, cfg) = manager(&map_text(knot.port, "", &["hub dynamic", "hub"]));
    let resolver = PeerResolver::new(&DnsSettings::from_config(&cfg).unwrap()).unwrap();
    let start = Instant::now();
    // Applying the configuration resolves names without `dynamic`, once.
    for (key, peer, name) in mgr.names_to_resolve_at_apply() {
        let result = resolver.lookup(&name, now_ns(start)).await;
        let e = mgr.entry_mut(&key.0, key.1).unwrap();
        e.resolved(now_ns(start), peer, result);
    }
    let mut first = Vec::new();
    for seq in [10, 20] {
        let e = mgr.entry_mut("VPN", seq).unwrap();
        let actions = e.demand(now_ns(start));
        let addr = drive(e, &resolver, start, actions).await.unwrap();
        e.outcome(now_ns(start), addr, Outcome::Up);
        first.push(addr);
    }
    assert_eq!(first, vec![Ipv4Addr::new(192, 0, 2, 10); 2]);

    knot.set_a("vpn.test", "hub", &["192.0.2.99"]);
    // The old answer's 1 s TTL runs out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut second = Vec::new();
    for seq in [10, 20] {
        let e = mgr.entry_mut("VPN", seq).unwrap();
        let actions = e.outcome(now_ns(start), first[0], Outcome::Dead);
        second.push(drive(e, &resolver, start, actions).await.unwrap());
    }
    assert_eq!(
        second,
        vec![Ipv4Addr::new(192, 0, 2, 99), Ipv4Addr::new(192, 0, 2, 10)],
        "dynamic follows the record; the name resolved at apply time does not"
    );
    let report = mgr.report(now_ns(start));
    assert!(report.contains("Resolved: 192.0.2.99"), "{report}");
}

#[tokio::test]
async fn every_address_of_a_name_is_a_candidate() {
    let knot = Knot::start("pair");
    let (mut mgr, cfg) = manager(&map_text(knot.port, "", &["pair.vpn.test dynamic"]));
    let resolver = PeerResolver::new(&DnsSettings::from_config(&cfg).unwrap()).unwrap();
    let start = Instant::now();
    let e = mgr.entry_mut("VPN", 10).unwrap();
    let actions = e.demand(now_ns(start));
    let a = drive(e, &resolver, start, actions).await.unwrap();
    // The first address times out: the second address of the same answer is next.
    let actions = e.outcome(now_ns(start), a, Outcome::Timeout);
    let wake = actions
        .iter()
        .find_map(|x| match x {
            Action::WakeAt(t) => Some(*t),
            _ => None,
        })
        .unwrap();
    let b = loop {
        let now = now_ns(start);
        if now >= wake {
            let actions = e.tick(now);
            break drive(e, &resolver, start, actions).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(
        both,
        vec![Ipv4Addr::new(192, 0, 2, 21), Ipv4Addr::new(192, 0, 2, 22)]
    );
    assert_eq!(e.peers()[0].counters.timeouts, 1);
}

#[tokio::test]
async fn dnssec_validated_answers_are_accepted_and_unsigned_ones_refused() {
    let knot = Knot::start("dnssec");
    let anchor = knot.trust_anchor_file("vpn.test");
    let global = format!(
        "ip dns-resolver dnssec required\nip dns-resolver trust-anchor {}",
        anchor.display()
    );
    let (mut mgr, cfg) = manager(&map_text(
        knot.port,
        &global,
        &["hub.vpn.test dynamic", "hub.plain.test dynamic"],
    ));
    let settings = DnsSettings::from_config(&cfg).unwrap();
    assert!(settings.dnssec_required);
    let resolver = PeerResolver::new(&settings).unwrap();
    let start = Instant::now();

    let signed = resolver
        .lookup("hub.vpn.test", now_ns(start))
        .await
        .unwrap();
    assert!(signed.secure);
    assert_eq!(signed.addrs, vec![Ipv4Addr::new(192, 0, 2, 10)]);

    let refused = resolver
        .lookup("hub.plain.test", now_ns(start))
        .await
        .unwrap_err();
    assert!(
        refused.contains("DNSSEC") || refused.to_lowercase().contains("bogus"),
        "{refused}"
    );

    // Through the peer logic: the signed peer connects; the unsigned one is a failed
    // attempt with the reason recorded.
    let e = mgr.entry_mut("VPN", 10).unwrap();
    let actions = e.demand(now_ns(start));
    assert_eq!(
        drive(e, &resolver, start, actions).await,
        Some(Ipv4Addr::new(192, 0, 2, 10))
    );
    let e = mgr.entry_mut("VPN", 20).unwrap();
    let actions = e.demand(now_ns(start));
    assert_eq!(drive(e, &resolver, start, actions).await, None);
    assert_eq!(e.peers()[0].counters.dns_failures, 1);
    let report = mgr.report(now_ns(start));
    assert!(report.contains("DNSSEC secure"), "{report}");
    assert!(
        report.contains("Last failure: DNS: hub.plain.test"),
        "{report}"
    );

    // Without validation required, the unsigned name resolves.
    let plain = PeerResolver::new(&DnsSettings {
        dnssec_required: false,
        ..settings.clone()
    })
    .unwrap();
    let answer = plain.lookup("hub.plain.test", now_ns(start)).await.unwrap();
    assert_eq!(answer.addrs, vec![Ipv4Addr::new(198, 51, 100, 7)]);
    assert!(!answer.secure);
}
