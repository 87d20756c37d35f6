//! The IPsec Preferred Peer and Real-Time Resolution scenarios of the configuration guide,
//! walked through in simulated time, plus rri's backoff and dampening rules. Entries are
//! built from configuration text through the same path the gateway uses.

use peer::{Action, Answer, EntryPeers, Failure, Outcome, PeerManager, Phase, NS_PER_S};
use std::net::Ipv4Addr;

const S: u64 = NS_PER_S;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The entry `tohub 1` of a configuration whose map body is `body` (global lines first).
fn entry(global: &str, body: &str) -> EntryPeers {
    let text = format!(
        "{global}\naccess-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n\
         crypto ipsec transform-set T esp-gcm 256\n\
         crypto map tohub 1 ipsec-isakmp\n set transform-set T\n match address 101\n{body}\n"
    );
    let checked = config::check(&text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    let manager = PeerManager::from_config(&checked.config);
    manager.entry("tohub", 1).expect("entry").clone()
}

fn initiate(actions: &[Action]) -> Option<Ipv4Addr> {
    actions.iter().find_map(|a| match a {
        Action::Initiate { addr, .. } => Some(*addr),
        _ => None,
    })
}

fn wake(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::WakeAt(t) => Some(*t),
        _ => None,
    })
}

/// Drives a failed attempt and the wait after it; returns the next attempt's address.
fn time_out(e: &mut EntryPeers, now: &mut u64, addr: Ipv4Addr) -> Option<Ipv4Addr> {
    let actions = e.outcome(*now, addr, Outcome::Timeout);
    let until = wake(&actions).expect("a wake-up while demand lasts");
    *now = until;
    let actions = e.tick(*now);
    initiate(&actions)
}

const TWO_PEERS_DEFAULT: &str = " set peer 10.1.1.1 default\n set peer 10.2.2.2";
const THREE_PEERS: &str = " set peer 10.1.1.1\n set peer 10.2.2.2\n set peer 10.3.3.3";
const THREE_PEERS_DEFAULT: &str =
    " set peer 10.1.1.1 default\n set peer 10.2.2.2\n set peer 10.3.3.3";

#[test]
fn the_default_peer_is_tried_first() {
    let mut e = entry("", TWO_PEERS_DEFAULT);
    assert_eq!(e.current(), 0);
    let a = e.demand(0);
    assert_eq!(initiate(&a), Some(ip("10.1.1.1")));
    assert_eq!(
        e.phase(),
        Phase::Connecting {
            peer: 0,
            addr: ip("10.1.1.1")
        }
    );
}

#[test]
fn timeouts_fail_over_through_the_list_and_wrap() {
    let mut e = entry("", THREE_PEERS);
    let mut now = 0;
    assert_eq!(initiate(&e.demand(now)), Some(ip("10.1.1.1")));
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.1.1.1")),
        Some(ip("10.2.2.2"))
    );
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.2.2.2")),
        Some(ip("10.3.3.3"))
    );
    e.demand(now);
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.3.3.3")),
        Some(ip("10.1.1.1"))
    );
    let p = &e.peers()[0];
    assert_eq!(p.counters.timeouts, 1);
    assert_eq!(p.counters.attempts, 2);
    assert!(matches!(p.last_failure, Some((_, Failure::Timeout))));
}

#[test]
fn after_a_timeout_the_default_peer_is_tried_first_then_the_list_continues() {
    let mut e = entry("", THREE_PEERS_DEFAULT);
    let mut now = 0;
    assert_eq!(initiate(&e.demand(now)), Some(ip("10.1.1.1")));
    // The default peer itself fails: on to the second.
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.1.1.1")),
        Some(ip("10.2.2.2"))
    );
    assert!(e.outcome(now, ip("10.2.2.2"), Outcome::Up).is_empty() || e.up_address().is_some());
    assert_eq!(e.up_address(), Some(ip("10.2.2.2")));
    // 10.2.2.2 dies: the next attempt goes to the default peer first ...
    now += 100 * S;
    let a = e.outcome(now, ip("10.2.2.2"), Outcome::Dead);
    assert!(a.contains(&Action::Clear {
        addr: ip("10.2.2.2"),
        reason: Failure::Dead
    }));
    assert_eq!(initiate(&a), Some(ip("10.1.1.1")));
    // ... and when it does not answer, the list continues after the peer that failed.
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.1.1.1")),
        Some(ip("10.3.3.3"))
    );
    // A timeout of 10.3.3.3 sends the next attempt to the default peer again.
    e.demand(now);
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.3.3.3")),
        Some(ip("10.1.1.1"))
    );
    e.outcome(now, ip("10.1.1.1"), Outcome::Up);
    assert_eq!(e.up_address(), Some(ip("10.1.1.1")));
    assert_eq!(e.current(), 0);
}

#[test]
fn the_default_peer_is_returned_to_on_the_next_connection() {
    // The guide's default peer example: tohub with 10.1.1.1 default and 10.2.2.2.
    let mut e = entry("", TWO_PEERS_DEFAULT);
    let mut now = 0;
    e.demand(now);
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.1.1.1")),
        Some(ip("10.2.2.2"))
    );
    e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    // The connection to 10.2.2.2 times out later (a rekey that gets no answer): the next
    // connection is directed to the default peer, not the next in the list.
    now += 60 * S;
    e.outcome(now, ip("10.2.2.2"), Outcome::Dead);
    assert_eq!(
        e.phase(),
        Phase::Connecting {
            peer: 0,
            addr: ip("10.1.1.1")
        }
    );
}

#[test]
fn dead_peer_detection_clears_sas_and_fails_over() {
    let mut e = entry("crypto isakmp keepalive 10 3 periodic", THREE_PEERS);
    let mut now = 0;
    e.demand(now);
    e.outcome(now, ip("10.1.1.1"), Outcome::Up);
    now += 30 * S;
    let a = e.outcome(now, ip("10.1.1.1"), Outcome::Dead);
    assert_eq!(
        a.first(),
        Some(&Action::Clear {
            addr: ip("10.1.1.1"),
            reason: Failure::Dead
        })
    );
    assert_eq!(initiate(&a), Some(ip("10.2.2.2")));
    assert_eq!(e.peers()[0].counters.dead, 1);
    // A late result for the dead peer changes nothing.
    assert!(e.outcome(now, ip("10.1.1.1"), Outcome::Up).is_empty());
    assert_eq!(e.current(), 1);
}

#[test]
fn idle_timer_with_default_returns_to_the_default_peer() {
    // The guide's idle timer example.
    let mut e = entry(
        "",
        " set peer 10.1.1.1 default\n set peer 10.2.2.2\n set security-association idletime 120 default",
    );
    let mut now = 0;
    e.demand(now);
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.1.1.1")),
        Some(ip("10.2.2.2"))
    );
    let a = e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    assert_eq!(wake(&a), Some(now + 120 * S));
    // Traffic keeps it alive.
    e.traffic(now + 100 * S);
    assert!(!e
        .tick(now + 120 * S)
        .iter()
        .any(|a| matches!(a, Action::Clear { .. })));
    assert!(e.up_address().is_some());
    // 120 s without traffic: SAs deleted, and the next connection goes to 10.1.1.1.
    let idle_at = now + 220 * S;
    let a = e.tick(idle_at);
    assert_eq!(
        a,
        vec![Action::Clear {
            addr: ip("10.2.2.2"),
            reason: Failure::Idle
        }]
    );
    assert_eq!(e.phase(), Phase::Idle);
    assert_eq!(initiate(&e.demand(idle_at + S)), Some(ip("10.1.1.1")));
}

#[test]
fn idle_timer_without_default_keeps_the_current_peer() {
    let mut e = entry(
        "",
        " set peer 10.1.1.1 default\n set peer 10.2.2.2\n set security-association idletime 120",
    );
    let mut now = 0;
    e.demand(now);
    assert_eq!(
        time_out(&mut e, &mut now, ip("10.1.1.1")),
        Some(ip("10.2.2.2"))
    );
    e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    let a = e.tick(now + 121 * S);
    assert!(matches!(
        a.as_slice(),
        [Action::Clear {
            reason: Failure::Idle,
            ..
        }]
    ));
    assert_eq!(initiate(&e.demand(now + 122 * S)), Some(ip("10.2.2.2")));
}

#[test]
fn the_global_idle_time_applies_where_the_map_sets_none_or_the_same() {
    let e = entry(
        "crypto ipsec security-association idle-time 300",
        " set peer 10.1.1.1 default\n set peer 10.2.2.2",
    );
    let idle = e.settings().idle.unwrap();
    assert_eq!((idle.seconds, idle.to_default), (300, false));
    // The guide: a map idle time equal to the global one is not added to the map.
    let e = entry(
        "crypto ipsec security-association idle-time 300",
        " set peer 10.1.1.1 default\n set peer 10.2.2.2\n set security-association idletime 300 default",
    );
    let idle = e.settings().idle.unwrap();
    assert_eq!((idle.seconds, idle.to_default), (300, false));
    let e = entry(
        "crypto ipsec security-association idle-time 300",
        " set peer 10.1.1.1 default\n set peer 10.2.2.2\n set security-association idletime 60 default",
    );
    let idle = e.settings().idle.unwrap();
    assert_eq!((idle.seconds, idle.to_default), (60, true));
}

#[test]
fn backoff_doubles_to_its_maximum_and_resets_when_a_tunnel_comes_up() {
    let mut e = entry("crypto peer backoff 500 2000", THREE_PEERS);
    let mut now = 0;
    e.demand(now);
    let mut waits = Vec::new();
    let mut addr = ip("10.1.1.1");
    for _ in 0..5 {
        e.demand(now);
        let a = e.outcome(now, addr, Outcome::Timeout);
        let until = wake(&a).unwrap();
        waits.push((until - now) / 1_000_000);
        // Nothing starts before the wait is over, even with more demand.
        assert_eq!(initiate(&e.demand(until - 1)), None);
        now = until;
        addr = initiate(&e.tick(now)).unwrap();
    }
    assert_eq!(waits, vec![500, 1000, 2000, 2000, 2000]);
    e.outcome(now, addr, Outcome::Up);
    now += S;
    let a = e.outcome(now, addr, Outcome::Dead);
    let next = initiate(&a).unwrap();
    let a = e.outcome(now, next, Outcome::Timeout);
    assert_eq!(wake(&a), Some(now + 500 * 1_000_000));
}

#[test]
fn without_demand_failover_waits_for_the_next_packet() {
    let mut e = entry("", THREE_PEERS);
    e.demand(0);
    // Demand lasts 10 s from the acquire; the attempt times out after 30 s.
    let a = e.outcome(30 * S, ip("10.1.1.1"), Outcome::Timeout);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(initiate(&e.tick(40 * S)), None);
    assert_eq!(e.phase(), Phase::Idle);
    assert_eq!(initiate(&e.demand(41 * S)), Some(ip("10.2.2.2")));
}

#[test]
fn an_authentication_failure_counts_and_fails_over() {
    let mut e = entry("", THREE_PEERS);
    e.demand(0);
    let a = e.outcome(S, ip("10.1.1.1"), Outcome::AuthFailure);
    assert!(wake(&a).is_some());
    assert_eq!(e.peers()[0].counters.auth_failures, 1);
    assert_eq!(e.current(), 1);
}

#[test]
fn a_flapping_peer_is_suppressed_and_reused_after_its_penalty_decays() {
    // Half-life 10 s, reuse 750, suppress 2000, at most 60 s.
    let mut e = entry(
        "crypto peer dampening 10 750 2000 60\ncrypto peer backoff 0 0",
        " set peer 10.1.1.1 default\n set peer 10.2.2.2",
    );
    let mut now = 0;
    // Two quick flaps of the default peer: up, dead, up (via the detour), dead.
    e.demand(now);
    e.outcome(now, ip("10.1.1.1"), Outcome::Up);
    now += S;
    let a = e.outcome(now, ip("10.1.1.1"), Outcome::Dead);
    assert_eq!(initiate(&a), Some(ip("10.2.2.2")));
    e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    now += S;
    let a = e.outcome(now, ip("10.2.2.2"), Outcome::Dead);
    assert_eq!(initiate(&a), Some(ip("10.1.1.1")), "default peer first");
    e.outcome(now, ip("10.1.1.1"), Outcome::Up);
    now += S;
    let a = e.outcome(now, ip("10.1.1.1"), Outcome::Dead);
    // Two flaps of 10.1.1.1 2 s apart: 1000 * 2^-0.2 + 1000 = 1870, under 2000.
    assert_eq!(initiate(&a), Some(ip("10.2.2.2")));
    e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    now += S;
    let a = e.outcome(now, ip("10.2.2.2"), Outcome::Dead);
    assert_eq!(initiate(&a), Some(ip("10.1.1.1")));
    e.outcome(now, ip("10.1.1.1"), Outcome::Up);
    now += S;
    // Third flap of 10.1.1.1 within 4 s: suppressed.
    let a = e.outcome(now, ip("10.1.1.1"), Outcome::Dead);
    assert_eq!(initiate(&a), Some(ip("10.2.2.2")));
    let penalty = e.peers()[0].penalty(e.settings().dampening.as_ref(), now);
    assert!(penalty >= 2000.0, "{penalty}");
    e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    now += S;
    // 10.2.2.2 dies too (its third flap): the default peer would be next, but it is
    // suppressed, and so is 10.2.2.2 now: the entry waits for the first to be reusable.
    let a = e.outcome(now, ip("10.2.2.2"), Outcome::Dead);
    assert_eq!(initiate(&a), None, "{a:?}");
    let until = wake(&a).expect("a wake-up at reuse time");
    let reuse_wait = (until - now) as f64 / S as f64;
    // Penalty of 10.1.1.1 at `now`, decaying to 750 with a 10 s half-life.
    let p = e.peers()[0].penalty(e.settings().dampening.as_ref(), now);
    let expected = 10.0 * (p / 750.0).log2();
    assert!(
        (reuse_wait - expected).abs() < 0.01,
        "{reuse_wait} vs {expected}"
    );
    assert!(e.peers()[0].counters.suppressed_skips >= 1);
    // Routes cannot churn faster than that: nothing starts before, however much traffic
    // asks; at reuse time the default peer is tried again.
    assert_eq!(initiate(&e.demand(until - S)), None);
    assert_eq!(initiate(&e.demand(until)), Some(ip("10.1.1.1")));
}

#[test]
fn dns_names_resolve_before_connecting_and_failures_fail_over() {
    let mut e = entry(
        "ip domain name example.net\nip name-server 127.0.0.1:5353",
        " set peer hub-a dynamic default\n set peer hub-b.example.org\n set peer 10.3.3.3",
    );
    assert_eq!(
        e.peers()[0].spec.name.to_string(),
        "hub-a.example.net dynamic"
    );
    assert_eq!(e.peers()[1].spec.name.to_string(), "hub-b.example.org");
    let mut now = 0;
    let a = e.demand(now);
    assert_eq!(
        a,
        vec![Action::Resolve {
            peer: 0,
            name: "hub-a.example.net".into()
        }]
    );
    // Two addresses: both are candidates, in order.
    let answer = Answer {
        addrs: vec![ip("192.0.2.10"), ip("192.0.2.11")],
        resolved_ns: now,
        valid_until_ns: now + 300 * S,
        secure: false,
    };
    let a = e.resolved(now, 0, Ok(answer));
    assert_eq!(initiate(&a), Some(ip("192.0.2.10")));
    assert_eq!(
        time_out(&mut e, &mut now, ip("192.0.2.10")),
        Some(ip("192.0.2.11"))
    );
    // Both addresses failed: the next peer, whose name is looked up in turn.
    e.demand(now);
    let a = e.outcome(now, ip("192.0.2.11"), Outcome::Timeout);
    now = wake(&a).unwrap();
    let a = e.tick(now);
    assert_eq!(
        a,
        vec![Action::Resolve {
            peer: 1,
            name: "hub-b.example.org".into()
        }]
    );
    // A failed lookup is a failed attempt: the next attempt goes to the default peer first,
    // whose name (dynamic) is looked up again.
    let a = e.resolved(now, 1, Err("hub-b.example.org: no record".into()));
    assert_eq!(e.peers()[1].counters.dns_failures, 1);
    now = wake(&a).unwrap();
    let a = e.tick(now);
    assert_eq!(
        a,
        vec![Action::Resolve {
            peer: 0,
            name: "hub-a.example.net".into()
        }]
    );
    let a = e.resolved(now, 0, Err("timed out".into()));
    now = wake(&a).unwrap();
    // The list continues after the peer that failed: 10.3.3.3 (the backoff has grown past
    // the first acquire's hold; traffic is still waiting).
    assert_eq!(initiate(&e.demand(now)), Some(ip("10.3.3.3")));
    let report = PeerManager::default().report(now);
    assert!(report.is_empty());
}

#[test]
fn the_report_lists_peers_state_and_failures() {
    let mut e = entry("", TWO_PEERS_DEFAULT);
    let mut now = 0;
    e.demand(now);
    time_out(&mut e, &mut now, ip("10.1.1.1"));
    e.outcome(now, ip("10.2.2.2"), Outcome::Up);
    let mut out = String::new();
    peer::report::render_entry(&mut out, &e, now + 5 * S);
    assert!(out.contains("Crypto map entry tohub 1:"), "{out}");
    assert!(
        out.contains("State: up with 10.2.2.2 since 5.0 s ago"),
        "{out}"
    );
    assert!(out.contains("Peer 1: 10.1.1.1 (default)"), "{out}");
    assert!(out.contains("Peer 2: 10.2.2.2 (current)"), "{out}");
    assert!(out.contains("Last failure: connection timed out"), "{out}");
    assert!(out.contains("Attempts 1, up 0, timeouts 1"), "{out}");
    assert!(
        out.contains("Last decision: tunnel up with 10.2.2.2"),
        "{out}"
    );
}
