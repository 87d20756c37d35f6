//! `rri-dp [EAL options] -- --config FILE --port IF=ID... [options]`: the data plane alone,
//! built from a configuration, for performance runs and lab work until the daemon exists.
//!
//! One worker runs on the main lcore and polls queue 0 of every port; the control thread
//! ([`control::plane::ControlPlane`]) runs beside it with tx queue 1 of every port: ARP and
//! ICMP, IKEv2 (as initiator for `ipsec-isakmp` entries when traffic raises an acquire, as
//! responder for the static entry naming a peer or a dynamic map), SA installation, RRI,
//! and the peers of each entry (names resolved through `ip name-server` where configured).
//! Entries with `ipsec-manual` keys forward without IKE. At the end it prints `show crypto
//! session`, `show crypto route`, the worker's counters and `rx_mpps`, `tx_mpps` and busy
//! cycles per packet.

use clap::Parser;
use control::plane::ControlPlane;
use dataplane::build::{self, PortBinding};
use dataplane::exception::ExceptionPath;
use dataplane::worker::Worker;
use dataplane::{Event, PolicyHandle, Reason, WorkerCounters};
use dpdk::{Mempool, MempoolConfig, Port, PortConfig};
use peer::dns::{DnsSettings, DnsSetupError, PeerResolver};
use peer::driver::PeerDriver;
use peer::PeerManager;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "rri-dp",
    version,
    override_usage = "rri-dp [EAL options] -- --config FILE --port IF=ID... [OPTIONS]"
)]
struct Cli {
    /// The IOS-style configuration.
    #[arg(long)]
    config: String,
    /// Binds a configured interface to a DPDK port: `GigabitEthernet0/0=0`.
    #[arg(long = "port", required = true)]
    ports: Vec<String>,
    /// A static neighbour: `PORT,IP,MAC` (skips ARP for it).
    #[arg(long = "neighbour")]
    neighbours: Vec<String>,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds at the start not counted in the rates.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
}

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rri-dp: {msg}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let (eal, rest) = match dpdk::Eal::init_argv(argv) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let cli = Cli::parse_from(std::iter::once("rri-dp".to_string()).chain(rest));
    // With `--vdev crypto_aesni_gcm` among the EAL options, outbound AES-GCM SAs seal their
    // bursts on the engines timed fastest here (dataplane::crypto); otherwise with ring.
    if dataplane::crypto::use_device(&eal, "crypto_aesni_gcm") {
        eprintln!("rri-dp: {}", dataplane::crypto::engines());
    }
    eprintln!("rri-dp: {}", dataplane::crypto::opener());
    let text = match std::fs::read_to_string(&cli.config) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", cli.config)),
    };
    let checked = config::check(&text);
    if checked.diagnostics.has_errors() {
        for d in &checked.diagnostics.0 {
            eprintln!("{}", d.render(&cli.config, &text));
        }
        return ExitCode::from(2);
    }
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
    let mut bindings = Vec::new();
    let mut ports = Vec::new();
    let port_config = PortConfig {
        rx_queues: 1,
        tx_queues: 2,
        rx_descriptors: 2048,
        tx_descriptors: 2048,
        ..PortConfig::default()
    };
    for spec in &cli.ports {
        let Some((interface, id)) = spec.split_once('=') else {
            return fail(format!("--port {spec}: expected IF=ID"));
        };
        let Ok(id) = id.parse::<u16>() else {
            return fail(format!("--port {spec}: bad port id"));
        };
        let port = match Port::start(&eal, id, &port_config, &pool) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        bindings.push(PortBinding {
            interface: interface.to_string(),
            port: id,
            mac: port.mac_address().unwrap_or([2, 0, 0, 0, 0, id as u8]),
        });
        ports.push(port);
    }
    ports.sort_by_key(|p| p.id());
    if ports
        .iter()
        .enumerate()
        .any(|(i, p)| usize::from(p.id()) != i)
    {
        return fail("bind every port from 0 up, without gaps");
    }
    let mut built = match build::from_config(&checked.config, &bindings, now_ns()) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    for n in &cli.neighbours {
        let parts: Vec<&str> = n.split(',').collect();
        let parsed = match parts.as_slice() {
            [p, ip, mac] => p
                .parse::<u16>()
                .ok()
                .zip(ip.parse::<Ipv4Addr>().ok())
                .zip(parse_mac(mac)),
            _ => None,
        };
        let Some(((port, ip), mac)) = parsed else {
            return fail(format!("--neighbour {n}: expected PORT,IP,MAC"));
        };
        built.policy.neighbours.insert((port, u32::from(ip)), mac);
    }
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let (punt_tx, punt_rx) = dataplane::worker::punt_queues(1024, 1024);
    let (event_tx, event_rx) = mpsc::sync_channel::<Event>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(WorkerCounters::default());
    let rx_queues: Result<Vec<_>, _> = ports.iter().map(|p| p.rx_queue(0)).collect();
    let tx_queues: Result<Vec<_>, _> = ports.iter().map(|p| p.tx_queue(0)).collect();
    let control_tx: Result<Vec<_>, _> = ports.iter().map(|p| p.tx_queue(1)).collect();
    let (Ok(rx), Ok(tx), Ok(control_tx)) = (rx_queues, tx_queues, control_tx) else {
        return fail("queues");
    };
    let worker = Worker {
        rx,
        tx,
        pool: pool.clone(),
        policy: policy.clone(),
        fib: built.reader.clone(),
        counters: counters.clone(),
        punt: punt_tx,
        events: event_tx,
        stop: stop.clone(),
        clock: now_ns,
    };
    let exception = ExceptionPath::new(
        policy.clone(),
        built.reader.clone(),
        control_tx,
        pool.clone(),
    );
    // Peers: resolved and chosen on the control thread, DNS on a runtime of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let resolver = {
        let _context = runtime.enter();
        match DnsSettings::from_config(&checked.config).map(|s| PeerResolver::new(&s)) {
            Ok(Ok(r)) => Some(r),
            Ok(Err(DnsSetupError::NoServer)) => None,
            Ok(Err(e)) | Err(e) => return fail(e),
        }
    };
    let config = Arc::new(checked.config);
    let peers = PeerDriver::new(PeerManager::from_config(&config), resolver);
    let mut plane = ControlPlane::new(config, policy, exception, built.engine, built.fib, peers);
    let control = {
        let stop = stop.clone();
        let counters = counters.clone();
        let (duration, warmup) = (cli.duration, cli.warmup);
        std::thread::spawn(move || {
            let began = Instant::now();
            let mut mark = None;
            runtime.block_on(plane.resolve_at_apply(now_ns));
            while began.elapsed().as_secs_f64() < duration {
                plane.poll(punt_rx.drain(1024, 256), event_rx.try_iter(), now_ns());
                if mark.is_none() && began.elapsed().as_secs_f64() >= warmup {
                    mark = Some((Instant::now(), counters.snapshot()));
                }
                // Sleeps a millisecond, or less when a lookup answers.
                runtime.block_on(plane.peers.wait_resolved(Duration::from_millis(1)));
            }
            stop.store(true, Ordering::Relaxed);
            print!(
                "{}\n{}",
                plane.show_crypto_session(),
                plane.show_crypto_route()
            );
            (mark, Instant::now())
        })
    };
    worker.run();
    let Ok((mark, ended)) = control.join() else {
        return fail("control thread panicked");
    };
    let end = counters.snapshot();
    let Some((t0, start)) = mark else {
        return fail("duration shorter than the warm-up");
    };
    let secs = (ended - t0).as_secs_f64();
    let rx: u64 = end.rx.iter().sum::<u64>() - start.rx.iter().sum::<u64>();
    let tx: u64 = end.tx.iter().sum::<u64>() - start.tx.iter().sum::<u64>();
    let busy = end.busy_cycles - start.busy_cycles;
    let busy_rounds = end.busy_bursts - start.busy_bursts;
    for r in Reason::ALL {
        if end.drops(r) > 0 {
            println!("drop {:<22} {}", r.as_str(), end.drops(r));
        }
    }
    println!(
        "rx_mpps={:.3} tx_mpps={:.3} cycles_per_packet={:.1} packets_per_busy_round={:.2} encapsulated={} decapsulated={} tx_packets={} tsc_hz={}",
        rx as f64 / secs / 1e6,
        tx as f64 / secs / 1e6,
        if rx > 0 { busy as f64 / rx as f64 } else { 0.0 },
        if busy_rounds > 0 { rx as f64 / busy_rounds as f64 } else { 0.0 },
        end.encapsulated,
        end.decapsulated,
        // The whole run's, warm-up included (perf/worker-instructions divides by it).
        end.tx.iter().sum::<u64>(),
        dpdk::tsc_hz()
    );
    drop(ports);
    // The SAs (and their device sessions) went with the control plane; the device goes now,
    // so that the EAL cleans up when the last handle drops.
    dataplane::crypto::release_device();
    ExitCode::SUCCESS
}
