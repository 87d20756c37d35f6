//! `rri-pktgen [EAL options] -- [options]`: a traffic generator and sink in the spirit of
//! pktgen-dpdk. It sends Ethernet/IPv4/UDP frames to a range of destinations out of one port
//! (at a fixed rate or as fast as the port takes them) and counts what arrives on another;
//! every frame carries a sequence number and its send time, so the sink reports loss and
//! latency. Given an SA (`--sa-spi`, `--sa-key-file`), ESP that arrives is decrypted and verified
//! (tag and replay window) before its stamp is read.
//!
//! ```text
//! rri-pktgen -l 0 --no-huge --no-pci -m 1024 --file-prefix gen \
//!     --vdev net_memif0,role=server,id=0,socket=/tmp/p.sock \
//!     --vdev net_memif1,role=server,id=1,socket=/tmp/p.sock -- \
//!     --tx-port 0 --rx-port 1 --size imix --duration 10 --warmup 2
//! ```
//!
//! While it runs it prints one line per `--stats-period` seconds; at the end a table, then
//! one machine-readable line: `tx_mpps=.. rx_mpps=.. rx_gbps=.. tx=.. rx=.. ...` over the
//! measured interval (after the warm-up).

use clap::{Parser, ValueEnum};
use dpdk::{MbufBurst, Mempool, MempoolConfig, Port, PortConfig};
use pktbuf::PacketBuf;
use pktgen::{frames, mix, receive, stamp, FrameSpec, Latency, Received};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Send on --tx-port and count on --rx-port.
    Both,
    /// Only send (like testpmd's txonly).
    Tx,
    /// Only count (like testpmd's rxonly).
    Rx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SaTransform {
    #[value(name = "esp-gcm-128")]
    Gcm128,
    #[value(name = "esp-gcm-256")]
    Gcm256,
    #[value(name = "esp-chacha20-poly1305")]
    Chacha,
}

#[derive(Parser, Debug)]
#[command(
    name = "rri-pktgen",
    version,
    about = "A DPDK traffic generator and sink: rates, loss, latency, and ESP verification",
    override_usage = "rri-pktgen [EAL options] -- [OPTIONS]",
    after_help = "Loss counts the stamped frames sent after the warm-up that never came back \
(frames still in flight at the end get --drain-ms to arrive). Latency is measured from the \
send time in each frame to its reception, on this machine's monotonic clock, so it needs the \
sender and the sink in this process (--mode both)."
)]
struct Cli {
    /// What to do.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    mode: Mode,
    /// Port to send on.
    #[arg(long, default_value_t = 0)]
    tx_port: u16,
    /// Port to count received frames on.
    #[arg(long, default_value_t = 1)]
    rx_port: u16,
    /// Frame size with FCS (64..1518), `imix` (7:4:1 of 64/570/1518), or `imix-esp` (7:4:1
    /// of 64/570/1456: the large frame still fits a 1500-byte MTU once encapsulated).
    #[arg(long, default_value = "64")]
    size: String,
    /// Seconds to run, warm-up included.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds at the start that are not measured.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Offered rate in Mpps (0: as fast as the port takes frames).
    #[arg(long, default_value_t = 0.0)]
    rate_mpps: f64,
    /// Distinct destination addresses.
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    /// First destination address (flows go to consecutive addresses from here).
    #[arg(long, default_value = "10.2.0.0")]
    dst_base: Ipv4Addr,
    /// Source address.
    #[arg(long, default_value = "10.1.0.5")]
    src_ip: Ipv4Addr,
    /// Destination MAC (the device under test's port), as 02:00:00:00:01:01.
    #[arg(long, default_value = "02:00:00:00:01:01")]
    dst_mac: String,
    /// Set the DF bit in every frame.
    #[arg(long)]
    dont_fragment: bool,
    /// Queues per port: match the device under test's queue count (a memif peer maps its
    /// rings to ours one for one).
    #[arg(long, default_value_t = 1)]
    queues: u16,
    /// Seconds to wait for the links (memif needs its peer) before starting.
    #[arg(long, default_value_t = 30.0)]
    link_wait: f64,
    /// Seconds between live lines (0: none).
    #[arg(long, default_value_t = 1.0)]
    stats_period: f64,
    /// Milliseconds to keep receiving after the last frame is sent.
    #[arg(long, default_value_t = 200)]
    drain_ms: u64,
    /// SPI of an SA whose ESP arriving on the receive port is verified and decrypted.
    #[arg(long, value_name = "SPI")]
    sa_spi: Option<u32>,
    /// A file holding the SA's key and salt in hex (key then 4-byte salt, as `set
    /// session-key` writes it), or `-` for standard input. Never the key itself on the
    /// command line, where every user of the machine can read it (/proc/PID/cmdline).
    #[arg(long, value_name = "FILE", requires = "sa_spi")]
    sa_key_file: Option<std::path::PathBuf>,
    /// The SA's transform.
    #[arg(long, value_enum, default_value_t = SaTransform::Gcm128)]
    sa_transform: SaTransform,
    /// Write the frames this run would send to FILE (an Ethernet capture), print their count
    /// and the TSC rate, and exit without sending: a source for
    /// `net_pcap,rx_pcap=FILE,infinite_rx=1`.
    #[arg(long, value_name = "FILE")]
    write_pcap: Option<std::path::PathBuf>,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_start_matches("0x");
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rri-pktgen: {msg}");
    ExitCode::from(2)
}

/// The frames' addresses: the sending port's MAC when there is one.
fn spec_from(cli: &Cli, dst_mac: [u8; 6], src_mac: Option<[u8; 6]>) -> FrameSpec {
    FrameSpec {
        dst_mac,
        src_mac: src_mac.unwrap_or([2, 0, 0, 0, 0, 0x99]),
        src_ip: cli.src_ip,
        dst_base: cli.dst_base,
        flows: cli.flows,
        dont_fragment: cli.dont_fragment,
    }
}

/// Counts at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    sent: u64,
    sent_bytes: u64,
    received: u64,
    rx_bytes: u64,
    stamped: u64,
    esp_ok: u64,
    esp_rejected: u64,
    esp_unknown: u64,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    // `rri-pktgen --help` (no `--`): rri-pktgen's own help, not the EAL's.
    if !argv.iter().any(|a| a == "--")
        && argv
            .iter()
            .skip(1)
            .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"))
    {
        Cli::parse_from(&argv);
    }
    let (eal, rest) = match dpdk::Eal::init_argv(argv) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let cli = Cli::parse_from(std::iter::once("rri-pktgen".to_string()).chain(rest));
    let Some(sizes) = mix(&cli.size) else {
        return fail("--size must be 64..1518, imix or imix-esp");
    };
    let Some(dst_mac) = parse_mac(&cli.dst_mac) else {
        return fail("--dst-mac must look like 02:00:00:00:01:01");
    };
    if let Some(path) = &cli.write_pcap {
        let templates = frames(&spec_from(&cli, dst_mac, None), &sizes, sizes.len() * 64);
        return match pcapfile::write_ethernet(path, templates.iter().map(Vec::as_slice)) {
            Ok(()) => {
                println!("frames={} tsc_hz={}", templates.len(), dpdk::tsc_hz());
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("{}: {e}", path.display())),
        };
    }
    let sa = match (cli.sa_spi, &cli.sa_key_file) {
        (Some(spi), Some(file)) => {
            let read = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(std::io::stdin(), 4096),
                    &mut text,
                )
                .map(|_| text)
            } else {
                std::fs::read_to_string(file)
            };
            let text = match read {
                Ok(t) => zeroize::Zeroizing::new(t),
                Err(e) => return fail(format!("--sa-key-file {}: {e}", file.display())),
            };
            let Some(keymat) = parse_hex(text.trim()).map(zeroize::Zeroizing::new) else {
                return fail("--sa-key-file must hold the key in hex");
            };
            let transform = match cli.sa_transform {
                SaTransform::Gcm128 => esp::Transform::AesGcm128,
                SaTransform::Gcm256 => esp::Transform::AesGcm256,
                SaTransform::Chacha => esp::Transform::ChaCha20Poly1305,
            };
            let tunnel = esp::TunnelTemplate::new(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
            let made = esp::SaParams::from_keymat(spi, transform, &keymat, tunnel)
                .map_err(|e| e.to_string())
                .and_then(|mut p| {
                    p.replay_window = esp::SaParams::MAX_REPLAY_WINDOW;
                    esp::InboundSa::new(&p, now_ns()).map_err(|e| e.to_string())
                });
            match made {
                Ok(sa) => Some(sa),
                Err(e) => return fail(format!("--sa-key-file: {e}")),
            }
        }
        (Some(_), None) => return fail("--sa-spi needs --sa-key-file"),
        _ => None,
    };
    let pool = match Mempool::new(
        &eal,
        &MempoolConfig {
            mbufs: 16383,
            cache: 256,
            ..MempoolConfig::default()
        },
    ) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let queues = cli.queues.max(1);
    let config = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_descriptors: 2048,
        tx_descriptors: 2048,
        ..PortConfig::default()
    };
    let sending = cli.mode != Mode::Rx;
    let counting = cli.mode != Mode::Tx;
    let mut ids: Vec<u16> = Vec::new();
    if sending {
        ids.push(cli.tx_port);
    }
    if counting && !ids.contains(&cli.rx_port) {
        ids.push(cli.rx_port);
    }
    let mut ports = Vec::new();
    for id in ids {
        match Port::start(&eal, id, &config, &pool) {
            Ok(p) => ports.push(p),
            Err(e) => return fail(e),
        }
    }
    let wait_until = Instant::now() + Duration::from_secs_f64(cli.link_wait);
    for port in &ports {
        while !port.link().is_ok_and(|l| l.up) {
            if Instant::now() > wait_until {
                return fail(format!("link of port {} did not come up", port.id()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let by_id = |id: u16| ports.iter().find(|p| p.id() == id);
    let tx_port = by_id(cli.tx_port);
    let spec = spec_from(&cli, dst_mac, tx_port.and_then(|p| p.mac_address().ok()));
    let templates = frames(&spec, &sizes, sizes.len() * 64);
    let mut tx = match tx_port.map(|p| p.tx_queue(0)).transpose() {
        Ok(t) => t.filter(|_| sending),
        Err(e) => return fail(e),
    };
    let mut rx: Vec<_> = match by_id(cli.rx_port).filter(|_| counting) {
        Some(p) => match (0..queues).map(|q| p.rx_queue(q)).collect() {
            Ok(v) => v,
            Err(e) => return fail(e),
        },
        None => Vec::new(),
    };

    let began = Instant::now();
    let warm = began + Duration::from_secs_f64(cli.warmup);
    let end = began + Duration::from_secs_f64(cli.duration);
    let drain_end = end + Duration::from_millis(if counting { cli.drain_ms } else { 0 });
    let mut t = Totals::default();
    let mut measured: Option<(Instant, Totals)> = None;
    // Stamps: sequence numbers at and after `first_measured_seq` count for loss.
    let mut first_measured_seq: Option<u32> = None;
    let mut measured_stamped_rx = 0u64;
    let mut latency = Latency::default();
    let mut next = 0usize;
    let mut seq: u32 = 0;
    let mut out: MbufBurst<32> = MbufBurst::new();
    let mut inbox: MbufBurst<64> = MbufBurst::new();
    let ns_per_packet = if cli.rate_mpps > 0.0 {
        1e3 / cli.rate_mpps
    } else {
        0.0
    };
    // Stamps are read where they mean something: latency and loss need our own sender,
    // ESP verification needs the SA.
    let inspect = sending || sa.is_some();
    let mut last_line = (began, t);
    let mut now = Instant::now();
    let mut sent_at_end = None;
    while now < drain_end {
        if measured.is_none() && now >= warm {
            measured = Some((now, t));
            first_measured_seq = Some(seq);
        }
        if let (Some(q), true) = (tx.as_mut(), now < end) {
            let due = if ns_per_packet > 0.0 {
                ((now - began).as_nanos() as f64 / ns_per_packet) as u64
            } else {
                u64::MAX
            };
            if t.sent < due && out.is_empty() {
                let want = (due - t.sent).min(32) as usize;
                let stamp_ns = now_ns();
                for _ in 0..want {
                    let Some(mut m) = pool.alloc() else { break };
                    let template = &templates[next];
                    next = (next + 1) % templates.len();
                    if let Ok(room) = m.append(template.len()) {
                        // Headers and stamp only: the payload after them is filler, and the
                        // data room keeps whatever an earlier frame left there (pktgen-dpdk
                        // prepares its mbufs the same way), so large frames cost no copy.
                        let head = template.len().min(pktgen::STAMP_OFFSET);
                        room[..head].copy_from_slice(&template[..head]);
                        stamp(room, seq, stamp_ns);
                        seq = seq.wrapping_add(1);
                        let _ = out.push(m);
                    }
                }
            }
            let before: u64 = out.iter().map(|m| m.len() as u64 + 4).sum();
            let n = q.tx_burst(&mut out) as u64;
            let after: u64 = out.iter().map(|m| m.len() as u64 + 4).sum();
            t.sent += n;
            t.sent_bytes += before - after;
        } else if sent_at_end.is_none() && now >= end {
            sent_at_end = Some(t.sent);
        }
        for queue in &mut rx {
            let n = queue.rx_burst(&mut inbox);
            if n == 0 {
                continue;
            }
            let rx_ns = now_ns();
            t.received += n as u64;
            if !inspect {
                // A plain sink (like testpmd's rxonly): count, look at nothing.
                t.rx_bytes += inbox.iter().map(|m| m.len() as u64 + 4).sum::<u64>();
                inbox.clear();
                continue;
            }
            for m in inbox.iter_mut() {
                t.rx_bytes += m.len() as u64 + 4;
                match receive(m, sa.as_ref(), rx_ns) {
                    Received::Stamped {
                        seq: s,
                        sent_ns,
                        esp,
                    } => {
                        t.stamped += 1;
                        t.esp_ok += u64::from(esp);
                        if let Some(first) = first_measured_seq {
                            // Sequence numbers wrap after 2^32 frames; compare by distance.
                            if s.wrapping_sub(first) < u32::MAX / 2 {
                                measured_stamped_rx += 1;
                                latency.record(rx_ns.saturating_sub(sent_ns));
                            }
                        }
                    }
                    Received::EspRejected(_) => t.esp_rejected += 1,
                    Received::EspUnknown => t.esp_unknown += 1,
                    Received::Other => {}
                }
            }
            inbox.clear();
        }
        now = Instant::now();
        if cli.stats_period > 0.0
            && (now - last_line.0).as_secs_f64() >= cli.stats_period
            && now < end
        {
            let secs = (now - last_line.0).as_secs_f64();
            let p = last_line.1;
            println!(
                "[{:5.1}s] tx {:8.3} Mpps {:7.3} Gbps | rx {:8.3} Mpps {:7.3} Gbps{}",
                (now - began).as_secs_f64(),
                (t.sent - p.sent) as f64 / secs / 1e6,
                (t.sent_bytes - p.sent_bytes) as f64 * 8.0 / secs / 1e9,
                (t.received - p.received) as f64 / secs / 1e6,
                (t.rx_bytes - p.rx_bytes) as f64 * 8.0 / secs / 1e9,
                if sa.is_some() {
                    format!(
                        " | esp ok {} bad {}",
                        t.esp_ok - p.esp_ok,
                        t.esp_rejected - p.esp_rejected
                    )
                } else {
                    String::new()
                }
            );
            last_line = (now, t);
        }
    }
    drop(out);
    let Some((t0, m0)) = measured else {
        return fail("duration shorter than the warm-up");
    };
    let secs = (end.min(now) - t0).as_secs_f64().max(1e-9);
    let sent_measured = sent_at_end.unwrap_or(t.sent) - m0.sent;
    let rx_measured = t.received - m0.received;
    let lost = sent_measured.saturating_sub(measured_stamped_rx);
    let us = |v: Option<u64>| v.map_or("-".to_string(), |n| format!("{:.1}", n as f64 / 1e3));
    println!();
    println!("                   tx              rx");
    println!("packets  {:>14} {:>15}", sent_measured, rx_measured);
    println!(
        "Mpps     {:>14.3} {:>15.3}",
        sent_measured as f64 / secs / 1e6,
        rx_measured as f64 / secs / 1e6
    );
    println!(
        "Gbps     {:>14.3} {:>15.3}",
        (t.sent_bytes - m0.sent_bytes) as f64 * 8.0 / secs / 1e9,
        (t.rx_bytes - m0.rx_bytes) as f64 * 8.0 / secs / 1e9
    );
    if sending && counting {
        println!(
            "loss     {} of {} ({:.3} %)",
            lost,
            sent_measured,
            if sent_measured > 0 {
                lost as f64 * 100.0 / sent_measured as f64
            } else {
                0.0
            }
        );
        println!(
            "latency  us: min {} avg {} p50 {} p99 {} p99.9 {} max {}",
            us(latency.min()),
            us(latency.mean()),
            us(latency.quantile(0.5)),
            us(latency.quantile(0.99)),
            us(latency.quantile(0.999)),
            us(latency.max())
        );
    }
    if sa.is_some() {
        println!(
            "esp      verified {} rejected {} other SPI {}",
            t.esp_ok, t.esp_rejected, t.esp_unknown
        );
    }
    println!(
        "tx_mpps={:.3} rx_mpps={:.3} rx_gbps={:.3} tx={} rx={} seconds={:.2} lost={} \
         latency_p50_us={} latency_p99_us={} esp_ok={} esp_rejected={} tsc_hz={}",
        sent_measured as f64 / secs / 1e6,
        rx_measured as f64 / secs / 1e6,
        (t.rx_bytes - m0.rx_bytes) as f64 * 8.0 / secs / 1e9,
        t.sent,
        t.received,
        secs,
        lost,
        us(latency.quantile(0.5)),
        us(latency.quantile(0.99)),
        t.esp_ok,
        t.esp_rejected,
        dpdk::tsc_hz()
    );
    ExitCode::SUCCESS
}
