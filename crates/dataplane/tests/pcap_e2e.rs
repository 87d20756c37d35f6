//! End to end through DPDK `net_pcap` ports: a configuration with a static route and a
//! manual-key crypto map; cleartext from the inside becomes ESP that scapy and tshark
//! decrypt back to the input packets (TTL decremented); ESP that scapy builds comes out as
//! cleartext; traffic outside the ACL and traffic hitting a `deny` entry passes in the
//! clear; malformed packets are dropped with the expected counters.

use dataplane::crypto::GcmEngines;
use dataplane::worker::Worker;
use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig};
use policy::build::{self, PortBinding};
use policy::{Event, PolicyHandle, PuntReason, Reason, WorkerCounters};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};
use wire::ipv4::{Ipv4Packet, Ipv4Repr};

const INSIDE_HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x10, 0x05];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x20, 0x02];
const OUR_MAC_IN: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
const OUR_MAC_OUT: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];
const KEY_IN: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_OUT: &str = "101112131415161718191a1b1c1d1e1f20212223";

fn config_text() -> String {
    format!(
        "hostname rri-e2e
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
ip route 10.2.0.0 255.255.0.0 192.0.2.2
ip route 10.3.0.0 255.255.0.0 192.0.2.2
access-list 101 deny ip 10.1.0.0 0.0.255.255 10.2.9.0 0.0.0.255
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ipsec transform-set GCM esp-gcm 128
 mode tunnel
crypto map VPN 10 ipsec-manual
 set peer 192.0.2.2
 set transform-set GCM
 match address 101
 set session-key inbound esp 4096 cipher {KEY_IN}
 set session-key outbound esp 8192 cipher {KEY_OUT}
"
    )
}

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn udp(src: [u8; 4], dst: [u8; 4], len: usize, ttl: u8, df: bool, seed: u8) -> Vec<u8> {
    let mut p = vec![0u8; len];
    Ipv4Repr {
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        protocol: 17,
        tos: 0,
        ident: u16::from(seed),
        dont_fragment: df,
        ttl,
        payload_len: (len - 20) as u16,
    }
    .emit(&mut p);
    wire::udp::emit_header(&mut p[20..], 5000 + u16::from(seed), 6000, len - 28);
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = seed.wrapping_mul(7).wrapping_add(i as u8);
    }
    p
}

fn frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    wire::ether::emit(&mut f, dst, src, ethertype);
    f.extend_from_slice(payload);
    f
}

fn with_ttl_decremented(p: &[u8]) -> Vec<u8> {
    let mut q = p.to_vec();
    Ipv4Packet::new_checked(&mut q[..]).unwrap().decrement_ttl();
    q
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup",
        venv.display()
    );
    venv
}

/// Runs crates/esp/tests/scapy_esp.py over (seq, packet) lines.
fn scapy(
    mode: &str,
    spi: u32,
    key: &str,
    src: &str,
    dst: &str,
    lines: &[(u64, Vec<u8>)],
) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../esp/tests/scapy_esp.py");
    let mut child = Command::new(python())
        .arg(script)
        .args([
            mode,
            &spi.to_string(),
            "AES-GCM",
            key,
            src,
            dst,
            "0",
            "0",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = lines
        .iter()
        .map(|(s, p)| format!("{s} {}\n", hex(p)))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn read_frames(path: &Path) -> Vec<Vec<u8>> {
    pcapfile::Capture::read(path)
        .unwrap()
        .packets()
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn cleartext_to_esp_and_back_through_pcap_ports() {
    let dir = testkit::scratch_dir("pcap");
    let inside = Ipv4Addr::new(10, 1, 0, 5);

    // Inside -> port 0: protected traffic, traffic a deny entry exempts, traffic outside
    // the ACL, and malformed frames.
    let protected: Vec<Vec<u8>> = [64usize, 100, 333, 1000, 1400]
        .iter()
        .enumerate()
        .map(|(i, &n)| udp([10, 1, 0, 5], [10, 2, 0, 7], n, 64, i % 2 == 0, i as u8))
        .collect();
    let denied = udp([10, 1, 0, 5], [10, 2, 9, 9], 200, 64, false, 50);
    let outside_acl = udp([10, 1, 0, 5], [10, 3, 0, 9], 120, 64, false, 51);
    let mut bad_checksum = udp([10, 1, 0, 5], [10, 2, 0, 7], 80, 64, false, 52);
    bad_checksum[10] ^= 0x55;
    let mut truncated = udp([10, 1, 0, 5], [10, 2, 0, 7], 80, 64, false, 53);
    truncated[2..4].copy_from_slice(&500u16.to_be_bytes());
    Ipv4Packet::new_checked(&mut truncated[..]).err(); // stays truncated: 500 > 80
    let ttl_one = udp([10, 1, 0, 5], [10, 2, 0, 7], 90, 1, false, 54);
    let no_route = udp([10, 1, 0, 5], [172, 16, 0, 1], 90, 64, false, 55);

    let mut in0: Vec<Vec<u8>> = protected
        .iter()
        .map(|p| frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, p))
        .collect();
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, &denied));
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, &outside_acl));
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, &bad_checksum));
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, &truncated[..80]));
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x86dd, &[0x60; 60]));
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, &ttl_one));
    in0.push(frame(OUR_MAC_IN, INSIDE_HOST_MAC, 0x0800, &no_route));
    in0.push(vec![0xff; 10]);

    // Peer -> port 1: ESP built by scapy with the inbound key, one replayed, one unknown SPI.
    let replies: Vec<(u64, Vec<u8>)> = [80usize, 700, 1300]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (
                i as u64 + 1,
                udp([10, 2, 0, 7], [10, 1, 0, 5], n, 60, false, 100 + i as u8),
            )
        })
        .collect();
    let esp_in: Vec<Vec<u8>> = scapy("encrypt", 4096, KEY_IN, "192.0.2.2", "192.0.2.1", &replies)
        .iter()
        .map(|l| unhex(l))
        .collect();
    let mut in1: Vec<Vec<u8>> = esp_in
        .iter()
        .map(|p| frame(OUR_MAC_OUT, PEER_MAC, 0x0800, p))
        .collect();
    in1.push(in1[0].clone()); // replay
    let mut bad_spi = esp_in[1].clone();
    bad_spi[20..24].copy_from_slice(&777u32.to_be_bytes());
    in1.push(frame(OUR_MAC_OUT, PEER_MAC, 0x0800, &bad_spi));

    let (rx0, tx0, rx1, tx1) = (
        dir.join("rx0.pcap"),
        dir.join("tx0.pcap"),
        dir.join("rx1.pcap"),
        dir.join("tx1.pcap"),
    );
    pcapfile::write_ethernet(&rx0, in0.iter().map(Vec::as_slice)).unwrap();
    pcapfile::write_ethernet(&rx1, in1.iter().map(Vec::as_slice)).unwrap();

    let vdevs = [
        format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            rx0.display(),
            tx0.display()
        ),
        format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            rx1.display(),
            tx1.display()
        ),
    ];
    let mut args = testkit::eal_args("pcap", "0@0", &[]);
    for v in &vdevs {
        args.push("--vdev".into());
        args.push(v.clone());
    }
    // The outbound SA seals its bursts on intel-ipsec-mb (crypto_aesni_gcm), so what scapy and
    // tshark check below is that path through the worker; the other worker tests use ring.
    args.push("--vdev".into());
    args.push("crypto_aesni_gcm".into());
    let eal = Eal::init(args).expect("EAL starts");
    let engines = GcmEngines::with_device(&eal, "crypto_aesni_gcm");
    assert!(engines.has_device(), "crypto_aesni_gcm offers CPU crypto");
    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    let port0 = Port::start(&eal, 0, &PortConfig::default(), &pool).unwrap();
    let port1 = Port::start(&eal, 1, &PortConfig::default(), &pool).unwrap();

    let cfg = config::check(&config_text());
    // Nothing but the advice against manual keys with AEAD ciphers.
    assert!(
        cfg.diagnostics
            .0
            .iter()
            .all(|d| d.code == config::Code::ManualKeyAead),
        "{:?}",
        cfg.diagnostics
    );
    let ports = [
        PortBinding::new("GigabitEthernet0/0", 0, OUR_MAC_IN),
        PortBinding::new("GigabitEthernet0/1", 1, OUR_MAC_OUT),
    ];
    let mut built = build::from_config(&cfg.config, &ports, now_ns(), &engines).expect("builds");
    built
        .policy
        .neighbours
        .insert((0, u32::from(inside)), INSIDE_HOST_MAC);
    built
        .policy
        .neighbours
        .insert((1, u32::from(Ipv4Addr::new(192, 0, 2, 2))), PEER_MAC);
    let outbound_sa = built.policy.maps[0].entries[0].outbound.clone().unwrap();
    assert!(
        outbound_sa.has_burst_seal(),
        "the AES-GCM SA seals on the device"
    );
    let inbound_sa = built.policy.inbound[&4096].sa.clone();
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));

    let (punt_tx, punt_rx) = dataplane::worker::punt_queues(64, 64);
    let (event_tx, event_rx) = mpsc::sync_channel::<Event>(64);
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WorkerCounters::default());
    let worker = Worker {
        rx: vec![port0.rx_queue(0).unwrap(), port1.rx_queue(0).unwrap()],
        tx: vec![port0.tx_queue(0).unwrap(), port1.tx_queue(0).unwrap()],
        policy,
        pool: pool.clone(),
        fib: built.reader.clone(),
        counters: counters.clone(),
        punt: punt_tx,
        events: event_tx,
        stop: stop.clone(),
        clock: now_ns,
    };
    let expected_rx = (in0.len() + in1.len()) as u64;
    let watcher = {
        let (stop, counters) = (stop.clone(), counters.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let c = counters.snapshot();
                if c.rx[0] + c.rx[1] >= expected_rx {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    worker.run();
    watcher.join().unwrap();
    let c = counters.snapshot();
    let punted: Vec<(u16, PuntReason, usize)> = punt_rx
        .drain(usize::MAX, usize::MAX)
        .map(|(p, r, m)| (p, r, pktbuf::PacketBuf::len(&m)))
        .collect();
    let events: Vec<Event> = event_rx.try_iter().collect();
    drop((port0, port1));
    assert_eq!(pool.in_use(), 0, "no mbuf leaked");
    drop(pool);
    drop(eal);

    assert_eq!((c.rx[0], c.rx[1]), (in0.len() as u64, in1.len() as u64));
    assert_eq!(c.drops(Reason::IpChecksum), 1);
    assert_eq!(c.drops(Reason::IpTruncated), 1);
    assert_eq!(c.drops(Reason::NotIpv4), 1);
    assert_eq!(c.drops(Reason::L2Malformed), 1);
    assert_eq!(c.drops(Reason::NoRoute), 1);
    assert_eq!(c.drops(Reason::EspRejected), 1, "the replay");
    assert_eq!(c.drops(Reason::BadSpi), 1);
    assert_eq!(c.total_drops(), 7);
    assert_eq!(punted, vec![(0, PuntReason::TtlExceeded, 14 + 90)]);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        (c.encapsulated, c.decapsulated),
        (protected.len() as u64, replies.len() as u64)
    );
    assert_eq!(
        inbound_sa
            .counters()
            .snapshot()
            .drops(esp::DropReason::Replay),
        1
    );
    assert_eq!(outbound_sa.last_seq(), protected.len() as u64);

    // Port 1 carries the ESP (in order) and the two cleartext packets.
    let out1 = read_frames(&tx1);
    assert_eq!(out1.len(), protected.len() + 2);
    for f in &out1 {
        assert_eq!(
            &f[..12],
            &[PEER_MAC, OUR_MAC_OUT].concat()[..],
            "L2 rewritten toward the peer"
        );
    }
    let esp_frames: Vec<&Vec<u8>> = out1.iter().filter(|f| f[23] == 50).collect();
    let clear: Vec<Vec<u8>> = out1
        .iter()
        .filter(|f| f[23] != 50)
        .map(|f| f[14..].to_vec())
        .collect();
    assert_eq!(
        clear,
        vec![
            with_ttl_decremented(&denied),
            with_ttl_decremented(&outside_acl)
        ]
    );
    let lines: Vec<(u64, Vec<u8>)> = esp_frames
        .iter()
        .enumerate()
        .map(|(i, f)| (i as u64 + 1, f[14..].to_vec()))
        .collect();
    let decrypted = scapy("decrypt", 8192, KEY_OUT, "192.0.2.1", "192.0.2.2", &lines);
    for (got, want) in decrypted.iter().zip(&protected) {
        assert_eq!(
            got,
            &hex(&with_ttl_decremented(want)),
            "scapy's plaintext differs"
        );
    }

    // tshark reads the same capture with the outbound key.
    let uat = format!(
        "uat:esp_sa:\"IPv4\",\"192.0.2.1\",\"192.0.2.2\",\"0x00002000\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{KEY_OUT}\",\"NULL\",\"\""
    );
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&tx1)
        .args([
            "-o",
            "esp.enable_encryption_decode:TRUE",
            "-o",
            &uat,
            "-Y",
            "esp",
        ])
        .args([
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "ip.ttl",
            "-e",
            "udp.length",
        ])
        .output()
        .expect("tshark runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), protected.len(), "{text}");
    for (row, p) in rows.iter().zip(&protected) {
        assert_eq!(
            *row,
            format!(
                "192.0.2.1,10.1.0.5\t192.0.2.2,10.2.0.7\t64,63\t{}",
                p.len() - 20
            )
        );
    }

    // Port 0 carries the decrypted replies toward the inside host.
    let out0 = read_frames(&tx0);
    let want: Vec<Vec<u8>> = replies
        .iter()
        .map(|(_, p)| {
            frame(
                INSIDE_HOST_MAC,
                OUR_MAC_IN,
                0x0800,
                &with_ttl_decremented(p),
            )
        })
        .collect();
    assert_eq!(
        out0.iter().map(|f| hex(f)).collect::<Vec<_>>(),
        want.iter().map(|f| hex(f)).collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Once the engines and the SAs sealing on the device are gone, the EAL cleans up.
    drop(engines);
    drop((outbound_sa, inbound_sa));
    let runtime = Path::new("/var/run/dpdk").join(testkit::eal_prefix("pcap"));
    assert!(!runtime.exists(), "{} left behind", runtime.display());
}
