//! Route churn while forwarding: a generator offers traffic through `net_ring` ports to
//! addresses whose routes keep changing (RRI /32s that come and go inside a static /16 to
//! the same peer, so every packet has a valid route before and after every change), while
//! the control side makes 10,000 RRI route changes per second and publishes them every
//! millisecond. No packet may meet a missing route, and every offered packet must be
//! accounted for: received, or counted by the worker as a transmit-ring drop (backpressure
//! from the test's own sink thread when the machine is busy, bounded below). Packets lost
//! for any other reason, divided by the offered rate, are the "blocked time", which must be
//! zero.

use dataplane::worker::Worker;
use dpdk::{Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig};
use pktbuf::PacketBuf;
use policy::build::{self, sync_fib, PortBinding};
use policy::{Event, PolicyHandle, Reason, WorkerCounters};
use rib::rri::{SaId, SaOrigin, SaUp};
use rib::Prefix;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};
use wire::ipv4::Ipv4Repr;

const MAC0: [u8; 6] = [2, 0, 0, 0, 1, 1];
const MAC1: [u8; 6] = [2, 0, 0, 0, 2, 1];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0x20, 2];
/// Offered load and duration.
const RATE_PPS: u64 = 200_000;
const SECONDS: u64 = 2;
/// Route changes per millisecond (10k per second).
const CHANGES_PER_MS: u64 = 10;

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

const CONFIG: &str = "\
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
ip route 10.2.0.0 255.255.0.0 192.0.2.2
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.99.0.0 0.0.255.255
crypto ipsec transform-set GCM esp-gcm 128
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set GCM
 match address 101
 reverse-route
";

/// The /32s that flap: 10.2.0.0 - 10.2.3.255.
fn flapping(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a02_0000 + (i % 1024))
}

#[test]
fn churn_does_not_lose_packets_with_valid_routes() {
    let mut args = testkit::eal_args("churn", "0@0", &[]);
    args.extend([
        "--vdev".into(),
        "net_ring0".into(),
        "--vdev".into(),
        "net_ring1".into(),
    ]);
    let eal = Eal::init(args).expect("EAL starts");
    let pool = Mempool::new(
        &eal,
        &MempoolConfig {
            mbufs: 16383,
            ..MempoolConfig::default()
        },
    )
    .unwrap();
    let pc = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        rx_descriptors: 4096,
        tx_descriptors: 4096,
        ..PortConfig::default()
    };
    let port0 = Port::start(&eal, 0, &pc, &pool).unwrap();
    let port1 = Port::start(&eal, 1, &pc, &pool).unwrap();

    let cfg = config::check(CONFIG);
    assert!(!cfg.diagnostics.has_errors(), "{:?}", cfg.diagnostics);
    let ports = [
        PortBinding::new("GigabitEthernet0/0", 0, MAC0),
        PortBinding::new("GigabitEthernet0/1", 1, MAC1),
    ];
    let mut built = build::from_config(&cfg.config, &ports, now_ns(), &policy::RingOnly).unwrap();
    built
        .policy
        .neighbours
        .insert((1, u32::from(Ipv4Addr::new(192, 0, 2, 2))), PEER_MAC);
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let (punt_tx, _punt_rx) = dataplane::worker::punt_queues(64, 64);
    let (event_tx, _event_rx) = mpsc::sync_channel::<Event>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WorkerCounters::default());
    let worker = Worker {
        rx: vec![port0.rx_queue(0).unwrap()],
        tx: vec![port0.tx_queue(1).unwrap(), port1.tx_queue(0).unwrap()],
        pool: pool.clone(),
        policy,
        fib: built.reader.clone(),
        counters: counters.clone(),
        punt: punt_tx,
        events: event_tx,
        stop: stop.clone(),
        clock: now_ns,
    };
    let mut gen_tx = port0.tx_queue(0).unwrap();
    let mut sink_rx = port1.rx_queue(0).unwrap();
    let sent = AtomicU64::new(0);
    let received = AtomicU64::new(0);
    let generating = AtomicBool::new(true);
    let (mut engine, mut fib) = (built.engine, built.fib);
    let mut changes = 0u64;
    let mut publications = 0u64;
    let mut most_routes = 0usize;

    std::thread::scope(|s| {
        s.spawn(|| worker.run());
        // Sink: count what arrives on port 1.
        s.spawn(|| {
            let mut burst: MbufBurst<64> = MbufBurst::new();
            while !stop.load(Ordering::Relaxed) {
                let n = sink_rx.rx_burst(&mut burst);
                received.fetch_add(n as u64, Ordering::Relaxed);
                burst.clear();
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        });
        // Generator: RATE_PPS to the flapping addresses, in bursts of 32, never dropping at
        // its own end (it retries until the ring takes the burst).
        s.spawn(|| {
            let template = {
                let mut f = vec![0u8; 64];
                wire::ether::emit(&mut f, MAC0, [2, 0, 0, 0, 0x10, 5], 0x0800);
                f
            };
            let start = Instant::now();
            let total = RATE_PPS * SECONDS;
            let mut n = 0u64;
            while n < total {
                let due = (start.elapsed().as_nanos() as u64 * RATE_PPS / 1_000_000_000).min(total);
                if n + 32 > due {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                }
                let mut burst: MbufBurst<32> = MbufBurst::new();
                for k in 0..32 {
                    let mut m = pool.alloc().expect("mbufs");
                    let f = m.append(64).unwrap();
                    f.copy_from_slice(&template);
                    Ipv4Repr {
                        src: Ipv4Addr::new(10, 1, 0, 5),
                        dst: flapping((n + k) as u32 * 7),
                        protocol: 17,
                        tos: 0,
                        ident: (n + k) as u16,
                        dont_fragment: false,
                        ttl: 64,
                        payload_len: 50 - 20,
                    }
                    .emit(&mut f[14..]);
                    let _ = burst.push(m);
                }
                while !burst.is_empty() {
                    gen_tx.tx_burst(&mut burst);
                }
                n += 32;
                sent.store(n, Ordering::Relaxed);
            }
            generating.store(false, Ordering::Relaxed);
        });
        // Control: 10 RRI changes every millisecond, published each time. A round that
        // overran (a debug build on a loaded machine) is made up in the next: the changes
        // owed for the time elapsed, so that the rate holds with larger batches.
        let mut up = vec![false; 1024];
        let mut next = 0u32;
        let control_start = Instant::now();
        let mut tick = control_start;
        while generating.load(Ordering::Relaxed) {
            let owed = (control_start.elapsed().as_micros() as u64 * CHANGES_PER_MS / 1000)
                .max(changes + CHANGES_PER_MS)
                - changes;
            for _ in 0..owed {
                let i = next % 1024;
                next = next.wrapping_add(389);
                if up[i as usize] {
                    engine.sa_down(SaId(u64::from(i)));
                } else {
                    engine.sa_up(SaUp {
                        id: SaId(u64::from(i)),
                        origin: SaOrigin::CryptoMap {
                            map: "VPN".into(),
                            seq: 10,
                        },
                        peer: Ipv4Addr::new(192, 0, 2, 2),
                        interface: None,
                        remote_proxies: vec![Prefix {
                            addr: flapping(i),
                            len: 32,
                        }],
                    });
                }
                up[i as usize] = !up[i as usize];
                changes += 1;
            }
            sync_fib(&mut engine, &mut fib);
            publications += 1;
            most_routes = most_routes.max(fib.len(0));
            tick += Duration::from_millis(1);
            if let Some(wait) = tick.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        // Let the last packets drain.
        let deadline = Instant::now() + Duration::from_secs(5);
        while received.load(Ordering::Relaxed) < sent.load(Ordering::Relaxed)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let c = counters.snapshot();
    let (sent, received) = (sent.into_inner(), received.into_inner());
    let lost = sent - received;
    let lost_us = lost as f64 / RATE_PPS as f64 * 1e6;
    eprintln!(
        "offered {sent} at {RATE_PPS} pps, received {received}, lost {lost} ({lost_us:.1} us of traffic); \
         {changes} route changes in {publications} publications; worker drops {:?}; fib {:?}",
        Reason::ALL.iter().filter(|r| c.drops(**r) > 0).map(|r| (r.as_str(), c.drops(*r))).collect::<Vec<_>>(),
        fib.stats()
    );
    drop((port0, port1));
    drop(pool);
    drop(eal);
    assert_eq!(c.drops(Reason::NoRoute), 0, "a packet met a missing route");
    assert!(
        changes as f64 >= 0.9 * 10_000.0 * SECONDS as f64,
        "only {changes} changes"
    );
    assert!(
        most_routes > 300,
        "the RRI /32s reached the FIB (at most {most_routes} routes)"
    );
    let tx_full = c.drops(Reason::TxFull);
    let unexplained = lost.saturating_sub(tx_full);
    assert_eq!(
        unexplained,
        0,
        "blocked time {:.1} us beyond {tx_full} transmit-ring drops",
        unexplained as f64 / RATE_PPS as f64 * 1e6
    );
    assert!(
        tx_full <= sent / 100,
        "sink backpressure dropped {tx_full} of {sent}"
    );
}
