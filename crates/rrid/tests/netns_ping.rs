//! Through network namespaces (the gateway tests' lab): rri attached with `net_af_packet` to
//! veths between an inside namespace (a host, 10.1.0.5) and the WAN bridge, where scapy in a
//! namespace of its own plays the ESP peer (192.0.2.2, protecting 10.2.0.0/16 behind it). A ping from the inside host to 10.2.0.7
//! leaves rri encrypted, the peer decrypts it and answers with ESP, and the reply reaches the
//! host through rri. ARP for rri's addresses and for the peer is rri's own exception path.
//!
//! Needs root (namespaces, veths, raw sockets); `scripts/test` runs as root in CI.

use control::exception::ExceptionPath;
use dataplane::crypto::GcmEngines;
use dataplane::worker::Worker;
use dataplane::ControlTx;
use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig};
use policy::build::{self, PortBinding};
use policy::{Event, PolicyHandle, WorkerCounters};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

mod common;
use common::Lab;

const KEY_IN: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_OUT: &str = "101112131415161718191a1b1c1d1e1f20212223";

use common::now_ns;

#[test]
fn a_ping_goes_out_encrypted_and_its_reply_comes_back() {
    let lab = Lab::new();
    // The ESP peer: a namespace on the WAN bridge, 10.2.0.7 behind it.
    let peer_dev = lab.attach_to_wan("esp", "192.0.2.2", "10.2.0.7");
    let config_text = format!(
        "interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
ip route 10.2.0.0 255.255.0.0 192.0.2.2
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ipsec transform-set GCM esp-gcm 128
crypto map VPN 10 ipsec-manual
 set peer 192.0.2.2
 set transform-set GCM
 match address 101
 set session-key inbound esp 4096 cipher {KEY_IN}
 set session-key outbound esp 8192 cipher {KEY_OUT}
"
    );
    let mut args = testkit::eal_args("netns", "0@0", &[]);
    for (i, dev) in [lab.dev("i0"), lab.dev("o0")].iter().enumerate() {
        args.push("--vdev".into());
        args.push(format!("net_af_packet{i},iface={dev},qpairs=2"));
    }
    let eal = Eal::init(args).expect("EAL starts");
    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    // af_packet spreads received frames over its queue pairs (a fanout group), so the
    // worker polls both rx queues; tx queue 1 is the control thread's.
    let port_config = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        promiscuous: true,
        ..PortConfig::default()
    };
    let port0 = Port::start(&eal, 0, &port_config, &pool).unwrap();
    let port1 = Port::start(&eal, 1, &port_config, &pool).unwrap();
    let ports = [
        PortBinding::new("GigabitEthernet0/0", 0, port0.mac_address().unwrap()),
        PortBinding::new("GigabitEthernet0/1", 1, port1.mac_address().unwrap()),
    ];
    let cfg = config::check(&config_text);
    let built =
        build::from_config(&cfg.config, &ports, now_ns(), &GcmEngines::without_device()).unwrap();
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let (punt_tx, punt_rx) = dataplane::worker::punt_queues(256, 256);
    let (event_tx, event_rx) = mpsc::sync_channel::<Event>(256);
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WorkerCounters::default());
    let worker = Worker {
        rx: vec![
            port0.rx_queue(0).unwrap(),
            port0.rx_queue(1).unwrap(),
            port1.rx_queue(0).unwrap(),
            port1.rx_queue(1).unwrap(),
        ],
        tx: vec![port0.tx_queue(0).unwrap(), port1.tx_queue(0).unwrap()],
        pool: pool.clone(),
        policy: policy.clone(),
        fib: built.reader.clone(),
        counters: counters.clone(),
        punt: punt_tx,
        events: event_tx,
        stop: stop.clone(),
        clock: now_ns,
    };
    let mut exception = ExceptionPath::new(
        policy.clone(),
        built.reader.clone(),
        ControlTx {
            tx: vec![port0.tx_queue(1).unwrap(), port1.tx_queue(1).unwrap()],
            pool: pool.clone(),
        },
    );
    let worker_thread = std::thread::spawn(move || worker.run());

    let peer_script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/esp_peer.py");
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3");
    assert!(
        python.exists(),
        "run scripts/setup (it creates the scapy venv)"
    );
    let peer = Command::new("ip")
        .args(["netns", "exec", &lab.ns("esp")])
        .arg(&python)
        .arg(&peer_script)
        .args([
            &peer_dev,
            "192.0.2.2",
            "192.0.2.1",
            "8192",
            KEY_OUT,
            "4096",
            KEY_IN,
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give scapy time to start sniffing, then ping from the inside host.
    std::thread::sleep(Duration::from_secs(2));
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("in"),
            "ping",
            "-c",
            "8",
            "-i",
            "0.4",
            "-W",
            "2",
            "10.2.0.7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The control thread's loop: exception path until ping is done.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut ping = Some(ping);
    let mut ping_output = None;
    while Instant::now() < deadline {
        for (port, reason, mbuf) in punt_rx.drain(usize::MAX, usize::MAX) {
            exception.handle_punt(port, reason, mbuf, now_ns());
        }
        for event in event_rx.try_iter() {
            exception.handle_event(event, now_ns());
        }
        if let Some(child) = ping.as_mut() {
            if child.try_wait().unwrap().is_some() {
                ping_output = Some(ping.take().unwrap().wait_with_output().unwrap());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let peer_output = peer.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    worker_thread.join().unwrap();
    let c = counters.snapshot();
    drop(punt_rx);
    let stats = exception.stats;
    drop(exception);
    drop((port0, port1));
    drop(pool);
    drop(eal);

    let ping_output = ping_output.expect("ping finished");
    let ping_text = String::from_utf8_lossy(&ping_output.stdout);
    let peer_text = String::from_utf8_lossy(&peer_output.stdout);
    eprintln!(
        "ping:\n{ping_text}{}",
        String::from_utf8_lossy(&ping_output.stderr)
    );
    eprintln!(
        "\npeer: {peer_text}\nstderr: {}\nrri: {c:?}\nexception: {stats:?}",
        String::from_utf8_lossy(&peer_output.stderr)
    );
    let received: u32 = ping_text
        .lines()
        .find_map(|l| {
            l.split(", ")
                .find(|f| f.ends_with(" received"))
                .map(|f| f.trim_end_matches(" received").parse().unwrap())
        })
        .expect("ping summary");
    // The first requests may be lost while rri resolves the peer's MAC (scapy answers ARP
    // in a few hundred milliseconds on a loaded machine: up to four were lost in runs here);
    // once it has, none is.
    let replied: Vec<u32> = ping_text
        .lines()
        .filter_map(|l| l.split("icmp_seq=").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(received >= 3, "only {received} of 8 replies came back");
    assert!(
        (6..=8).all(|seq| replied.contains(&seq)),
        "a request after the first replies was lost: replies to {replied:?}"
    );
    let decrypted: u32 = peer_text
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("peer summary");
    assert!(
        decrypted >= received,
        "the peer decrypted {decrypted} requests"
    );
    assert!(
        c.encapsulated >= u64::from(received) && c.decapsulated >= u64::from(received),
        "{c:?}"
    );
    assert!(
        stats.arp_replies >= 1 && stats.arp_requests >= 1 && stats.neighbours_learned >= 2,
        "{stats:?}"
    );
}
