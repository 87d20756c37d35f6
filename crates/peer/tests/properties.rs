//! Random event sequences against the entry state machine: it never panics, attempts only
//! ever go to configured or resolved addresses, never start before the wait the backoff
//! asked for, and failover without a default peer visits peers in list order.

use peer::{
    Action, Answer, Backoff, Dampening, EntryPeers, EntrySettings, IdleTimer, Outcome, PeerName,
    PeerSpec, Phase, NS_PER_S,
};
use proptest::prelude::*;
use std::net::Ipv4Addr;

#[derive(Debug, Clone)]
enum Event {
    Demand,
    Tick,
    Traffic,
    Advance(u64),
    Result(u8),
    Resolve(Vec<u8>, bool),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Demand),
        Just(Event::Tick),
        Just(Event::Traffic),
        (0u64..40_000).prop_map(Event::Advance),
        (0u8..4).prop_map(Event::Result),
        (prop::collection::vec(1u8..5, 0..3), any::<bool>())
            .prop_map(|(a, ok)| Event::Resolve(a, ok)),
    ]
}

fn settings(default: bool, names: bool, damp: bool) -> EntrySettings {
    let mut peers: Vec<PeerSpec> = (1..=3u8)
        .map(|i| PeerSpec {
            name: PeerName::Address(Ipv4Addr::new(10, 0, 0, i)),
            default: false,
        })
        .collect();
    if names {
        peers[1].name = PeerName::Host {
            name: "hub.example.net".into(),
            dynamic: true,
        };
    }
    peers[0].default = default;
    EntrySettings {
        peers,
        idle: Some(IdleTimer {
            seconds: 5,
            to_default: default,
        }),
        backoff: Backoff {
            initial_ns: 100_000_000,
            maximum_ns: 2 * NS_PER_S,
        },
        dampening: damp.then_some(Dampening {
            half_life_ns: 2 * NS_PER_S,
            reuse: 750.0,
            suppress: 2000.0,
            max_suppress_ns: 10 * NS_PER_S,
        }),
        demand_hold_ns: 10 * NS_PER_S,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold(
        default in any::<bool>(),
        names in any::<bool>(),
        damp in any::<bool>(),
        events in prop::collection::vec(event(), 1..120),
    ) {
        let s = settings(default, names, damp);
        let mut e = EntryPeers::new("T 1", s);
        let mut now = 0u64;
        let mut not_before = 0u64;
        let mut resolved: Vec<Ipv4Addr> = Vec::new();
        for ev in events {
            let actions = match ev {
                Event::Demand => e.demand(now),
                Event::Tick => e.tick(now),
                Event::Traffic => { e.traffic(now); Vec::new() }
                Event::Advance(ms) => { now += ms * 1_000_000; Vec::new() }
                Event::Result(k) => {
                    let addr = match e.phase() {
                        Phase::Connecting { addr, .. } | Phase::Up { addr, .. } => addr,
                        _ => Ipv4Addr::new(10, 0, 0, 1),
                    };
                    let outcome = [Outcome::Up, Outcome::Timeout, Outcome::AuthFailure, Outcome::Dead][k as usize];
                    e.outcome(now, addr, outcome)
                }
                Event::Resolve(addrs, ok) => {
                    let peer = match e.phase() { Phase::Resolving { peer } => peer, _ => 1 };
                    let addrs: Vec<Ipv4Addr> = addrs.iter().map(|&i| Ipv4Addr::new(192, 0, 2, i)).collect();
                    resolved.extend(&addrs);
                    let result = if ok {
                        Ok(Answer { addrs, resolved_ns: now, valid_until_ns: now + NS_PER_S, secure: false })
                    } else {
                        Err("lookup failed".into())
                    };
                    e.resolved(now, peer, result)
                }
            };
            for a in &actions {
                match a {
                    Action::Initiate { peer, addr } => {
                        prop_assert!(now >= not_before, "attempt at {now} before {not_before}");
                        match &e.peers()[*peer].spec.name {
                            PeerName::Address(x) => prop_assert_eq!(x, addr),
                            PeerName::Host { .. } => prop_assert!(resolved.contains(addr)),
                        }
                    }
                    Action::WakeAt(t) => {
                        prop_assert!(*t >= now);
                        if matches!(e.phase(), Phase::Waiting { .. }) {
                            not_before = *t;
                        }
                    }
                    Action::Clear { .. } | Action::Resolve { .. } => {}
                }
            }
            if let Phase::Waiting { until_ns } = e.phase() {
                // The wait never exceeds the larger of the backoff and the suppression limits.
                prop_assert!(until_ns <= now + 10 * NS_PER_S + 2 * NS_PER_S);
            }
            prop_assert!(e.current() < e.peers().len());
        }
    }

    #[test]
    fn without_a_default_failover_goes_round_the_list(timeouts in 1usize..12) {
        let mut e = EntryPeers::new("T 1", settings(false, false, false));
        let mut now = 0;
        let mut seen = Vec::new();
        let mut actions = e.demand(now);
        for _ in 0..timeouts {
            let addr = actions.iter().find_map(|a| match a {
                Action::Initiate { addr, .. } => Some(*addr),
                _ => None,
            }).unwrap();
            seen.push(addr.octets()[3]);
            let a = e.outcome(now, addr, Outcome::Timeout);
            now = a.iter().find_map(|x| match x { Action::WakeAt(t) => Some(*t), _ => None }).unwrap();
            actions = e.demand(now);
        }
        let expected: Vec<u8> = (0..timeouts).map(|i| (i % 3) as u8 + 1).collect();
        prop_assert_eq!(seen, expected);
    }
}
