//! An IKE flood fills the IKE punt queue only: ARP requests that arrive behind a hundred
//! IKE datagrams still reach the control thread's other queue, and the IKE datagrams past
//! their queue's bound are dropped and counted as `ike-queue-full`. Through a real worker on
//! a DPDK `net_pcap` port, with nobody draining the queues while it runs.

use dataplane::worker::{punt_queues, Worker};
use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig};
use policy::build::{self, PortBinding};
use policy::{Event, PolicyHandle, PuntReason, Reason, WorkerCounters};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];
const THEIR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x09, 0x09];
const IKE_FLOOD: usize = 100;
const ARPS: usize = 5;
const QUEUE: usize = 8;

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn ether(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&THEIR_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IKE_SA_INIT-shaped datagram from a spoofed source to 192.0.2.1:500.
fn ike_from(k: usize) -> Vec<u8> {
    let payload_len = 8 + 28;
    let mut p = vec![0u8; 20 + payload_len];
    wire::ipv4::Ipv4Repr {
        src: Ipv4Addr::from(0xc612_0000 + k as u32),
        dst: Ipv4Addr::new(192, 0, 2, 1),
        protocol: 17,
        tos: 0,
        ident: k as u16,
        dont_fragment: false,
        ttl: 64,
        payload_len: payload_len as u16,
    }
    .emit(&mut p);
    wire::udp::emit_header(&mut p[20..], 500, 500, 28);
    p[28..36].copy_from_slice(&(k as u64 + 1).to_be_bytes()); // SPIi
    p[44] = 33; // next payload: SA
    p[45] = 0x20; // version 2.0
    p[46] = 34; // IKE_SA_INIT
    p[47] = 0x08; // initiator
    p[52..56].copy_from_slice(&28u32.to_be_bytes());
    ether(0x0800, &p)
}

/// An ARP request for 192.0.2.1.
fn arp_request(k: usize) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&THEIR_MAC);
    a.extend_from_slice(&[192, 0, 2, 100 + k as u8]);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&[192, 0, 2, 1]);
    ether(0x0806, &a)
}

#[test]
fn an_ike_flood_does_not_crowd_out_arp() {
    let dir = testkit::scratch_dir("punt");
    let mut frames: Vec<Vec<u8>> = (0..IKE_FLOOD).map(ike_from).collect();
    frames.extend((0..ARPS).map(arp_request));
    let input = dir.join("in.pcap");
    pcapfile::write_ethernet(&input, frames.iter().map(Vec::as_slice)).unwrap();
    let args = testkit::eal_args(
        "punt",
        "0@0",
        &[format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            input.display(),
            dir.join("out.pcap").display()
        )],
    );
    let eal = Eal::init(args).expect("EAL starts");
    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    let port = Port::start(&eal, 0, &PortConfig::default(), &pool).unwrap();
    let cfg = config::check("interface GigabitEthernet0/1\n ip address 192.0.2.1 255.255.255.0\n");
    let ports = [PortBinding::new("GigabitEthernet0/1", 0, OUR_MAC)];
    let built = build::from_config(&cfg.config, &ports, now_ns(), &policy::RingOnly).unwrap();
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let (punt, punted) = punt_queues(QUEUE, QUEUE);
    let (events, _events_rx) = mpsc::sync_channel::<Event>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WorkerCounters::default());
    let worker = Worker {
        rx: vec![port.rx_queue(0).unwrap()],
        tx: vec![port.tx_queue(0).unwrap()],
        policy,
        pool: pool.clone(),
        fib: built.reader.clone(),
        counters: counters.clone(),
        punt,
        events,
        stop: stop.clone(),
        clock: now_ns,
    };
    let watcher = {
        let (stop, counters) = (stop.clone(), counters.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && counters.snapshot().rx[0] < frames.len() as u64 {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, Ordering::Relaxed);
        })
    };
    worker.run();
    watcher.join().unwrap();
    let c = counters.snapshot();
    let local: Vec<PuntReason> = punted.local.try_iter().map(|(_, r, _)| r).collect();
    let ike: Vec<PuntReason> = punted.ike.try_iter().map(|(_, r, _)| r).collect();
    assert_eq!(local, vec![PuntReason::Arp; ARPS], "{c:?}");
    assert_eq!(ike, vec![PuntReason::Ike; QUEUE], "{c:?}");
    assert_eq!(c.drops(Reason::IkeQueueFull), (IKE_FLOOD - QUEUE) as u64);
    assert_eq!(c.drops(Reason::PuntQueueFull), 0);
    drop(port);
    assert_eq!(pool.in_use(), 0, "no mbuf leaked");
    drop(pool);
    drop(eal);
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", testkit::eal_prefix("punt")));
    std::fs::remove_dir_all(&dir).unwrap();
}
