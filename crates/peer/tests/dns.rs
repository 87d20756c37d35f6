//! Real-time resolution against a real DNS server: each test starts Knot DNS on a free
//! loopback port with a private configuration and zones (one DNSSEC-signed, one not), and
//! stops it afterwards. Knot comes from Debian (`scripts/setup` installs it).

use testkit::knot::Knot;

use peer::dns::{DnsSettings, PeerResolver};
use peer::{Action, EntryPeers, Outcome, PeerManager};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

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
    println!("{report}");
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
