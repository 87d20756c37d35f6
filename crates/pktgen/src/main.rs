//! `rri-pktgen [EAL options] -- [options]`: send frames out of one port as fast as the port
//! takes them (or at a set rate) and count what comes back on another, like pktgen-dpdk.
//!
//! ```text
//! rri-pktgen -l 0 --no-huge --no-pci -m 1024 --file-prefix gen \
//!     --vdev net_memif0,role=server,id=0,socket=/tmp/p.sock \
//!     --vdev net_memif1,role=server,id=1,socket=/tmp/p.sock -- \
//!     --tx-port 0 --rx-port 1 --size imix --duration 10 --warmup 2
//! ```
//!
//! At the end it prints one line: `tx_mpps=.. rx_mpps=.. rx_gbps=.. tx=.. rx=..` over the
//! measured interval (after the warm-up).

use clap::Parser;
use dpdk::{MbufBurst, Mempool, MempoolConfig, Port, PortConfig};
use pktbuf::PacketBuf;
use pktgen::{frames, mix, FrameSpec};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "rri-pktgen",
    version,
    override_usage = "rri-pktgen [EAL options] -- [OPTIONS]"
)]
struct Cli {
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
    /// First destination address.
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
    /// Seconds to wait for the receive port's link (memif needs its peer) before starting.
    #[arg(long, default_value_t = 30.0)]
    link_wait: f64,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let (eal, rest) = match dpdk::Eal::init_argv(argv) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("rri-pktgen: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(std::iter::once("rri-pktgen".to_string()).chain(rest));
    let Some(sizes) = mix(&cli.size) else {
        eprintln!("rri-pktgen: --size must be 64..1518, imix or imix-esp");
        return ExitCode::from(2);
    };
    let Some(dst_mac) = parse_mac(&cli.dst_mac) else {
        eprintln!("rri-pktgen: --dst-mac must look like 02:00:00:00:01:01");
        return ExitCode::from(2);
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
        Err(e) => {
            eprintln!("rri-pktgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let queues = cli.queues.max(1);
    let config = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_descriptors: 2048,
        tx_descriptors: 2048,
        ..PortConfig::default()
    };
    let start = |id| Port::start(&eal, id, &config, &pool);
    let (tx_port, rx_port) = match (
        start(cli.tx_port),
        if cli.rx_port == cli.tx_port {
            None
        } else {
            Some(start(cli.rx_port))
        },
    ) {
        (Ok(t), Some(Ok(r))) => (t, Some(r)),
        (Ok(t), None) => (t, None),
        (Err(e), _) | (_, Some(Err(e))) => {
            eprintln!("rri-pktgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wait_until = Instant::now() + Duration::from_secs_f64(cli.link_wait);
    for port in std::iter::once(&tx_port).chain(rx_port.as_ref()) {
        while !port.link().is_ok_and(|l| l.up) {
            if Instant::now() > wait_until {
                eprintln!("rri-pktgen: link of port {} did not come up", port.id());
                return ExitCode::FAILURE;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let spec = FrameSpec {
        dst_mac,
        src_mac: tx_port.mac_address().unwrap_or([2, 0, 0, 0, 0, 0x99]),
        src_ip: cli.src_ip,
        dst_base: cli.dst_base,
        flows: cli.flows,
        dont_fragment: cli.dont_fragment,
    };
    let templates = frames(&spec, &sizes, sizes.len() * 64);
    let mut tx = tx_port.tx_queue(0).expect("tx queue");
    let rx_port = rx_port.as_ref().unwrap_or(&tx_port);
    let mut rx: Vec<_> = (0..queues)
        .map(|q| rx_port.rx_queue(q).expect("rx queue"))
        .collect();

    let began = Instant::now();
    let warm = began + Duration::from_secs_f64(cli.warmup);
    let end = began + Duration::from_secs_f64(cli.duration);
    let (mut sent, mut received, mut rx_bytes) = (0u64, 0u64, 0u64);
    let mut measured: Option<(Instant, u64, u64, u64)> = None;
    let mut next = 0usize;
    let mut out: MbufBurst<32> = MbufBurst::new();
    let mut inbox: MbufBurst<64> = MbufBurst::new();
    let ns_per_packet = if cli.rate_mpps > 0.0 {
        1e3 / cli.rate_mpps
    } else {
        0.0
    };
    let mut now = Instant::now();
    while now < end {
        if measured.is_none() && now >= warm {
            measured = Some((now, sent, received, rx_bytes));
        }
        let due = if ns_per_packet > 0.0 {
            ((now - began).as_nanos() as f64 / ns_per_packet) as u64
        } else {
            u64::MAX
        };
        if sent < due && out.is_empty() {
            let want = (due - sent).min(32) as usize;
            for _ in 0..want {
                let Some(mut m) = pool.alloc() else { break };
                let t = &templates[next];
                next = (next + 1) % templates.len();
                if let Ok(room) = m.append(t.len()) {
                    room.copy_from_slice(t);
                    let _ = out.push(m);
                }
            }
        }
        sent += tx.tx_burst(&mut out) as u64;
        for queue in &mut rx {
            let n = queue.rx_burst(&mut inbox);
            if n > 0 {
                received += n as u64;
                rx_bytes += inbox.iter().map(|m| m.len() as u64 + 4).sum::<u64>();
                inbox.clear();
            }
        }
        now = Instant::now();
    }
    let Some((t0, s0, r0, b0)) = measured else {
        eprintln!("rri-pktgen: duration shorter than the warm-up");
        return ExitCode::from(2);
    };
    let secs = (now - t0).as_secs_f64();
    println!(
        "tx_mpps={:.3} rx_mpps={:.3} rx_gbps={:.3} tx={} rx={} seconds={:.2} tsc_hz={}",
        (sent - s0) as f64 / secs / 1e6,
        (received - r0) as f64 / secs / 1e6,
        (rx_bytes - b0) as f64 * 8.0 / secs / 1e9,
        sent,
        received,
        secs,
        dpdk::tsc_hz()
    );
    drop(out);
    ExitCode::SUCCESS
}
