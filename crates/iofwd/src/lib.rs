//! io-forwarding between DPDK ports, in the manner of `dpdk-testpmd --forward-mode=io`.
//!
//! Ports are paired (0↔1, 2↔3, …; an odd last port forwards to itself). Every port gets one
//! receive and one transmit queue per worker lcore, and worker `w` forwards queue `w` of each
//! port to queue `w` of its peer: receive a burst, transmit it, free what the device refused.
//! Nothing is locked or allocated in the loop. It serves as the I/O ceiling benchmark against
//! testpmd and as the simplest end-to-end run of the DPDK layer (a capture in, a capture out).

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpdk::{Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig, PortStats, RxQueue, TxQueue};
use pktbuf::PacketBuf;

/// Packets per burst, as testpmd's default.
pub const BURST: usize = 32;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop once no port has received anything for this long (after the first packet, or
    /// from the start if nothing ever arrives).
    pub idle_stop: Option<Duration>,
    /// Send one burst of 64-byte frames on every port before forwarding (testpmd `--tx-first`).
    pub tx_first: bool,
    /// Print the rates every period.
    pub stats_period: Option<Duration>,
    /// Descriptors per queue.
    pub descriptors: u16,
    /// Mbufs in the pool.
    pub mbufs: u32,
}

/// Counters of one forwarding stream, written by its worker once per burst.
#[derive(Debug, Default)]
pub struct StreamCounters {
    /// Packets received.
    pub rx: AtomicU64,
    /// Packets transmitted.
    pub tx: AtomicU64,
    /// Packets the transmit queue refused (freed).
    pub dropped: AtomicU64,
}

/// One direction: a receive queue of one port into a transmit queue of its peer.
#[derive(Debug)]
pub struct Stream {
    rx: RxQueue,
    tx: TxQueue,
    counters: Arc<StreamCounters>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Per port: id, name, DPDK counters at the end.
    pub ports: Vec<(u16, String, PortStats)>,
    /// Packets the forwarding streams freed because a transmit queue was full, per port.
    pub tx_dropped: Vec<u64>,
    /// Time between starting the workers and telling them to stop.
    pub elapsed: Duration,
    /// Worker lcores used.
    pub workers: usize,
}

impl Report {
    /// Packets received on all ports per second, in millions.
    pub fn rx_mpps(&self) -> f64 {
        let rx: u64 = self.ports.iter().map(|(_, _, s)| s.ipackets).sum();
        rx as f64 / self.elapsed.as_secs_f64() / 1e6
    }
}

/// The peer a port forwards to in testpmd's paired topology.
pub fn peer_of(port: usize, ports: usize) -> usize {
    if port.is_multiple_of(2) {
        if port + 1 < ports {
            port + 1
        } else {
            port
        }
    } else {
        port - 1
    }
}

/// The forwarding loop of one worker: each stream in turn, until `stop` is set.
pub fn forward(streams: &mut [Stream], stop: &AtomicBool) {
    let mut burst = MbufBurst::<BURST>::new();
    while !stop.load(Ordering::Relaxed) {
        for stream in streams.iter_mut() {
            let received = stream.rx.rx_burst(&mut burst);
            if received == 0 {
                continue;
            }
            let sent = stream.tx.tx_burst(&mut burst);
            let refused = burst.len();
            burst.clear();
            let c = &stream.counters;
            // One writer per stream: plain stores, readable by the main lcore at any time.
            c.rx.store(
                c.rx.load(Ordering::Relaxed) + received as u64,
                Ordering::Relaxed,
            );
            c.tx.store(
                c.tx.load(Ordering::Relaxed) + sent as u64,
                Ordering::Relaxed,
            );
            if refused > 0 {
                c.dropped.store(
                    c.dropped.load(Ordering::Relaxed) + refused as u64,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// A 64-byte Ethernet/IPv4/UDP frame, as testpmd's tx-first sends.
fn first_frame(port: u16) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xff]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, port as u8]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&46u16.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 19, 0, 1]);
    f
}

/// Runs io-forwarding on every port of an initialised EAL with its worker lcores.
///
/// # Errors
/// When there is no port or no worker lcore, or a port or pool cannot be set up.
pub fn run(
    eal: &Eal,
    options: &Options,
    mut on_period: impl FnMut(&str),
) -> Result<Report, String> {
    let workers = eal.worker_lcores();
    if workers.is_empty() {
        return Err("no worker lcore: give the EAL at least two lcores, e.g. -l 0,1".into());
    }
    let port_ids = Port::ids(eal);
    if port_ids.is_empty() {
        return Err("no DPDK port: add one with --vdev (e.g. --vdev net_ring0)".into());
    }
    let pool = Mempool::new(
        eal,
        &MempoolConfig {
            mbufs: options.mbufs,
            ..MempoolConfig::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let queues = u16::try_from(workers.len()).map_err(|_| "too many workers")?;
    let config = PortConfig {
        rx_queues: queues,
        tx_queues: queues,
        rx_descriptors: options.descriptors,
        tx_descriptors: options.descriptors,
        ..PortConfig::default()
    };
    let ports = port_ids
        .iter()
        .map(|&id| Port::start(eal, id, &config, &pool).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    for port in &ports {
        port.reset_stats().map_err(|e| e.to_string())?;
    }

    let mut tx_dropped_counters = vec![Vec::new(); ports.len()];
    let mut per_worker: Vec<Vec<Stream>> = Vec::new();
    for q in 0..queues {
        let mut streams = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let peer = &ports[peer_of(i, ports.len())];
            let counters = Arc::new(StreamCounters::default());
            tx_dropped_counters[peer_of(i, ports.len())].push(counters.clone());
            streams.push(Stream {
                rx: port.rx_queue(q).map_err(|e| e.to_string())?,
                tx: peer.tx_queue(q).map_err(|e| e.to_string())?,
                counters,
            });
        }
        per_worker.push(streams);
    }

    if options.tx_first {
        for streams in &mut per_worker {
            for stream in streams.iter_mut() {
                let mut burst = MbufBurst::<BURST>::new();
                while burst.spare() > 0 {
                    let mut m = pool.alloc().ok_or("mempool exhausted during tx-first")?;
                    let frame = first_frame(stream.tx.port());
                    m.append(frame.len())
                        .map_err(|e| e.to_string())?
                        .copy_from_slice(&frame);
                    let _ = burst.push(m);
                }
                stream.tx.tx_burst_or_free(&mut burst);
            }
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();
    for (lcore, mut streams) in workers.iter().copied().zip(per_worker) {
        let stop = stop.clone();
        let handle = eal
            .launch(lcore, move || forward(&mut streams, &stop))
            .map_err(|e| e.to_string())?;
        handles.push(handle);
    }

    let tick = Duration::from_millis(10);
    let mut last_rx_total = 0u64;
    let mut last_change = started;
    let mut last_period = (
        started,
        ports.iter().map(|_| (0u64, 0u64)).collect::<Vec<_>>(),
    );
    loop {
        std::thread::sleep(tick);
        let now = Instant::now();
        let stats: Vec<PortStats> = ports
            .iter()
            .map(|p| p.stats().unwrap_or_default())
            .collect();
        let rx_total: u64 = stats.iter().map(|s| s.ipackets).sum();
        if rx_total != last_rx_total {
            last_rx_total = rx_total;
            last_change = now;
        }
        if let Some(period) = options.stats_period {
            let secs = now.duration_since(last_period.0).as_secs_f64();
            if secs >= period.as_secs_f64() {
                let mut line = String::new();
                let mut total = 0.0;
                for (i, s) in stats.iter().enumerate() {
                    let (rx0, tx0) = last_period.1[i];
                    let rx = (s.ipackets - rx0) as f64 / secs / 1e6;
                    let tx = (s.opackets - tx0) as f64 / secs / 1e6;
                    total += rx;
                    line += &format!("port {} rx {rx:.2} Mpps tx {tx:.2} Mpps; ", ports[i].id());
                    last_period.1[i] = (s.ipackets, s.opackets);
                }
                line += &format!("total rx {total:.2} Mpps");
                on_period(&line);
                last_period.0 = now;
            }
        }
        let elapsed = now.duration_since(started);
        if options.duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        if options
            .idle_stop
            .is_some_and(|idle| now.duration_since(last_change) >= idle)
        {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for handle in handles {
        handle.join().map_err(|_| "a forwarding worker panicked")?;
    }
    // Looped-back devices (net_ring) still hold packets in flight; take them back so every
    // mbuf returns to the pool before the ports close.
    for port in &ports {
        for q in 0..queues {
            let mut rx = port.rx_queue(q).map_err(|e| e.to_string())?;
            let mut burst = MbufBurst::<BURST>::new();
            while rx.rx_burst(&mut burst) > 0 {
                burst.clear();
            }
        }
    }
    let report = Report {
        ports: ports
            .iter()
            .map(|p| (p.id(), p.name().to_string(), p.stats().unwrap_or_default()))
            .collect(),
        tx_dropped: tx_dropped_counters
            .iter()
            .map(|cs| cs.iter().map(|c| c.dropped.load(Ordering::Relaxed)).sum())
            .collect(),
        elapsed,
        workers: workers.len(),
    };
    Ok(report)
}

/// The report in testpmd's layout.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for ((id, name, s), dropped) in report.ports.iter().zip(&report.tx_dropped) {
        out += &format!(
            "\n  ---------------------- Forward statistics for port {id} ({name}) ----------------------\n"
        );
        out += &format!(
            "  RX-packets: {:<14} RX-missed: {:<14} RX-bytes: {}\n",
            s.ipackets, s.imissed, s.ibytes
        );
        out += &format!(
            "  RX-errors:  {:<14} RX-nombuf: {:<14}\n",
            s.ierrors, s.rx_nombuf
        );
        out += &format!(
            "  TX-packets: {:<14} TX-dropped: {:<13} TX-bytes: {}\n",
            s.opackets, dropped, s.obytes
        );
        out += &format!("  TX-errors:  {}\n", s.oerrors);
    }
    out += &format!(
        "\n  io-forward: {} worker lcore(s), {} port(s), {:.2} s, {:.2} Mpps received on all ports\n",
        report.workers,
        report.ports.len(),
        report.elapsed.as_secs_f64(),
        report.rx_mpps()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::peer_of;

    #[test]
    fn ports_pair_like_testpmd() {
        assert_eq!(peer_of(0, 1), 0);
        assert_eq!((peer_of(0, 2), peer_of(1, 2)), (1, 0));
        assert_eq!((peer_of(2, 3), peer_of(2, 4), peer_of(3, 4)), (2, 3, 2));
    }
}
