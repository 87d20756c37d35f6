//! Two workers forwarding at once on one SA pair, through `net_pcap` ports with two queues
//! each: the outbound SA's sequence numbers stay unique and gap-free across both workers,
//! and when every inbound ESP packet reaches both workers, each is accepted exactly once.

use dataplane::worker::Worker;
use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig};
use esp::{InboundSa, OutboundSa, SaParams, TunnelTemplate};
use pktbuf::{PacketBuf, TestBuf};
use policy::build::{self, PortBinding};
use policy::{Event, PolicyHandle, Reason, WorkerCounters};
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};
use wire::ipv4::{Ipv4Packet, Ipv4Repr};

const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0x10, 5];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0x20, 2];
const MAC0: [u8; 6] = [2, 0, 0, 0, 1, 1];
const MAC1: [u8; 6] = [2, 0, 0, 0, 2, 1];
const KEY_IN: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_OUT: &str = "101112131415161718191a1b1c1d1e1f20212223";
const PER_QUEUE: usize = 1500;

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn udp(src: [u8; 4], dst: [u8; 4], id: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    Ipv4Repr {
        src: src.into(),
        dst: dst.into(),
        protocol: 17,
        tos: 0,
        ident: id,
        dont_fragment: false,
        ttl: 64,
        payload_len: (len - 20) as u16,
    }
    .emit(&mut p);
    wire::udp::emit_header(&mut p[20..], id, 9, len - 28);
    p[28..30].copy_from_slice(&id.to_be_bytes());
    p
}

fn frame(dst: [u8; 6], src: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    wire::ether::emit(&mut f, dst, src, 0x0800);
    f.extend_from_slice(ip);
    f
}

fn sa_params(spi: u32, key: &str, src: [u8; 4], dst: [u8; 4]) -> SaParams {
    let mut p = SaParams::from_keymat(
        spi,
        esp::Transform::AesGcm128,
        &unhex(key),
        TunnelTemplate::new(src.into(), dst.into()),
    )
    .unwrap();
    p.replay_window = 4096;
    p
}

#[test]
fn two_workers_share_one_sa_pair() {
    let dir = testkit::scratch_dir("two-workers");
    let path = |n: &str| dir.join(n);

    // Inside: a different set of flows on each queue.
    let clear: Vec<Vec<Vec<u8>>> = (0..2)
        .map(|q| {
            (0..PER_QUEUE)
                .map(|i| {
                    udp(
                        [10, 1, 0, 5 + q as u8],
                        [10, 2, 0, 7],
                        (q * PER_QUEUE + i) as u16,
                        100 + i % 300,
                    )
                })
                .collect()
        })
        .collect();
    // Outside: the peer's ESP, every packet on both queues.
    let peer =
        OutboundSa::new(&sa_params(4096, KEY_IN, [192, 0, 2, 2], [192, 0, 2, 1]), 0).unwrap();
    let replies: Vec<Vec<u8>> = (0..PER_QUEUE)
        .map(|i| udp([10, 2, 0, 7], [10, 1, 0, 5], i as u16, 80 + i % 500))
        .collect();
    let esp_frames: Vec<Vec<u8>> = replies
        .iter()
        .map(|p| {
            let mut b = TestBuf::like_mbuf(p);
            peer.encapsulate(&mut b, 0).unwrap();
            frame(MAC1, PEER_MAC, b.data())
        })
        .collect();
    for (q, flows) in clear.iter().enumerate() {
        let frames: Vec<Vec<u8>> = flows.iter().map(|p| frame(MAC0, HOST_MAC, p)).collect();
        pcapfile::write_ethernet(
            path(&format!("in0-{q}.pcap")),
            frames.iter().map(Vec::as_slice),
        )
        .unwrap();
        pcapfile::write_ethernet(
            path(&format!("in1-{q}.pcap")),
            esp_frames.iter().map(Vec::as_slice),
        )
        .unwrap();
    }
    let vdev = |port: usize| {
        format!(
            "net_pcap{port},rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}",
            path(&format!("in{port}-0.pcap")).display(),
            path(&format!("in{port}-1.pcap")).display(),
            path(&format!("out{port}-0.pcap")).display(),
            path(&format!("out{port}-1.pcap")).display()
        )
    };
    let mut args = testkit::eal_args("two", "0@0", &[]);
    for p in 0..2 {
        args.push("--vdev".into());
        args.push(vdev(p));
    }
    let eal = Eal::init(args).expect("EAL starts");
    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    let pc = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        ..PortConfig::default()
    };
    let port0 = Port::start(&eal, 0, &pc, &pool).unwrap();
    let port1 = Port::start(&eal, 1, &pc, &pool).unwrap();

    let text = format!(
        "interface GigabitEthernet0/0\n ip address 10.1.0.1 255.255.255.0\ninterface GigabitEthernet0/1\n ip address 192.0.2.1 255.255.255.0\n crypto map VPN\n\
         ip route 10.2.0.0 255.255.0.0 192.0.2.2\naccess-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255\n\
         crypto ipsec transform-set GCM esp-gcm 128\ncrypto map VPN 10 ipsec-manual\n set peer 192.0.2.2\n set transform-set GCM\n match address 101\n\
         set security-association replay window-size 1024\n\
         set session-key inbound esp 4096 cipher {KEY_IN}\n set session-key outbound esp 8192 cipher {KEY_OUT}\n"
    );
    let cfg = config::check(&text);
    let ports = [
        PortBinding::new("GigabitEthernet0/0", 0, MAC0),
        PortBinding::new("GigabitEthernet0/1", 1, MAC1),
    ];
    let mut built = build::from_config(&cfg.config, &ports, now_ns(), &policy::RingOnly).unwrap();
    for host in 5..7 {
        built
            .policy
            .neighbours
            .insert((0, u32::from(Ipv4Addr::new(10, 1, 0, host))), HOST_MAC);
    }
    built
        .policy
        .neighbours
        .insert((1, u32::from(Ipv4Addr::new(192, 0, 2, 2))), PEER_MAC);
    let outbound = built.policy.maps[0].entries[0].outbound.clone().unwrap();
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let stop = Arc::new(AtomicBool::new(false));
    let (punt_tx, _punt_rx) = dataplane::worker::punt_queues(64, 64);
    let (event_tx, _event_rx) = mpsc::sync_channel::<Event>(64);
    let counters: Vec<Arc<WorkerCounters>> = (0..2)
        .map(|_| Arc::new(WorkerCounters::default()))
        .collect();
    let workers: Vec<Worker> = (0..2u16)
        .map(|q| Worker {
            rx: vec![port0.rx_queue(q).unwrap(), port1.rx_queue(q).unwrap()],
            tx: vec![port0.tx_queue(q).unwrap(), port1.tx_queue(q).unwrap()],
            pool: pool.clone(),
            policy: policy.clone(),
            fib: built.reader.clone(),
            counters: counters[usize::from(q)].clone(),
            punt: punt_tx.clone(),
            events: event_tx.clone(),
            stop: stop.clone(),
            clock: now_ns,
        })
        .collect();
    let expected = (4 * PER_QUEUE) as u64;
    std::thread::scope(|s| {
        for w in workers {
            s.spawn(move || w.run());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let rx: u64 = counters
                .iter()
                .map(|c| {
                    let c = c.snapshot();
                    c.rx[0] + c.rx[1]
                })
                .sum();
            if rx >= expected {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
    });
    let mut total = policy::WorkerCountersSnapshot::default();
    for c in &counters {
        let c = c.snapshot();
        assert!(
            c.encapsulated > 0 && c.rx[1] > 0,
            "each worker did work: {c:?}"
        );
        total.add(&c);
    }
    drop((port0, port1));
    drop(pool);
    drop(eal);

    assert_eq!(total.encapsulated, 2 * PER_QUEUE as u64);
    assert_eq!(
        total.decapsulated, PER_QUEUE as u64,
        "each ESP packet accepted once"
    );
    assert_eq!(
        total.drops(Reason::EspRejected),
        PER_QUEUE as u64,
        "and refused once"
    );
    assert_eq!(outbound.last_seq(), 2 * PER_QUEUE as u64);

    // Outbound: both workers' ESP together carries every sequence number once.
    let mut esp_out: Vec<Vec<u8>> = Vec::new();
    for q in 0..2 {
        let cap = pcapfile::Capture::read(path(&format!("out1-{q}.pcap"))).unwrap();
        esp_out.extend(cap.packets().map(|f| f[14..].to_vec()));
    }
    let seq_of = |p: &Vec<u8>| u32::from_be_bytes(p[24..28].try_into().unwrap());
    esp_out.sort_by_key(seq_of);
    let seqs: Vec<u32> = esp_out.iter().map(seq_of).collect();
    assert_eq!(seqs, (1..=2 * PER_QUEUE as u32).collect::<Vec<_>>());
    let receiver =
        InboundSa::new(&sa_params(8192, KEY_OUT, [192, 0, 2, 1], [192, 0, 2, 2]), 0).unwrap();
    let want: HashSet<Vec<u8>> = clear
        .iter()
        .flatten()
        .map(|p| {
            let mut q = p.clone();
            Ipv4Packet::new_checked(&mut q[..]).unwrap().decrement_ttl();
            q
        })
        .collect();
    let mut got = HashSet::new();
    for p in &esp_out {
        let esp::Classified::Esp(at) = esp::classify(p).unwrap() else {
            panic!()
        };
        let mut b = TestBuf::like_mbuf(p);
        receiver
            .decapsulate(&mut b, &at, 0)
            .expect("the peer accepts it");
        got.insert(b.data().to_vec());
    }
    assert_eq!(got, want);

    // Inbound: the inside saw each reply once.
    let mut inside: Vec<Vec<u8>> = Vec::new();
    for q in 0..2 {
        let cap = pcapfile::Capture::read(path(&format!("out0-{q}.pcap"))).unwrap();
        inside.extend(cap.packets().map(|f| f[14..].to_vec()));
    }
    assert_eq!(inside.len(), PER_QUEUE);
    let distinct: HashSet<&Vec<u8>> = inside.iter().collect();
    assert_eq!(distinct.len(), PER_QUEUE);
    std::fs::remove_dir_all(&dir).unwrap();
}
