//! An IKE_SA_INIT flood at the control thread, in real time: a generator thread offers
//! spoofed IKE_SA_INITs (a real request replayed from a new source address in 198.18.0.0/15
//! each time, so no per-address bound catches them) at RATE per second into the bounded IKE
//! queue (1024 deep, as rrid's; a full queue drops and counts, as a worker does), while the
//! control thread runs rrid's turn: at most 256 IKE datagrams, then the timers, about every
//! millisecond. The hub's keyring accepts any address, so every spoof reaches the engine's
//! bounds. A spoke already connected before the flood keeps its IKE SA (liveness checks
//! every second must be answered); a second spoke starts connecting one second into the
//! flood, its datagrams in the same queue as the flood's; the bench reports how long it
//! took, the engine's time per datagram (timers excluded; without a flood the only datagrams
//! are the spokes' own, with their Diffie-Hellman), how many datagrams the queue dropped, the most
//! half-open SAs and sessions seen, and the process's resident memory before, during and
//! after. The same run without a flood is the anchor for the connect time.
//!
//! Run: `cargo bench -p control --bench ike_flood [-- SECONDS RATE]` (defaults 10 and 100000).

use control::engine::{Change, EngineOutput, KeyEngine, Transmit};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUEUE: usize = 1024;
const IKE_PER_TURN: usize = 256;
const HUB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const KEY: &str = "flood-bench-key";

fn engine(text: &str) -> KeyEngine {
    let checked = config::check(text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    KeyEngine::new(Arc::new(checked.config))
}

fn hub() -> KeyEngine {
    engine(&format!(
        "interface GigabitEthernet0/1
 ip address 192.0.2.2 255.255.255.0
 crypto map VPN
access-list 120 permit ip 10.2.0.0 0.0.255.255 10.0.0.0 0.255.255.255
crypto ikev2 keyring KR
 peer ANY
  address 0.0.0.0 0.0.0.0
  pre-shared-key {KEY}
crypto ipsec transform-set TS esp-gcm 256
crypto dynamic-map DYN 10
 set transform-set TS
 match address 120
crypto map VPN 100 ipsec-isakmp dynamic DYN
"
    ))
}

fn spoke(addr: Ipv4Addr, net: u8) -> KeyEngine {
    engine(&format!(
        "interface GigabitEthernet0/1
 ip address {addr} 255.255.255.0
 crypto map VPN
access-list 101 permit ip 10.1.{net}.0 0.0.0.255 10.2.0.0 0.0.255.255
crypto ikev2 keyring KR
 peer HUB
  address 192.0.2.2
  pre-shared-key {KEY}
crypto ikev2 dpd 10 2 periodic
crypto ipsec transform-set TS esp-gcm 256
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set TS
 match address 101
"
    ))
}

/// A datagram for the hub: from, to, payload (non-ESP marker removed).
type Datagram = (SocketAddrV4, SocketAddrV4, Vec<u8>);

fn payload(t: &Transmit) -> Vec<u8> {
    if t.to.port() == 4500 {
        t.payload[4..].to_vec()
    } else {
        t.payload.clone()
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

#[derive(Debug, Default)]
struct Outcome {
    connect_ms: Option<f64>,
    offered: u64,
    queue_dropped: u64,
    processed: u64,
    engine_ns: u64,
    max_half_open: usize,
    max_sessions: usize,
    established_kept: bool,
    rss_kib: [u64; 3],
}

/// Offers spoofed IKE_SA_INITs at `rate` per second until `stop`.
fn flood(
    queue: SyncSender<Datagram>,
    rate: u64,
    stop: Arc<AtomicBool>,
    offered: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
) {
    let mut lure = spoke(Ipv4Addr::new(192, 0, 2, 200), 200);
    let first = lure.initiate(&("VPN".into(), 10), HUB, 0);
    let template = ike::message::Message::parse(&first.transmit[0].payload).unwrap();
    let began = Instant::now();
    let mut sent: u64 = 0;
    let mut k: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = began.elapsed().as_nanos() as u64 * rate / 1_000_000_000;
        while sent < due {
            k = k.wrapping_add(1);
            let mut m = template.clone();
            m.header.spi_i = u64::from(k) << 8 | 1;
            let from = SocketAddrV4::new(Ipv4Addr::from(0xc612_0000 | (k & 0x1_ffff)), 500);
            let d = (from, SocketAddrV4::new(HUB, 500), m.emit());
            if let Err(TrySendError::Full(_)) = queue.try_send(d) {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            sent += 1;
        }
        offered.store(sent, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Runs the hub's control loop for `seconds` with a flood of `rate` (0: none).
fn run(seconds: u64, rate: u64) -> Outcome {
    let mut out = Outcome::default();
    out.rss_kib[0] = rss_kib();
    let mut hub = hub();
    let clock = Instant::now();
    let now = || clock.elapsed().as_nanos() as u64;
    // Spoke A: connected before the flood, with liveness checks every second.
    let a_addr = Ipv4Addr::new(192, 0, 2, 10);
    let mut a = spoke(a_addr, 10);
    let first = a.initiate(&("VPN".into(), 10), HUB, now());
    let mut to_hub: Vec<Datagram> = first
        .transmit
        .iter()
        .map(|t| (t.from, t.to, payload(t)))
        .collect();
    for _ in 0..10 {
        let mut back = Vec::new();
        for (from, to, p) in to_hub.drain(..) {
            back.extend(hub.datagram(from, to, &p, Some("VPN"), now()).transmit);
        }
        for t in back {
            to_hub.extend(
                a.datagram(t.from, t.to, &payload(&t), Some("VPN"), now())
                    .transmit
                    .iter()
                    .map(|t| (t.from, t.to, payload(t))),
            );
        }
    }
    assert_eq!(hub.session_count(), 1, "spoke A is up before the flood");

    let (queue_tx, queue_rx): (SyncSender<Datagram>, Receiver<Datagram>) = sync_channel(QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let (offered, dropped) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let generator = (rate > 0).then(|| {
        let (q, s, o, d) = (
            queue_tx.clone(),
            stop.clone(),
            offered.clone(),
            dropped.clone(),
        );
        std::thread::spawn(move || flood(q, rate, s, o, d))
    });
    // The spokes' datagrams go into the same queue as the flood's (a full queue drops them
    // too), the hub's answers straight back.
    let send = |t: &Transmit| {
        if let Err(TrySendError::Full(_)) = queue_tx.try_send((t.from, t.to, payload(t))) {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    };
    let mut b = spoke(Ipv4Addr::new(192, 0, 2, 11), 11);
    let b_start = Duration::from_secs(1);
    let mut b_started_ns = None;
    let end = clock + Duration::from_secs(seconds);
    let mid = clock + Duration::from_secs(seconds / 2);
    let spoke_turn = |sp: &mut KeyEngine, replies: Vec<Transmit>, t: u64| {
        let mut o = EngineOutput::default();
        for r in replies {
            let x = sp.datagram(r.from, r.to, &payload(&r), Some("VPN"), t);
            o.transmit.extend(x.transmit);
            o.changes.extend(x.changes);
        }
        let x = sp.tick(t, &|_| Some((1, 1)));
        o.transmit.extend(x.transmit);
        o.changes.extend(x.changes);
        o
    };
    let (mut to_a, mut to_b): (Vec<Transmit>, Vec<Transmit>) = (Vec::new(), Vec::new());
    while Instant::now() < end {
        let turn = Instant::now();
        if b_started_ns.is_none() && clock.elapsed() >= b_start {
            let o = b.initiate(&("VPN".into(), 10), HUB, now());
            o.transmit.iter().for_each(send);
            b_started_ns = Some(now());
        }
        let began = Instant::now();
        let mut replies = Vec::new();
        for (from, to, p) in queue_rx.try_iter().take(IKE_PER_TURN) {
            out.processed += 1;
            replies.extend(hub.datagram(from, to, &p, Some("VPN"), now()).transmit);
        }
        out.engine_ns += began.elapsed().as_nanos() as u64;
        replies.extend(hub.tick(now(), &|_| Some((1, 1))).transmit);
        for r in replies {
            if *r.to.ip() == a_addr {
                to_a.push(r);
            } else if *r.to.ip() == Ipv4Addr::new(192, 0, 2, 11) {
                to_b.push(r);
            }
        }
        let t = now();
        spoke_turn(&mut a, std::mem::take(&mut to_a), t)
            .transmit
            .iter()
            .for_each(send);
        let ob = spoke_turn(&mut b, std::mem::take(&mut to_b), t);
        ob.transmit.iter().for_each(send);
        if out.connect_ms.is_none() && ob.changes.iter().any(|c| matches!(c, Change::Up(_))) {
            out.connect_ms = Some((t - b_started_ns.unwrap_or(t)) as f64 / 1e6);
        }
        out.max_half_open = out.max_half_open.max(hub.half_open_count());
        out.max_sessions = out.max_sessions.max(hub.session_count());
        if out.rss_kib[1] == 0 && Instant::now() >= mid {
            out.rss_kib[1] = rss_kib();
        }
        if let Some(rest) = Duration::from_millis(1).checked_sub(turn.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(g) = generator {
        g.join().unwrap();
    }
    out.offered = offered.load(Ordering::Relaxed);
    out.queue_dropped = dropped.load(Ordering::Relaxed);
    out.rss_kib[2] = rss_kib();
    // Spoke A's IKE SA is still there on both sides (its liveness checks were answered).
    out.established_kept = a.session_count() == 1 && hub.session_count() >= 1;
    out
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    println!("# IKE_SA_INIT flood at the control thread: {seconds} s, queue {QUEUE}, {IKE_PER_TURN} IKE datagrams per turn");
    println!(
        "{:>9} {:>10} {:>9} {:>10} {:>8} {:>10} {:>9} {:>8} {:>6} {:>22}",
        "rate/s",
        "offered",
        "dropped",
        "processed",
        "ns/dgm",
        "connect",
        "half-open",
        "sessions",
        "kept",
        "RSS KiB start/mid/end"
    );
    for r in [0, rate] {
        let o = run(seconds, r);
        let per = o.engine_ns.checked_div(o.processed).unwrap_or(0);
        println!(
            "{:>9} {:>10} {:>9} {:>10} {:>8} {:>10} {:>9} {:>8} {:>6} {:>22}",
            r,
            o.offered,
            o.queue_dropped,
            o.processed,
            per,
            o.connect_ms
                .map_or("never".into(), |m| format!("{m:.1} ms")),
            o.max_half_open,
            o.max_sessions,
            o.established_kept,
            format!("{}/{}/{}", o.rss_kib[0], o.rss_kib[1], o.rss_kib[2]),
        );
    }
}
