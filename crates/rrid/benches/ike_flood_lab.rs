//! An IKE_SA_INIT flood through the whole gateway: rri's data plane on veths (the gateway
//! tests' lab: a worker polling `net_af_packet` ports, the control thread serving the IKE
//! queue 256 datagrams a turn as rrid does), strongSwan peers, and `tcpreplay` sending
//! spoofed IKE_SA_INITs (a real request from 4096 source addresses in 198.18.0.0/15) at RATE
//! frames per second from a namespace on the WAN bridge. Peer A (strongSwan, 192.0.2.2) is
//! connected before the flood, and a ping runs from the inside host through its SA for the
//! whole flood (100 per second); one second into the flood peer B (192.0.2.3) connects. The
//! bench prints, with and without the flood: B's connect time, pings lost, the rate tcpreplay
//! reached, the worker's IKE queue drops, the engine's refusals and cookies, the largest
//! half-open count and the process's resident memory.
//!
//! Run (root; tcpreplay and strongSwan from scripts/setup):
//! `cargo bench -p rrid --bench ike_flood_lab [-- SECONDS RATE]` (defaults 10 and 100000).

// The gateway tests' lab (its own `allow(dead_code)` covers what the bench does not use).
#[path = "../tests/common/mod.rs"]
mod common;

use common::{config, out, sh, Charon, Gateway, Lab};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DYNAMIC_ENTRY: &str = "crypto dynamic-map DYN 10
 set transform-set TS
 set ikev2-profile PROF
 reverse-route
crypto map VPN 100 ipsec-isakmp dynamic DYN
";
const SW_IKE: &str = "aes128gcm16-prfsha256-x25519";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

/// An Ethernet frame: a real IKE_SA_INIT from `src` to 192.0.2.1:500.
fn flood_frame(dst_mac: [u8; 6], src_mac: [u8; 6], ike: &[u8], src: Ipv4Addr, k: u16) -> Vec<u8> {
    let mut ip = vec![0u8; 20 + 8 + ike.len()];
    wire::ipv4::Ipv4Repr {
        src,
        dst: Ipv4Addr::new(192, 0, 2, 1),
        protocol: 17,
        tos: 0,
        ident: k,
        dont_fragment: false,
        ttl: 64,
        payload_len: (8 + ike.len()) as u16,
    }
    .emit(&mut ip);
    // RRI_FLOOD_PORT=9 sends the same frames to the discard port instead of IKE's: the
    // control thread never sees them, which separates what the flood costs the machine
    // (2 cores here) from what IKE handling costs.
    let port = std::env::var("RRI_FLOOD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(500);
    wire::udp::emit_header(&mut ip[20..], 500, port, ike.len());
    ip[28..].copy_from_slice(ike);
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&ip);
    f
}

fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
    let text = out(&format!("ip -n {ns} -br link show {dev}"));
    let word = text.split_whitespace().nth(2).unwrap_or_default();
    let v: Vec<u8> = word
        .split(':')
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    v.try_into().unwrap_or([0; 6])
}

#[derive(Debug, Default)]
struct Outcome {
    connect_ms: Option<f64>,
    pings_sent: u32,
    pings_lost: u32,
    replay_pps: String,
    ike_queue_full: u64,
    half_open_refused: u64,
    rate_limited: u64,
    no_entry: u64,
    drops: String,
    cookies: u64,
    max_half_open: usize,
    rss_kib: (u64, u64),
}

fn run(seconds: u64, rate: u64) -> Outcome {
    let mut o = Outcome::default();
    let lab = Lab::new();
    let a = Charon::start(&lab, "swa", SW_IKE, "aes128gcm16");
    let b = Charon::start(&lab, "swb", SW_IKE, "aes128gcm16");
    // A head-end for roaming spokes: its keyring has a key for any address, so every
    // spoofed IKE_SA_INIT reaches the engine's bounds (with keys for A and B only, the
    // spoofs would be refused as matching no entry, which costs less).
    let text = config("esp-gcm 128", "aes-gcm-128", DYNAMIC_ENTRY).replace(
        "crypto ikev2 profile PROF",
        &format!(
            " peer ANY\n  address 0.0.0.0 0.0.0.0\n  pre-shared-key {}\ncrypto ikev2 profile PROF",
            common::PSK
        ),
    );
    assert!(text.contains("peer ANY"), "{text}");
    let gw = Gateway::start(&lab, &text);
    let up = a.vici("--initiate --child net --timeout 15");
    assert!(up.contains("initiate completed successfully"), "{up}");
    assert_eq!(lab.ping_from_inside("10.2.0.1", 3, "0.2"), 3, "A forwards");
    o.rss_kib.0 = rss_kib();

    // The flood's namespace on the WAN bridge, and its capture.
    let (fl, wan) = (lab.ns("fl"), lab.ns("wan"));
    let (fa, fb) = (lab.dev("fla"), lab.dev("flb"));
    sh(&format!(
        "ip netns add {fl} && ip link add {fa} type veth peer name {fb} && \
         ip link set {fa} netns {wan} && ip link set {fb} netns {fl} && \
         ip -n {wan} link set {fa} master br0 && ip -n {wan} link set {fa} up && \
         ip -n {fl} link set {fb} up && ip -n {fl} addr add 192.0.2.50/24 dev {fb} && \
         ip -n {fl} addr add 192.0.2.254/24 dev {fb}"
    ));
    let dir = std::env::temp_dir().join(format!("rri-flood-{}", lab.tag));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("flood.pcap");
    let mut lure = common_spoke();
    let init = lure.initiate(&("VPN".into(), 10), Ipv4Addr::new(192, 0, 2, 1), 0);
    let template = ike::message::Message::parse(&init.transmit[0].payload).unwrap();
    let (gw_mac, fl_mac) = (gw.bindings[1].mac, mac_of(&fl, &fb));
    let frames: Vec<Vec<u8>> = (0..4096u32)
        .map(|k| {
            let mut m = template.clone();
            m.header.spi_i = u64::from(k + 1) << 16 | 7;
            let src = Ipv4Addr::from(0xc612_0000 | (k * 31 + 1));
            flood_frame(gw_mac, fl_mac, &m.emit(), src, k as u16)
        })
        .collect();
    pcapfile::write_ethernet(&pcap, frames.iter().map(Vec::as_slice)).unwrap();

    let flood = (rate > 0).then(|| {
        Command::new("ip")
            .args(["netns", "exec", &fl, "timeout", "-s", "INT"])
            .arg(format!("{seconds}"))
            .args(["tcpreplay", "--preload-pcap", "--loop=0", "-q"])
            .arg(format!("--pps={rate}"))
            .arg(format!("--intf1={fb}"))
            .arg(&pcap)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpreplay runs (scripts/setup installs it)")
    });
    let began = Instant::now();
    let pings = seconds.saturating_sub(2) * 100;
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("in"),
            "ping",
            "-n",
            "-q",
            "-i",
            "0.01",
            "-W",
            "1",
        ])
        .args(["-c", &pings.to_string(), "10.2.0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let b_began = Instant::now();
    let up = b.vici("--initiate --child net --timeout 20");
    if up.contains("initiate completed successfully") {
        o.connect_ms = Some(b_began.elapsed().as_secs_f64() * 1000.0);
    }
    while began.elapsed() < Duration::from_secs(seconds) {
        o.max_half_open = o.max_half_open.max(gw.with(|c| c.engine.half_open_count()));
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(f) = flood {
        let text = f.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&text.stdout).into_owned()
            + &String::from_utf8_lossy(&text.stderr);
        o.replay_pps = said
            .lines()
            .find(|l| l.trim_start().starts_with("Rated:"))
            .and_then(|l| l.split(',').find(|f| f.contains("pps")))
            .map_or("?".into(), |f| f.trim().to_string());
    }
    let ping = ping.wait_with_output().unwrap();
    let received = common::received(&String::from_utf8_lossy(&ping.stdout));
    o.pings_sent = pings as u32;
    o.pings_lost = o.pings_sent.saturating_sub(received);
    let c = gw.counters();
    o.ike_queue_full = c.drops(policy::Reason::IkeQueueFull);
    o.drops = policy::Reason::ALL
        .iter()
        .filter(|r| c.drops(**r) > 0)
        .map(|r| format!("{}={}", r.as_str(), c.drops(*r)))
        .collect::<Vec<_>>()
        .join(" ")
        + &format!(
            "; rx outside {} inside {}, punted {}, encapsulated {}, decapsulated {}, worker rounds {}",
            c.rx[1], c.rx[0], c.punted, c.encapsulated, c.decapsulated, c.bursts
        )
        + &gw
            .outside_port_stats()
            .map(|p| {
                format!(
                    "; outside port: ipackets {} imissed {} ierrors {} rx_nombuf {} opackets {} oerrors {}",
                    p.ipackets, p.imissed, p.ierrors, p.rx_nombuf, p.opackets, p.oerrors
                )
            })
            .unwrap_or_default();
    let stats = gw.with(|c| c.engine.stats);
    o.half_open_refused = stats.half_open_refused;
    o.rate_limited = stats.rate_limited;
    o.no_entry = stats.no_matching_entry;
    o.cookies = stats.cookies_sent;
    o.rss_kib.1 = rss_kib();
    let _ = Command::new("ip").args(["netns", "del", &fl]).status();
    let _ = std::fs::remove_dir_all(&dir);
    o
}

/// An rri spoke whose first IKE_SA_INIT is the flood's template.
fn common_spoke() -> control::engine::KeyEngine {
    let text = "interface GigabitEthernet0/1
 ip address 192.0.2.99 255.255.255.0
 crypto map VPN
access-list 101 permit ip 10.9.0.0 0.0.255.255 10.1.0.0 0.0.255.255
crypto ikev2 keyring KR
 peer HUB
  address 192.0.2.1
  pre-shared-key flood
crypto ipsec transform-set TS esp-gcm 128
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.1
 set transform-set TS
 match address 101
";
    control::engine::KeyEngine::new(std::sync::Arc::new(config::check(text).config))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rate: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    // One EAL per process: each run is a child process of this one.
    if let Ok(r) = std::env::var("RRI_FLOOD_RUN") {
        let o = run(seconds, r.parse().unwrap_or(0));
        println!(
            "{:>8} {:>12} {:>10} {:>11} {:>14} {:>9} {:>9} {:>8} {:>9} {:>9} {:>16}",
            r,
            o.replay_pps,
            o.connect_ms
                .map_or("never".into(), |m| format!("{m:.0} ms")),
            format!("{}/{}", o.pings_lost, o.pings_sent),
            o.ike_queue_full,
            o.half_open_refused + o.rate_limited,
            o.no_entry,
            o.cookies,
            o.max_half_open,
            o.rss_kib.1.saturating_sub(o.rss_kib.0),
            format!("{}/{}", o.rss_kib.0, o.rss_kib.1),
        );
        println!("#   worker drops at {r}/s: {}", o.drops);
        return;
    }
    println!("# IKE_SA_INIT flood through the gateway lab: {seconds} s per run");
    println!(
        "{:>8} {:>12} {:>10} {:>11} {:>14} {:>9} {:>9} {:>8} {:>9} {:>9} {:>16}",
        "rate",
        "replayed",
        "B up in",
        "pings lost",
        "ike-queue-full",
        "refused",
        "no entry",
        "cookies",
        "half-open",
        "RSS +KiB",
        "RSS KiB"
    );
    let exe = std::env::current_exe().unwrap();
    for r in [0, rate] {
        let status = Command::new(&exe)
            .args([seconds.to_string(), rate.to_string()])
            .env("RRI_FLOOD_RUN", r.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "run at {r}/s failed");
    }
}
