//! RIB scale benchmark: a 1M-route table shaped like a full BGP view, then 100k
//! RRI routes (one per SA, each SA from its own peer) installed in one batch and withdrawn
//! in one batch, with the FIB change batch drained each time. Goal: each batch under 200 ms.
//! Memory per route is the growth of the process's resident set over the routes added.
//!
//! Run: `cargo bench -p rib --bench rib` (median of 5 rounds).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rib::rri::{SaId, SaOrigin, SaUp};
use rib::{Prefix, Route, RouteEngine, Source, VrfId};

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// xorshift: a fixed, repeatable sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Prefix lengths shaped like a full BGP view: mostly /24, then /22-/23, /16-/21, few shorter.
fn bgp_len(r: u64) -> u8 {
    match r % 1000 {
        0..=549 => 24,
        550..=649 => 23,
        650..=759 => 22,
        760..=819 => 21,
        820..=869 => 20,
        870..=909 => 19,
        910..=939 => 18,
        940..=959 => 17,
        960..=984 => 16,
        985..=994 => 15 - (r % 4) as u8,
        _ => 8 + (r % 4) as u8,
    }
}

const CONFIG: &str = "\
crypto ipsec transform-set ts esp-gcm 256
crypto dynamic-map dyn 1
 set transform-set ts
 set reverse-route distance 5
 set reverse-route tag 100
 reverse-route
crypto map hub 10 ipsec-isakmp dynamic dyn
interface GigabitEthernet0/0
 ip address 192.0.2.2 255.255.255.0
 crypto map hub
interface GigabitEthernet0/1
 ip address 198.18.0.1 255.255.255.0
ip route 0.0.0.0 0.0.0.0 192.0.2.1
";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut e = RouteEngine::new();
    let checked = config::check(CONFIG);
    assert!(!checked.diagnostics.has_errors());
    e.apply_config(&checked.config);
    e.rib.take_changes();

    // A full table: 1M distinct prefixes via four BGP-style next hops on a connected LAN,
    // generated before the memory baseline so that only the RIB's growth is measured.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::HashSet::with_capacity(1_100_000);
    let mut table: Vec<(Prefix, Ipv4Addr)> = Vec::with_capacity(1_000_000);
    while table.len() < 1_000_000 {
        let r = rng.next();
        let len = bgp_len(r >> 32);
        // Keep clear of 0/8, 10/8, 127/8, 224/3 and of the addresses used below.
        let first = 1 + (r % 222) as u8;
        if matches!(first, 10 | 100 | 127 | 172 | 192 | 198) {
            continue;
        }
        let addr = (u32::from(first) << 24) | ((r >> 8) as u32 & 0x00ff_ffff);
        let p = Prefix {
            addr: Ipv4Addr::from(addr & rib::mask(len)),
            len,
        };
        if seen.insert(p) {
            table.push((p, Ipv4Addr::new(198, 18, 0, 2 + (r % 4) as u8)));
        }
    }
    drop(seen);
    let base_rss = rss();
    let started = Instant::now();
    for &(p, gw) in &table {
        e.rib.upsert(
            VrfId::GLOBAL,
            p,
            Route {
                source: Source::Bgp,
                owner: 0,
                distance: 20,
                metric: 0,
                tag: 0,
                next_hop: Some(gw),
                interface: None,
            },
        );
    }
    let load = started.elapsed();
    let table_changes = e.rib.take_changes().len();
    let table_rss = rss() - base_rss;
    println!(
        "full table: {} prefixes loaded in {:.0} ms ({:.2} M routes/s), {} FIB changes, {:.0} bytes/route (RSS growth)",
        table.len(),
        ms(load),
        table.len() as f64 / load.as_secs_f64() / 1e6,
        table_changes,
        table_rss as f64 / table.len() as f64
    );

    // The RIB alone: the same 100k routes without the RRI manager.
    {
        let t = Instant::now();
        for i in 0..100_000u32 {
            let p = Prefix {
                addr: Ipv4Addr::from(0xac10_0000 + (i << 4)),
                len: 28,
            };
            e.rib.upsert(
                VrfId::GLOBAL,
                p,
                Route {
                    source: Source::Rri,
                    owner: i,
                    distance: 5,
                    metric: 0,
                    tag: 100,
                    next_hop: Some(Ipv4Addr::from(0x6440_0000 + i)),
                    interface: None,
                },
            );
        }
        let up = t.elapsed();
        e.rib.take_changes();
        let t = Instant::now();
        for i in 0..100_000u32 {
            let p = Prefix {
                addr: Ipv4Addr::from(0xac10_0000 + (i << 4)),
                len: 28,
            };
            e.rib.remove(VrfId::GLOBAL, p, Source::Rri, i);
        }
        let down = t.elapsed();
        e.rib.take_changes();
        println!(
            "RIB alone: 100k upserts {:.1} ms, 100k removals {:.1} ms",
            ms(up),
            ms(down)
        );
    }

    // 100k SAs, each from its own peer (100.64.0.0/10), each protecting its own /28.
    let sas: Vec<SaUp> = (0..100_000u32)
        .map(|i| SaUp {
            id: SaId(u64::from(i)),
            origin: SaOrigin::DynamicMap {
                map: "hub".into(),
                seq: 10,
                dynamic_seq: 1,
            },
            peer: Ipv4Addr::from(0x6440_0000 + i),
            interface: None,
            remote_proxies: vec![Prefix {
                addr: Ipv4Addr::from(0xac10_0000 + (i << 4)),
                len: 28,
            }],
        })
        .collect();
    let (mut install, mut withdraw, mut rri_rss) = (Vec::new(), Vec::new(), 0);
    for round in 0..5 {
        let before = rss();
        let t = Instant::now();
        for sa in &sas {
            e.sa_up(sa.clone());
        }
        let changes = e.rib.take_changes();
        e.rri.take_events();
        install.push(t.elapsed());
        assert_eq!(changes.len(), sas.len());
        assert!(changes.iter().all(|c| c
            .entry
            .is_some_and(|f| f.resolved.gateway == Ipv4Addr::new(192, 0, 2, 1))));
        if round == 0 {
            rri_rss = rss() - before;
        }
        let t = Instant::now();
        for sa in &sas {
            e.sa_down(sa.id);
        }
        let changes = e.rib.take_changes();
        e.rri.take_events();
        withdraw.push(t.elapsed());
        assert_eq!(changes.len(), sas.len());
        assert!(changes.iter().all(|c| c.entry.is_none()));
    }
    println!(
        "100k RRI routes (100k SAs, 100k peers) with the full table present:\n  \
         install batch  {:>7.1} ms  (goal < 200 ms)\n  withdraw batch {:>7.1} ms  (goal < 200 ms)\n  \
         {:.0} bytes per RRI route (RSS growth, RRI manager and RIB together)",
        ms(median(install)),
        ms(median(withdraw)),
        rri_rss as f64 / sas.len() as f64
    );
}
