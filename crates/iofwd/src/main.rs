//! `rri-iofwd [EAL options] -- [options]`: forward between DPDK ports as testpmd's io mode does.
//!
//! Examples:
//!
//! ```text
//! # the I/O ceiling: two looped-back rings, one worker, ten seconds
//! rri-iofwd -l 0,1 --no-huge --no-pci -m 512 --vdev net_ring0 --vdev net_ring1 -- \
//!     --tx-first --duration 10 --stats-period 1
//! # a capture through a port pair: in.pcap -> port 0 -> port 1 -> out.pcap
//! rri-iofwd -l 0,1 --no-huge --no-pci -m 512 \
//!     --vdev net_pcap0,rx_pcap=in.pcap,tx_pcap=back.pcap \
//!     --vdev net_pcap1,rx_pcap=empty.pcap,tx_pcap=out.pcap -- --idle-stop-ms 200
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Forward packets between DPDK ports (0<->1, 2<->3, ...) like `dpdk-testpmd --forward-mode=io`.
///
/// EAL options come first, then `--`, then these options. Every port gets one rx and one tx
/// queue per worker lcore; worker N forwards queue N of each port to queue N of its peer.
/// At the end the per-port counters are printed in testpmd's layout.
#[derive(Parser, Debug)]
#[command(
    name = "rri-iofwd",
    version,
    override_usage = "rri-iofwd [EAL options] -- [OPTIONS]"
)]
struct Cli {
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Stop when no port received anything for this many milliseconds (ends capture replays).
    #[arg(long)]
    idle_stop_ms: Option<u64>,
    /// Send one burst of 64-byte frames on every port first (needed to start looped rings).
    #[arg(long)]
    tx_first: bool,
    /// Print per-port rates every this many seconds.
    #[arg(long)]
    stats_period: Option<f64>,
    /// Descriptors per rx and tx queue.
    #[arg(long, default_value_t = 1024)]
    descriptors: u16,
    /// Mbufs in the pool (keep it small without hugepages).
    #[arg(long, default_value_t = 8191)]
    mbufs: u32,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().skip(1).any(|a| a == "-h" || a == "--help") && !argv.iter().any(|a| a == "--") {
        // Let clap print the application's help without starting the EAL.
        let _ = Cli::parse_from(["rri-iofwd", "--help"]);
    }
    let (eal, rest) = match dpdk::Eal::init_argv(argv) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("rri-iofwd: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(std::iter::once("rri-iofwd".to_string()).chain(rest));
    if cli.duration.is_none() && cli.idle_stop_ms.is_none() {
        eprintln!("rri-iofwd: give --duration or --idle-stop-ms");
        return ExitCode::from(2);
    }
    let options = iofwd::Options {
        duration: cli.duration.map(Duration::from_secs_f64),
        idle_stop: cli.idle_stop_ms.map(Duration::from_millis),
        tx_first: cli.tx_first,
        stats_period: cli.stats_period.map(Duration::from_secs_f64),
        descriptors: cli.descriptors,
        mbufs: cli.mbufs,
    };
    match iofwd::run(&eal, &options, |line| println!("{line}")) {
        Ok(report) => {
            print!("{}", iofwd::render(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rri-iofwd: {e}");
            ExitCode::FAILURE
        }
    }
}
