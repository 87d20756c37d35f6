//! `rrid [EAL options] -- --config FILE [OPTIONS]`: the rri daemon.
//!
//! It reads and checks the configuration, starts the EAL (its own options, then what the
//! configuration adds: `dpdk eal-options`, lcores, one device per interface with `dpdk
//! device`), opens the ports, runs one forwarding worker per worker lcore (or one on the
//! main lcore when there is none) and the control thread: ARP, ICMP, IKEv2, SA
//! installation, RRI, peers, and the management socket that rrictl talks to.
//!
//! * SIGHUP, or `configure replace FILE` from rrictl: the new configuration is checked and
//!   only its differences applied (see `control::reload`).
//! * SIGINT, SIGTERM: IKE SAs are deleted (the peers get an INFORMATIONAL delete), workers
//!   stop, ports are stopped and closed, the mempool and the EAL are released and the
//!   management socket is removed.

#![forbid(unsafe_code)]

mod control_thread;
mod debug;
mod eal_args;
mod files;
mod metrics;
mod mgmt;
mod supervise;

use clap::Parser;
use control::plane::ControlPlane;
use control::seqstate::SequenceStore;
use control_thread::{Control, TimedRun};
use dataplane::crypto::GcmEngines;
use dataplane::worker::{punt_queues, PuntReceivers, PuntSenders, Worker};
use dataplane::ControlTx;
use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig};
use mgmt::Job;
use peer::dns::{DnsSettings, DnsSetupError, PeerResolver};
use peer::driver::PeerDriver;
use peer::PeerManager;
use policy::build::{self, Built, PortBinding};
use policy::{Event, PolicyHandle, WorkerCounters};
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use supervise::{supervised, OnWorkerPanic, SetOnDrop, Supervision};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const ABOUT: &str =
    "The rri daemon: an IPsec VPN gateway with a DPDK data plane, configured in Cisco IOS syntax.";

const LONG_ABOUT: &str = "\
The rri daemon: an IPsec VPN gateway with a DPDK data plane, configured in Cisco IOS syntax.

EAL options come first, then `--`, then rrid's own options. The configuration may add EAL
options itself: `dpdk eal-options ARGS...`, `dpdk main-lcore N`, `dpdk worker-lcores LIST`,
and `dpdk device vdev SPEC` or `dpdk device pci ADDR` inside an interface, which opens that
device as the interface's port.

One forwarding worker runs on each worker lcore (or one on the main lcore when the EAL has
no worker lcore); the control thread handles ARP, ICMP, IKEv2, SA installation, reverse
route injection and peer choice, and answers rrictl on the management socket.

Signals: SIGHUP re-reads --config and applies only the differences; SIGINT and SIGTERM
delete IKE SAs (the peers are told), stop the workers and ports and remove the socket.

Exit status: 0 after a clean stop; 1 when the EAL, a port or the socket cannot be set up;
2 when the configuration has errors (each printed as FILE:LINE:COL).

With --duration SECONDS rrid stops by itself and prints the workers' drops and rates
(benchmarks: perf/esp-vs-secgw).

rrictl talks to rrid (`rrictl --help`); scripts/lab runs two rrid and rri-pktgen end to
end; docs/rrid.md has a worked example.

Example (a lab on one machine, no NIC, no hugepages):
  rrid -l 0 --no-huge --no-pci -m 512 --file-prefix hub -- --config hub.cfg \\
       --socket /run/rri/hub.sock
  rrictl --socket /run/rri/hub.sock show crypto route";

#[derive(Parser, Debug)]
#[command(
    name = "rrid",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    override_usage = "rrid [EAL options] -- --config FILE [OPTIONS]"
)]
struct Cli {
    /// The configuration (IOS syntax; `rrictl check FILE` checks it offline).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The management socket rrictl connects to.
    #[arg(long, value_name = "PATH", default_value = "/run/rri/rrid.sock")]
    socket: PathBuf,
    /// A group whose members may use the management socket (besides root).
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// Serve Prometheus metrics on this loopback address (off by default).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
    /// Binds an interface to a port the EAL options opened: `GigabitEthernet0/0=0`
    /// (interfaces with `dpdk device` in the configuration need none).
    #[arg(long = "port", value_name = "IF=ID")]
    ports: Vec<String>,
    /// A static neighbour, as IOS's `arp` command: `IF,IP,MAC` (no ARP for it).
    #[arg(long = "neighbour", value_name = "IF,IP,MAC")]
    neighbours: Vec<String>,
    /// Where rrid keeps state across restarts: the sequence numbers manual-key SAs have
    /// reserved (file `manual-sa-sequences`), so that no nonce is used twice.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/rri")]
    state_dir: PathBuf,
    /// What a worker's panic does: `exit` stops rrid with a non-zero status (its queues
    /// would go unserved; a supervisor restarts rrid), `continue` keeps the other workers
    /// and the control thread running with that worker's queues unserved. Either way the
    /// panic is logged and counted (rri_worker_panics_total).
    #[arg(long, value_enum, default_value_t = OnWorkerPanic::Exit)]
    on_worker_panic: OnWorkerPanic,
    /// Stop after this many seconds and print the workers' drops by reason and rates (a
    /// benchmark or lab run; without it rrid runs until SIGINT or SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// With --duration: the first seconds, not counted in the rates.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 2.0,
        requires = "duration"
    )]
    warmup: f64,
}

/// The file manual SAs' sequence numbers are persisted in.
const SEQUENCE_FILE: &str = "manual-sa-sequences";

/// Monotonic nanoseconds since the first call: the clock of SAs, IKE and timers.
fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Why rrid stops before it runs: what to print, and the exit status (1: the process, EAL,
/// a port or the socket could not be set up; 2: the configuration has errors).
struct Stop {
    status: u8,
    message: String,
}

impl Stop {
    fn setup(message: impl std::fmt::Display) -> Stop {
        Stop {
            status: 1,
            message: format!("rrid: {message}\n"),
        }
    }

    fn configuration(diagnostics: String) -> Stop {
        Stop {
            status: 2,
            message: diagnostics,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(stop) => {
            eprint!("{}", stop.message);
            ExitCode::from(stop.status)
        }
    }
}

/// rrid from start to stop, as a sequence of named steps.
fn run() -> Result<ExitCode, Stop> {
    no_core_dumps().map_err(Stop::setup)?;
    let (eal_options, cli) = arguments();
    let config = files::load(&cli.config).map_err(Stop::configuration)?;
    start_logging();
    let metrics_listener = cli
        .metrics
        .map(metrics::bind)
        .transpose()
        .map_err(Stop::setup)?;
    let (eal, devices) = start_eal(&eal_options, &config)?;
    let crypto = Arc::new(choose_gcm_engines(&eal));
    let workers = eal.worker_lcores().len().max(1) as u16;
    let pool = create_mempool(&eal, &config)?;
    let (ports, bindings) = open_ports(&eal, &cli, &config, &devices, &pool, workers)?;
    let mut built =
        build::from_config(&config, &bindings, now_ns(), &*crypto).map_err(Stop::setup)?;
    add_static_neighbours(&cli, &bindings, &mut built)?;
    let (listener, access) = mgmt::bind(&cli.socket, cli.group.as_deref()).map_err(Stop::setup)?;
    let signals = Signals::register()?;
    let sequences = reserve_manual_sequences(&cli, &config, &built)?;
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(std::mem::take(
        &mut built.policy,
    )));
    let (punt_tx, punt_rx) = punt_queues(1024, 1024);
    let (event_tx, event_rx) = mpsc::sync_channel::<Event>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let (worker_list, counters) = make_workers(
        &ports, workers, &pool, &policy, &built, punt_tx, event_tx, &stop,
    )?;
    let control_tx = control_queues(&ports, workers, &pool)?;
    let (plane, runtime) =
        make_control_plane(config, policy, built, control_tx, crypto, sequences)?;
    let jobs = serve_management(listener, access, metrics_listener);
    let supervision = Arc::new(Supervision::default());
    let control = Control {
        plane,
        runtime,
        config_path: cli.config.clone(),
        bindings,
        ports,
        workers: counters,
        supervision: supervision.clone(),
        started: Instant::now(),
        timed: cli.duration.map(|d| {
            TimedRun::new(
                Duration::from_secs_f64(d.max(0.0)),
                Duration::from_secs_f64(cli.warmup.max(0.0)),
            )
        }),
    };
    tracing::info!(target: "rrid", ports = control.ports.len(), workers, socket = %cli.socket.display(), "rrid running");
    let control_thread = start_control_thread(control, punt_rx, event_rx, jobs, &signals, &stop)?;
    run_workers(
        &eal,
        worker_list,
        &supervision,
        cli.on_worker_panic,
        &stop,
        &signals.term,
    );
    let Ok(control) = control_thread.join() else {
        return Err(Stop::setup("control thread panicked"));
    };
    if let Some(report) = control
        .timed
        .as_ref()
        .and_then(|t| t.report(dpdk::tsc_hz()))
    {
        print!("{report}");
    }
    // Ports stop and close, then the pool, the crypto device and the EAL go, in this order.
    drop(control);
    drop(pool);
    let _ = std::fs::remove_file(&cli.socket);
    tracing::info!(target: "rrid", "stopped");
    drop(eal);
    let panics = supervision.panics.load(Ordering::Relaxed);
    if panics > 0 && cli.on_worker_panic == OnWorkerPanic::Exit {
        eprintln!("rrid: stopped because {panics} worker(s) panicked");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps key material out of core files and away from other processes of the same user:
/// no core dumps (RLIMIT_CORE 0) and not dumpable (PR_SET_DUMPABLE 0, which also refuses
/// ptrace attaches by non-root processes and makes /proc/PID/mem root's only). Done first,
/// before any key is read.
fn no_core_dumps() -> Result<(), String> {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))
}

/// The EAL's options (before `--`) and rrid's own (after it).
fn arguments() -> (Vec<String>, Cli) {
    let argv: Vec<String> = std::env::args().collect();
    let (eal, app): (Vec<String>, Vec<String>) = match argv.iter().position(|a| a == "--") {
        Some(p) => (argv[1..p].to_vec(), argv[p + 1..].to_vec()),
        None => (Vec::new(), argv[1..].to_vec()),
    };
    (
        eal,
        Cli::parse_from(std::iter::once("rrid".to_string()).chain(app)),
    )
}

/// Log lines to stderr at INFO and up; `debug crypto ipsec` subscribers get theirs.
fn start_logging() {
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        )
        .with(debug::DebugLayer)
        .try_init();
}

/// The EAL, started with the command line's options and what the configuration adds, and
/// the devices the configuration opens for its interfaces.
fn start_eal(
    options: &[String],
    config: &config::Config,
) -> Result<(Eal, Vec<eal_args::InterfaceDevice>), Stop> {
    let (argv, devices) = eal_args::eal_argv("rrid", options, config);
    let (eal, _) = Eal::init_argv(argv).map_err(Stop::setup)?;
    Ok((eal, devices))
}

/// AES-GCM SAs seal their bursts on the engines timed fastest here (intel-ipsec-mb, rri's
/// VAES code, ring) when the EAL has intel-ipsec-mb's software crypto device (`--vdev
/// crypto_aesni_gcm` on the command line or in `dpdk eal-options`), with ring otherwise.
fn choose_gcm_engines(eal: &Eal) -> GcmEngines {
    let engines = GcmEngines::with_device(eal, "crypto_aesni_gcm");
    tracing::info!(target: "rrid", "{}", engines.sealers());
    tracing::info!(target: "rrid", "{}", engines.openers());
    engines
}

fn create_mempool(eal: &Eal, config: &config::Config) -> Result<Mempool, Stop> {
    let mbufs = config
        .dpdk
        .mempool_mbufs
        .as_ref()
        .map_or(16383, |m| m.value);
    Mempool::new(
        eal,
        &MempoolConfig {
            mbufs,
            cache: 256,
            ..MempoolConfig::default()
        },
    )
    .map_err(Stop::setup)
}

/// The ports rrid started, each with its device's name.
type Ports = Vec<(Port, String)>;

/// Starts a port for every interface (those the configuration opened with `dpdk device`,
/// and `--port IF=ID`): one queue pair per worker and one more for the control thread's
/// transmissions. The extra receive queue is polled by the last worker: a memif peer maps
/// its transmit queues onto ours one for one, so its control thread's ARP and IKE arrive
/// there.
fn open_ports(
    eal: &Eal,
    cli: &Cli,
    config: &config::Config,
    devices: &[eal_args::InterfaceDevice],
    pool: &Mempool,
    workers: u16,
) -> Result<(Ports, Vec<PortBinding>), Stop> {
    let mut wanted: Vec<(String, u16)> = Vec::new();
    for d in devices {
        match Port::id_by_name(eal, &d.device) {
            Ok(id) => wanted.push((d.interface.clone(), id)),
            Err(e) => return Err(Stop::setup(format!("interface {}: {e}", d.interface))),
        }
    }
    for spec in &cli.ports {
        let parsed = spec
            .split_once('=')
            .and_then(|(i, id)| Some((config::canonical_interface(i), id.parse::<u16>().ok()?)));
        let Some((interface, id)) = parsed else {
            return Err(Stop::setup(format!("--port {spec}: expected IF=ID")));
        };
        wanted.push((interface, id));
    }
    wanted.sort_by_key(|w| w.1);
    if wanted
        .iter()
        .enumerate()
        .any(|(i, w)| usize::from(w.1) != i)
    {
        return Err(Stop::setup(
            "ports must be bound from 0 up without gaps (one per interface)",
        ));
    }
    if wanted.len() > policy::MAX_PORTS {
        return Err(Stop::setup(format!(
            "{} interfaces bound to ports; a worker counts at most {}",
            wanted.len(),
            policy::MAX_PORTS
        )));
    }
    let port_config = PortConfig {
        rx_queues: workers + 1,
        tx_queues: workers + 1,
        rx_descriptors: 2048,
        tx_descriptors: 2048,
        ..PortConfig::default()
    };
    let mut ports = Vec::new();
    let mut bindings = Vec::new();
    for (interface, id) in &wanted {
        let port = Port::start(eal, *id, &port_config, pool)
            .map_err(|e| Stop::setup(format!("interface {interface}: {e}")))?;
        // IOS's `mac-address`: the port receives for and sends from the configured address;
        // a device that cannot take it stops the start rather than run on another address.
        let configured = config
            .interfaces
            .iter()
            .find(|i| i.name.value == *interface)
            .and_then(|i| i.mac_address.as_ref());
        if let Some(mac) = configured {
            port.set_mac_address(mac.value).map_err(|e| {
                Stop::setup(format!(
                    "interface {interface}: mac-address {}: {e}",
                    config::render_mac(mac.value)
                ))
            })?;
        }
        let mac = port.mac_address().unwrap_or([2, 0, 0, 0, 0, *id as u8]);
        bindings.push(PortBinding::new(interface.clone(), *id, mac));
        let device = port.name().to_string();
        ports.push((port, device));
    }
    Ok((ports, bindings))
}

/// `--neighbour IF,IP,MAC`: neighbours that need no ARP.
fn add_static_neighbours(
    cli: &Cli,
    bindings: &[PortBinding],
    built: &mut Built,
) -> Result<(), Stop> {
    for n in &cli.neighbours {
        let parts: Vec<&str> = n.split(',').collect();
        let parsed = match parts.as_slice() {
            [i, ip, mac] => bindings
                .iter()
                .find(|b| b.interface == config::canonical_interface(i))
                .map(|b| b.port)
                .zip(ip.parse::<Ipv4Addr>().ok())
                .zip(parse_mac(mac)),
            _ => None,
        };
        let Some(((port, ip), mac)) = parsed else {
            return Err(Stop::setup(format!(
                "--neighbour {n}: expected IF,IP,MAC with a bound interface"
            )));
        };
        built.policy.neighbours.insert((port, u32::from(ip)), mac);
    }
    Ok(())
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// The signals rrid answers: SIGHUP reloads, SIGINT and SIGTERM stop.
struct Signals {
    hup: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Signals {
    fn register() -> Result<Signals, Stop> {
        let signals = Signals {
            hup: Arc::new(AtomicBool::new(false)),
            term: Arc::new(AtomicBool::new(false)),
        };
        for (signal, flag) in [
            (signal_hook::consts::SIGHUP, &signals.hup),
            (signal_hook::consts::SIGINT, &signals.term),
            (signal_hook::consts::SIGTERM, &signals.term),
        ] {
            signal_hook::flag::register(signal, flag.clone())
                .map_err(|e| Stop::setup(format!("signal {signal}: {e}")))?;
        }
        Ok(signals)
    }
}

/// Manual SAs send only sequence numbers reserved on disk first (no nonce reused after a
/// restart); a state file that cannot be read or written stops the start here.
fn reserve_manual_sequences(
    cli: &Cli,
    config: &config::Config,
    built: &Built,
) -> Result<SequenceStore, Stop> {
    let fail = |e| Stop::setup(format!("manual SA sequence state: {e}"));
    let mut sequences = SequenceStore::open(&cli.state_dir.join(SEQUENCE_FILE)).map_err(fail)?;
    sequences.adopt(config, &built.policy).map_err(fail)?;
    Ok(sequences)
}

/// One worker per worker lcore (or one on the main lcore), each with its own queue of every
/// port (the last also polls the control thread's receive queue), and their counters.
#[allow(clippy::too_many_arguments)]
fn make_workers(
    ports: &[(Port, String)],
    workers: u16,
    pool: &Mempool,
    policy: &PolicyHandle,
    built: &Built,
    punt: PuntSenders,
    events: mpsc::SyncSender<Event>,
    stop: &Arc<AtomicBool>,
) -> Result<(Vec<Worker>, Vec<Arc<WorkerCounters>>), Stop> {
    let mut list = Vec::new();
    let mut counters = Vec::new();
    for w in 0..workers {
        let mut queues = vec![w];
        if w + 1 == workers {
            queues.push(workers);
        }
        let rx: Result<Vec<_>, _> = ports
            .iter()
            .flat_map(|(p, _)| queues.iter().map(move |q| p.rx_queue(*q)))
            .collect();
        let tx: Result<Vec<_>, _> = ports.iter().map(|(p, _)| p.tx_queue(w)).collect();
        let (Ok(rx), Ok(tx)) = (rx, tx) else {
            return Err(Stop::setup("worker queues"));
        };
        let c = Arc::new(WorkerCounters::default());
        counters.push(c.clone());
        list.push(Worker {
            rx,
            tx,
            pool: pool.clone(),
            policy: policy.clone(),
            fib: built.reader.clone(),
            counters: c,
            punt: punt.clone(),
            events: events.clone(),
            stop: stop.clone(),
            clock: now_ns,
        });
    }
    Ok((list, counters))
}

/// The control thread's own transmit queue on every port (the one after the workers').
fn control_queues(
    ports: &[(Port, String)],
    workers: u16,
    pool: &Mempool,
) -> Result<ControlTx, Stop> {
    let tx: Result<Vec<_>, _> = ports.iter().map(|(p, _)| p.tx_queue(workers)).collect();
    let tx = tx.map_err(|_| Stop::setup("control queues"))?;
    Ok(ControlTx {
        tx,
        pool: pool.clone(),
    })
}

/// The control plane, and the runtime its DNS lookups run on.
fn make_control_plane(
    config: config::Config,
    policy: PolicyHandle,
    built: Built,
    tx: ControlTx,
    crypto: Arc<GcmEngines>,
    sequences: SequenceStore,
) -> Result<(ControlPlane<ControlTx>, tokio::runtime::Runtime), Stop> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Stop::setup)?;
    let resolver = {
        let _context = runtime.enter();
        match DnsSettings::from_config(&config).map(|s| PeerResolver::new(&s)) {
            Ok(Ok(r)) => Some(r),
            Ok(Err(DnsSetupError::NoServer)) => None,
            Ok(Err(e)) | Err(e) => return Err(Stop::setup(e)),
        }
    };
    let config = Arc::new(config);
    let peers = PeerDriver::new(PeerManager::from_config(&config), resolver);
    let exception =
        control::exception::ExceptionPath::new(policy.clone(), built.reader.clone(), tx);
    let mut plane = ControlPlane::new(
        config,
        policy,
        exception,
        built.engine,
        built.fib,
        peers,
        crypto,
    );
    plane.sequences = Some(sequences);
    Ok((plane, runtime))
}

/// The management socket's and the metrics endpoint's threads; what they ask of the control
/// thread arrives on the returned queue.
fn serve_management(
    listener: UnixListener,
    access: mgmt::Access,
    metrics_listener: Option<TcpListener>,
) -> Receiver<Job> {
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(64);
    if let Some(l) = metrics_listener {
        let jobs = jobs_tx.clone();
        let _ = std::thread::Builder::new()
            .name("rrid-metrics".into())
            .spawn(move || {
                metrics::serve(l, move || {
                    let (tx, rx) = mpsc::channel();
                    jobs.send(Job::Metrics { reply: tx }).ok()?;
                    rx.recv_timeout(Duration::from_secs(2)).ok()
                })
            });
    }
    let _ = std::thread::Builder::new()
        .name("rrid-socket".into())
        .spawn(move || mgmt::serve(listener, access, jobs_tx));
    jobs_rx
}

/// The control thread; the workers stop however it ends, a panic included.
fn start_control_thread(
    mut control: Control,
    punts: PuntReceivers,
    events: Receiver<Event>,
    jobs: Receiver<Job>,
    signals: &Signals,
    stop: &Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<Control>, Stop> {
    let stop = stop.clone();
    let (hup, term) = (signals.hup.clone(), signals.term.clone());
    std::thread::Builder::new()
        .name("rrid-control".into())
        .spawn(move || {
            let _stop_workers = SetOnDrop(stop);
            control.run(punts, events, jobs, &hup, &term);
            control
        })
        .map_err(|_| Stop::setup("control thread"))
}

/// Runs the workers, each under supervision: on the worker lcores, or the one worker on this
/// (the main) lcore when the EAL has none; returns when all have stopped.
fn run_workers(
    eal: &Eal,
    mut workers: Vec<Worker>,
    supervision: &Arc<Supervision>,
    on_panic: OnWorkerPanic,
    stop: &Arc<AtomicBool>,
    term: &Arc<AtomicBool>,
) {
    let lcores = eal.worker_lcores();
    if lcores.is_empty() {
        if let Some(w) = workers.pop() {
            supervised(0, || w.run(), supervision, on_panic, stop, term);
        }
        return;
    }
    let mut launched = Vec::new();
    for (index, (lcore, w)) in lcores.iter().zip(workers).enumerate() {
        let (sup, w_stop, w_term) = (supervision.clone(), stop.clone(), term.clone());
        let work = move || supervised(index, || w.run(), &sup, on_panic, &w_stop, &w_term);
        match eal.launch(*lcore, work) {
            Ok(h) => launched.push(h),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                term.store(true, Ordering::Relaxed);
                eprintln!("rrid: {e}");
            }
        }
    }
    for h in launched {
        let _ = h.join();
    }
}
