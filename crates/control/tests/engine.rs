//! Two key engines talking to each other in memory (no sockets, no DPDK): a spoke whose
//! static crypto map entry initiates and a hub whose dynamic map answers. Every datagram one
//! produces is handed to the other, with simulated time.

use control::engine::{Change, EngineOutput, KeyEngine, Transmit};
use peer::Outcome;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

const SPOKE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const HUB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn engine(text: &str) -> KeyEngine {
    let checked = config::check(text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    KeyEngine::new(Arc::new(checked.config))
}

fn spoke() -> KeyEngine {
    engine(
        "interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ikev2 keyring KR
 peer HUB
  address 192.0.2.2
  pre-shared-key engine-test-key
crypto ipsec transform-set TS esp-gcm 256
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set TS
 match address 101
",
    )
}

fn hub(extra: &str) -> KeyEngine {
    hub_accepting("192.0.2.0 255.255.255.0", extra)
}

/// A hub whose keyring has a key for the addresses `peers` (address and mask).
fn hub_accepting(peers: &str, extra: &str) -> KeyEngine {
    engine(&format!(
        "interface GigabitEthernet0/1
 ip address 192.0.2.2 255.255.255.0
 crypto map VPN
access-list 120 permit ip 10.2.0.0 0.0.255.255 10.0.0.0 0.255.255.255
crypto ikev2 keyring KR
 peer SPOKES
  address {peers}
  pre-shared-key engine-test-key
crypto ipsec transform-set TS esp-gcm 256
crypto dynamic-map DYN 10
 set transform-set TS
 match address 120
 reverse-route
crypto map VPN 100 ipsec-isakmp dynamic DYN
{extra}"
    ))
}

/// Delivers datagrams between the two until both are quiet; returns everything else each
/// side produced.
fn converse(
    spoke: &mut KeyEngine,
    hub: &mut KeyEngine,
    first: EngineOutput,
    now: u64,
) -> (EngineOutput, EngineOutput) {
    let mut from_spoke: Vec<Transmit> = first.transmit;
    let mut spoke_all = EngineOutput {
        changes: first.changes,
        outcomes: first.outcomes,
        ..EngineOutput::default()
    };
    let mut hub_all = EngineOutput::default();
    for _ in 0..20 {
        let mut from_hub = Vec::new();
        for t in from_spoke.drain(..) {
            assert_eq!(*t.to.ip(), HUB);
            let payload = strip_marker(&t);
            let o = hub.datagram(t.from, t.to, payload, Some("VPN"), now);
            from_hub.extend(o.transmit);
            hub_all.changes.extend(o.changes);
            hub_all.outcomes.extend(o.outcomes);
        }
        for t in from_hub {
            let payload = strip_marker(&t);
            let o = spoke.datagram(t.from, t.to, payload, Some("VPN"), now);
            from_spoke.extend(o.transmit);
            spoke_all.changes.extend(o.changes);
            spoke_all.outcomes.extend(o.outcomes);
        }
        if from_spoke.is_empty() {
            break;
        }
    }
    (spoke_all, hub_all)
}

fn strip_marker(t: &Transmit) -> &[u8] {
    if t.to.port() == 4500 {
        &t.payload[4..]
    } else {
        &t.payload
    }
}

fn ups(o: &EngineOutput) -> Vec<&control::engine::Installed> {
    o.changes
        .iter()
        .filter_map(|c| match c {
            Change::Up(i) => Some(i),
            _ => None,
        })
        .collect()
}

#[test]
fn a_static_entry_and_a_dynamic_map_agree_on_keys_and_narrowed_selectors() {
    let (mut s, mut h) = (spoke(), hub(""));
    let entry = ("VPN".to_string(), 10);
    let first = s.initiate(&entry, HUB, 0);
    assert_eq!(first.transmit.len(), 1);
    // A second request for the same entry and peer while one is under way starts nothing.
    assert!(s.initiate(&entry, HUB, 1).transmit.is_empty());
    let (so, ho) = converse(&mut s, &mut h, first, 10);
    let (su, hu) = (ups(&so), ups(&ho));
    assert_eq!((su.len(), hu.len()), (1, 1), "{so:?}\n{ho:?}");
    let (a, b) = (&su[0].child, &hu[0].child);
    assert_eq!((a.spi_out, a.spi_in), (b.spi_in, b.spi_out));
    assert_eq!((&a.key_out, &a.key_in), (&b.key_in, &b.key_out));
    // The hub's map permits 10.2/16 <-> 10/8: the spoke's 10.1/16 proposal fits inside.
    assert_eq!(b.ts_remote, a.ts_local);
    assert_eq!(hu[0].origin.dynamic_seq, Some(10));
    assert_eq!(so.outcomes, vec![(entry.clone(), HUB, Outcome::Up)]);
    assert!(
        ho.outcomes.is_empty(),
        "dynamic sessions are not the peer manager's"
    );
    assert!(h.show_sessions().contains("responder"));
    assert!(s.show_sessions().contains("UP-ACTIVE"));

    // The spoke clears: both sides take the SA down, the hub forgets the session.
    let cleared = s.clear(&entry, HUB, 20);
    assert!(matches!(cleared.changes.as_slice(), [Change::Down(id)] if *id == su[0].id));
    let (_, ho) = converse(&mut s, &mut h, cleared, 30);
    assert!(
        matches!(ho.changes.as_slice(), [Change::Down(id)] if *id == hu[0].id),
        "{ho:?}"
    );
    assert_eq!(h.session_count(), 0);
}

#[test]
fn the_hub_asks_for_a_cookie_past_its_threshold_and_the_spoke_returns_it() {
    let mut h = hub("crypto ikev2 cookie-challenge 1\n");
    // A half-open SA from an initiator that never finishes.
    let mut stranger = engine(
        "interface GigabitEthernet0/1
 ip address 192.0.2.9 255.255.255.0
 crypto map VPN
access-list 101 permit ip 10.9.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ikev2 keyring KR
 peer HUB
  address 192.0.2.2
  pre-shared-key engine-test-key
crypto ipsec transform-set TS esp-gcm 256
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set TS
 match address 101
",
    );
    let lure = stranger.initiate(&("VPN".into(), 10), HUB, 0);
    let t = &lure.transmit[0];
    let answered = h.datagram(t.from, t.to, &t.payload, Some("VPN"), 0);
    assert_eq!(answered.transmit.len(), 1);
    assert_eq!(h.stats.cookies_sent, 0);

    let mut s = spoke();
    let first = s.initiate(&("VPN".into(), 10), HUB, 1);
    let (so, ho) = converse(&mut s, &mut h, first, 2);
    assert_eq!(h.stats.cookies_sent, 1, "{:?}", h.stats);
    assert_eq!((ups(&so).len(), ups(&ho).len()), (1, 1));

    // A forged cookie is answered with a fresh request, not with state.
    let sessions = h.session_count();
    let mut liar = spoke();
    let o = liar.initiate(&("VPN".into(), 10), HUB, 3);
    let mut m = ike::message::Message::parse(&o.transmit[0].payload).unwrap();
    m.payloads.insert(
        0,
        ike::message::Payload::Notify {
            protocol: 0,
            spi: Vec::new(),
            kind: ike::sa::notify::COOKIE,
            data: vec![0; 17],
        },
    );
    let forged = m.emit();
    let from = SocketAddrV4::new(SPOKE, 500);
    let o = h.datagram(from, SocketAddrV4::new(HUB, 500), &forged, Some("VPN"), 4);
    assert_eq!(h.stats.cookies_sent, 2);
    assert_eq!(h.session_count(), sessions);
    assert_eq!(o.transmit.len(), 1);
}

#[test]
fn garbage_and_strays_are_counted_not_fatal() {
    let mut h = hub("");
    let from = SocketAddrV4::new(SPOKE, 500);
    let to = SocketAddrV4::new(HUB, 500);
    for junk in [&[][..], &[0u8; 3][..], &[0xffu8; 28][..], &[1u8; 200][..]] {
        let o = h.datagram(from, to, junk, Some("VPN"), 0);
        assert!(o.transmit.is_empty() && o.changes.is_empty());
    }
    assert!(
        h.stats.malformed + h.stats.unknown_spi >= 3,
        "{:?}",
        h.stats
    );
    // An IKE_SA_INIT on an interface without a crypto map finds no entry.
    let mut s = spoke();
    let first = s.initiate(&("VPN".into(), 10), HUB, 0);
    let o = h.datagram(
        first.transmit[0].from,
        to,
        &first.transmit[0].payload,
        None,
        0,
    );
    assert!(o.transmit.is_empty());
    assert_eq!(h.stats.no_matching_entry, 1);
}

#[test]
fn a_silent_hub_is_a_connection_timeout_for_the_peer_manager() {
    let mut s = spoke();
    let entry = ("VPN".to_string(), 10);
    let first = s.initiate(&entry, HUB, 0);
    assert_eq!(first.transmit.len(), 1);
    let mut now = 0;
    let mut sent = 1;
    let mut outcomes = Vec::new();
    while outcomes.is_empty() && now < 60_000_000_000 {
        now += 100_000_000;
        let o = s.tick(now, &|_| None);
        sent += o.transmit.len();
        outcomes.extend(o.outcomes);
    }
    assert_eq!(outcomes, vec![(entry, HUB, Outcome::Timeout)]);
    assert_eq!(sent, 1 + s.retransmit_tries as usize);
    // 0.5 + 1 + 2 + 4 s.
    assert!((7_400_000_000..=7_700_000_000).contains(&now), "{now}");
    assert_eq!(s.session_count(), 0);
}

/// Delivers the hub's datagrams to the spoke and back until both are quiet.
fn converse_from_hub(spoke: &mut KeyEngine, hub: &mut KeyEngine, first: EngineOutput, now: u64) {
    let mut from_hub = first.transmit;
    for _ in 0..20 {
        let mut from_spoke = Vec::new();
        for t in from_hub.drain(..) {
            let o = spoke.datagram(t.from, t.to, strip_marker(&t), Some("VPN"), now);
            assert!(o.changes.is_empty(), "{o:?}");
            from_spoke.extend(o.transmit);
        }
        for t in from_spoke {
            let o = hub.datagram(t.from, t.to, strip_marker(&t), Some("VPN"), now);
            assert!(o.changes.is_empty(), "{o:?}");
            from_hub.extend(o.transmit);
        }
        if from_hub.is_empty() {
            break;
        }
    }
}

fn ike_spis(e: &KeyEngine) -> (u64, u64) {
    let v = e.sessions_view();
    assert_eq!(v.len(), 1, "{v:?}");
    (v[0].ike_spi_initiator, v[0].ike_spi_responder)
}

/// Either side rekeys the IKE SA, by request and when its lifetime runs out: both end on the
/// same new SPIs with the child SA untouched (no SA change reaches the data plane), and the
/// new SA carries a later clear.
#[test]
fn either_side_rekeys_the_ike_sa_and_the_child_stays() {
    let (mut s, mut h) = (spoke(), hub(""));
    let entry = ("VPN".to_string(), 10);
    let first = s.initiate(&entry, HUB, 0);
    let (so, _) = converse(&mut s, &mut h, first, 10);
    assert_eq!(ups(&so).len(), 1);
    let children = s.sessions_view()[0].child_spis.clone();
    let original = ike_spis(&s);

    let out = s.rekey_ike(None, 20);
    let (so, ho) = converse(&mut s, &mut h, out, 30);
    assert!(
        so.changes.is_empty() && ho.changes.is_empty(),
        "{so:?}\n{ho:?}"
    );
    let by_spoke = ike_spis(&s);
    assert_ne!(by_spoke, original);
    assert_eq!(ike_spis(&h), by_spoke, "both sides on the new IKE SA");
    assert_eq!(s.sessions_view()[0].child_spis, children);

    let out = h.rekey_ike(None, 40);
    converse_from_hub(&mut s, &mut h, out, 50);
    let by_hub = ike_spis(&h);
    assert_ne!(by_hub, by_spoke);
    assert_eq!(ike_spis(&s), by_hub);

    // The spoke's lifetime (86400 s; it rekeys at 90 %) runs out: a tick starts the rekey
    // (the child SA, due earlier, is rekeyed on the way).
    let mut now = 86_400 * 950_000_000;
    let mut changed = false;
    for _ in 0..3 {
        let out = s.tick(now, &|_| None);
        let (_so, _ho) = converse(&mut s, &mut h, out, now + 1);
        if ike_spis(&s) != by_hub {
            changed = true;
            break;
        }
        now += 61_000_000_000;
    }
    assert!(changed, "no IKE rekey at the end of the lifetime");
    assert_eq!(ike_spis(&h), ike_spis(&s));

    // The rekeyed SA still deletes cleanly.
    let cleared = s.clear(&entry, HUB, now + 10);
    let (_, ho) = converse(&mut s, &mut h, cleared, now + 20);
    assert!(matches!(ho.changes.as_slice(), [Change::Down(_)]), "{ho:?}");
    assert_eq!(h.session_count(), 0);
}

#[test]
fn clearing_an_entry_ends_its_negotiations_too() {
    // A reload that changes an entry clears every IKE SA made for it, also one still being
    // negotiated: its IKE_SA_INIT answer must not bring up an SA from the old settings.
    let (mut s, mut h) = (spoke(), hub(""));
    let entry = ("VPN".to_string(), 10);
    let first = s.initiate(&entry, HUB, 0);
    assert_eq!(first.transmit.len(), 1);
    let t = &first.transmit[0];
    let answer = h.datagram(t.from, t.to, strip_marker(t), Some("VPN"), 0);
    assert_eq!(s.session_count(), 1);

    let other = ("VPN".to_string(), 20);
    let kept = s.clear_entries(&[other].into_iter().collect(), 1);
    assert!(kept.transmit.is_empty());
    assert_eq!(s.session_count(), 1, "another entry's clear leaves it");

    let cleared = s.clear_entries(&[entry].into_iter().collect(), 1);
    assert!(
        cleared.transmit.is_empty(),
        "nothing to delete before IKE_AUTH"
    );
    assert_eq!(s.session_count(), 0);
    for t in &answer.transmit {
        let o = s.datagram(t.from, t.to, strip_marker(t), Some("VPN"), 2);
        assert!(o.transmit.is_empty() && ups(&o).is_empty(), "{o:?}");
    }
}

/// A hub whose keyring accepts any address (as head-ends for roaming spokes do), so that an
/// IKE_SA_INIT from any source address costs it a half-open SA.
fn open_hub(extra: &str) -> KeyEngine {
    hub_accepting("0.0.0.0 0.0.0.0", extra)
}

/// IKE_SA_INITs as a flood would send them: a real request replayed from `n` source
/// addresses in 198.18/15 that never answer (spoofed), starting at `first`.
fn spoof_inits(h: &mut KeyEngine, n: u32, first: u32, now: u64) {
    let mut s = spoke();
    let lure = s.initiate(&("VPN".into(), 10), HUB, 0);
    let payload = lure.transmit[0].payload.clone();
    for k in first..first + n {
        let from = SocketAddrV4::new(Ipv4Addr::from(0xc612_0000 + k), 500);
        h.datagram(
            from,
            SocketAddrV4::new(HUB, 500),
            &payload,
            Some("VPN"),
            now,
        );
    }
}

const SECOND: u64 = 1_000_000_000;

#[test]
fn spoofed_inits_that_fill_the_half_open_table_expire_and_a_real_peer_connects() {
    // Cookies only past 1000 half-open SAs: the bound alone must protect the table.
    let mut h = open_hub("crypto ikev2 cookie-challenge 1000\n");
    let bound = h.limits.max_half_open;
    spoof_inits(&mut h, bound as u32 + 50, 1, SECOND);
    assert_eq!(h.half_open_count(), bound);
    assert_eq!(h.stats.half_open_refused, 50);

    // Full: a real spoke is refused while the spoofed SAs live ...
    let mut s = spoke();
    let first = s.initiate(&("VPN".into(), 10), HUB, 2 * SECOND);
    let (so, _) = converse(&mut s, &mut h, first, 2 * SECOND);
    assert!(ups(&so).is_empty());
    assert_eq!(h.stats.half_open_refused, 51);

    // ... and the engine's timer says when they go.
    let timeout = h.limits.half_open_timeout_ns;
    assert_eq!(timeout, 30 * SECOND, "the documented default");
    assert_eq!(h.next_timer(), Some(SECOND + timeout));
    h.tick(SECOND + timeout - 1, &|_| None);
    assert_eq!(h.half_open_count(), bound, "not before their time");
    h.tick(SECOND + timeout, &|_| None);
    assert_eq!(h.half_open_count(), 0);
    assert_eq!(h.stats.half_open_expired, bound as u64);
    assert_eq!(h.session_count(), 0);

    let mut s = spoke();
    let now = SECOND + timeout + 1;
    let first = s.initiate(&("VPN".into(), 10), HUB, now);
    let (so, ho) = converse(&mut s, &mut h, first, now);
    assert_eq!((ups(&so).len(), ups(&ho).len()), (1, 1), "{:?}", h.stats);
    // Established SAs are not half-open and never time out as such.
    assert_eq!(h.half_open_count(), 0);
    h.tick(now + 2 * timeout, &|_| Some((1, 1)));
    assert_eq!(h.session_count(), 1);
}

#[test]
fn the_cookie_threshold_counts_only_live_half_open_sas() {
    let mut h = open_hub("crypto ikev2 cookie-challenge 10\n");
    spoof_inits(&mut h, 10, 1, 0);
    assert_eq!(h.half_open_count(), 10);
    h.tick(h.limits.half_open_timeout_ns, &|_| None);
    assert_eq!(h.half_open_count(), 0);
    // The expired ones no longer count: a new spoke gets no cookie request.
    let mut s = spoke();
    let now = h.limits.half_open_timeout_ns + 1;
    let first = s.initiate(&("VPN".into(), 10), HUB, now);
    let (so, _) = converse(&mut s, &mut h, first, now);
    assert_eq!(ups(&so).len(), 1);
    assert_eq!(h.stats.cookies_sent, 0);
}

#[test]
fn one_address_gets_a_bounded_share_of_half_open_sas_and_of_init_rate() {
    let mut h = open_hub("crypto ikev2 cookie-challenge 1000\n");
    let limits = h.limits;
    let mut s = spoke();
    let lure = s.initiate(&("VPN".into(), 10), HUB, 0);
    let mut m = ike::message::Message::parse(&lure.transmit[0].payload).unwrap();
    let from = SocketAddrV4::new(Ipv4Addr::new(198, 18, 7, 7), 500);
    let to = SocketAddrV4::new(HUB, 500);
    // Distinct initiator SPIs from one address: each would be a new half-open SA.
    let mut send = |h: &mut KeyEngine, k: u64, now: u64| {
        m.header.spi_i = 0x1000 + k;
        h.datagram(from, to, &m.emit(), Some("VPN"), now)
    };
    for k in 0..limits.max_half_open_per_peer as u64 + 5 {
        send(&mut h, k, 0);
    }
    assert_eq!(h.half_open_count(), limits.max_half_open_per_peer);
    assert_eq!(h.stats.half_open_refused, 5);

    // The rate: with the per-address bound out of the way (the SAs expired), a burst is
    // taken and the rest refused until tokens come back.
    let later = limits.half_open_timeout_ns;
    h.tick(later, &|_| None);
    assert_eq!(h.half_open_count(), 0);
    h.limits.max_half_open_per_peer = 1000;
    for k in 0..100 {
        send(&mut h, 100 + k, later);
    }
    assert_eq!(
        h.half_open_count(),
        limits.init_burst as usize,
        "{:?}",
        h.stats
    );
    assert_eq!(h.stats.rate_limited, 100 - u64::from(limits.init_burst));
    // A second later, a second's worth more.
    for k in 0..100 {
        send(&mut h, 300 + k, later + SECOND);
    }
    assert_eq!(
        h.half_open_count(),
        (limits.init_burst + limits.init_rate_per_s) as usize
    );
}

#[test]
fn ikev2_limits_from_the_configuration_bound_the_engine() {
    let mut h = open_hub(
        "crypto ikev2 cookie-challenge 1000\ncrypto ikev2 limit max-in-negotiation-sa 8\ncrypto ikev2 limit max-sa 500\n",
    );
    assert_eq!(h.limits.max_half_open, 8);
    assert_eq!(h.limits.max_sessions, 500);
    spoof_inits(&mut h, 20, 1, 0);
    assert_eq!(h.half_open_count(), 8);
    assert_eq!(h.stats.half_open_refused, 12);
}

#[test]
fn past_the_cookie_threshold_a_spoofed_flood_costs_no_state_and_locks_nobody_out() {
    let mut h = open_hub("");
    spoof_inits(&mut h, 5000, 1, SECOND);
    assert_eq!(h.half_open_count(), h.cookie_threshold());
    assert_eq!(h.stats.cookies_sent, 5000 - h.cookie_threshold() as u64);
    assert_eq!(h.stats.rate_limited, 0, "{:?}", h.stats);
    // A real peer right after: it returns the cookie and comes up at once.
    let mut s = spoke();
    let first = s.initiate(&("VPN".into(), 10), HUB, 2 * SECOND);
    let (so, ho) = converse(&mut s, &mut h, first, 2 * SECOND);
    assert_eq!((ups(&so).len(), ups(&ho).len()), (1, 1), "{:?}", h.stats);
}

/// A spoofer who fills a real peer's per-address share of half-open SAs (and its rate) with
/// IKE_SA_INITs in that peer's name cannot lock it out: past the share, requests get cookie
/// requests, and the real peer, which receives them, returns the cookie and comes up.
#[test]
fn a_spoofer_cannot_use_up_a_real_peers_share() {
    let mut h = open_hub("crypto ikev2 cookie-challenge 1000\n");
    let mut lure = spoke();
    let first = lure.initiate(&("VPN".into(), 10), HUB, 0);
    let mut m = ike::message::Message::parse(&first.transmit[0].payload).unwrap();
    let victim = SocketAddrV4::new(SPOKE, 500);
    for k in 0..100u64 {
        m.header.spi_i = 0x9000 + k;
        h.datagram(
            victim,
            SocketAddrV4::new(HUB, 500),
            &m.emit(),
            Some("VPN"),
            SECOND,
        );
    }
    assert_eq!(h.half_open_count(), h.limits.max_half_open_per_peer);
    let mut s = spoke();
    let first = s.initiate(&("VPN".into(), 10), HUB, 2 * SECOND);
    let (so, ho) = converse(&mut s, &mut h, first, 2 * SECOND);
    assert_eq!((ups(&so).len(), ups(&ho).len()), (1, 1), "{:?}", h.stats);
    assert!(h.stats.cookies_sent >= 1);
}
