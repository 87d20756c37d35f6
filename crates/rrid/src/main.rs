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

mod debug;
mod eal_args;
mod metrics;
mod mgmt;

use clap::Parser;
use control::plane::ControlPlane;
use control::show;
use dataplane::build::{self, PortBinding};
use dataplane::exception::ExceptionPath;
use dataplane::worker::{punt_queues, PuntReceivers, Worker};
use dataplane::{Event, PolicyHandle, Reason, WorkerCounters};
use dpdk::{Mempool, MempoolConfig, Port, PortConfig};
use exec::protocol::{Reply, Request};
use exec::Command;
use mgmt::Job;
use peer::dns::{DnsSettings, DnsSetupError, PeerResolver};
use peer::driver::PeerDriver;
use peer::PeerManager;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
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
}

/// See [`Cli::on_worker_panic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnWorkerPanic {
    Exit,
    Continue,
}

/// Set in the environment of a test, makes worker 0 panic as it starts (fault injection for
/// the supervision tests; see docs/security.md).
const FAULT_ENV: &str = "RRID_FAULT_INJECT";

/// What the workers' supervision shares with the control thread and main.
#[derive(Debug, Default)]
struct Supervision {
    panics: AtomicU64,
}

/// `work` (worker `index`'s loop) with its panic caught, logged and counted; with
/// [`OnWorkerPanic::Exit`] a panic stops rrid (the workers through `stop`, the control
/// thread through `term`), so no queue goes unserved without the process saying so.
fn supervised(
    index: usize,
    work: impl FnOnce(),
    supervision: &Supervision,
    on_panic: OnWorkerPanic,
    stop: &AtomicBool,
    term: &AtomicBool,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if index == 0 && std::env::var_os(FAULT_ENV).is_some_and(|v| v == "worker-panic") {
            panic!("fault injection ({FAULT_ENV}=worker-panic)");
        }
        work()
    }));
    let Err(payload) = result else {
        return;
    };
    let why = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".into());
    supervision.panics.fetch_add(1, Ordering::Relaxed);
    tracing::error!(target: "rrid", worker = index, %why, action = ?on_panic, "worker panicked: its queues are no longer served");
    if on_panic == OnWorkerPanic::Exit {
        stop.store(true, Ordering::Relaxed);
        term.store(true, Ordering::Relaxed);
    }
}

/// Frames the control thread takes from each punt queue per turn (a turn is about a
/// millisecond): ARP, ICMP and other local traffic first, then IKE. A flood's cost per turn
/// stays bounded, the timers run every turn, and neither queue starves the other; the rest
/// wait in the bounded queues (and past them are dropped and counted).
const LOCAL_PER_TURN: usize = 1024;
const IKE_PER_TURN: usize = 256;

/// The file manual SAs' sequence numbers are persisted in.
const SEQUENCE_FILE: &str = "manual-sa-sequences";

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("rrid: {msg}");
    ExitCode::FAILURE
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

/// The largest configuration file rrid reads (a million static routes is about 40 MB).
const MAX_CONFIG_BYTES: u64 = 256 << 20;

/// Reads a configuration file: a regular file of at most [`MAX_CONFIG_BYTES`], so that a
/// device, FIFO or endless file named by mistake cannot block the control thread.
fn read_config(path: &Path) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    // Checked before opening too: opening a FIFO blocks until a writer comes.
    if !std::fs::metadata(path).map_err(|e| fail(&e))?.is_file() {
        return Err(fail(&"not a regular file"));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let meta = file.metadata().map_err(|e| fail(&e))?;
    if !meta.is_file() {
        return Err(fail(&"not a regular file"));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(fail(&format!(
            "{} bytes, more than the {MAX_CONFIG_BYTES} a configuration may have",
            meta.len()
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_CONFIG_BYTES), &mut text)
        .map_err(|e| fail(&e))?;
    Ok(text)
}

/// The file a management request names (`configure replace FILE`, `check FILE`), which must
/// lie in the directory of the configuration rrid was started with, as IOS takes such files
/// from its flash: rrid runs as root and the socket's group is not, so a request cannot make
/// it read (and quote in diagnostics) any other file. A relative name is taken from that
/// directory.
fn requested_file(config_path: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = config_path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("% {}: {e}\n", dir.display()))?;
    let path = dir.join(name);
    let real = path
        .canonicalize()
        .map_err(|e| format!("% {name}: {e}\n"))?;
    if !real.starts_with(&dir) {
        return Err(format!(
            "% {name}: outside {}, the configuration directory\n",
            dir.display()
        ));
    }
    Ok(real)
}

/// Reads and checks a configuration file; the error text lists every problem.
fn load(path: &Path) -> Result<config::Config, String> {
    // The file's text holds the keys as written: wiped once parsed.
    let text = secret::SecretString::new(read_config(path)?);
    let checked = config::check(&text);
    if checked.diagnostics.has_errors() {
        return Err(checked
            .diagnostics
            .render(&path.display().to_string(), &text));
    }
    Ok(checked.config)
}

/// Sets its flag when dropped, also while unwinding.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Lets the process's crypto device close (once the SAs sealing on it are gone) so that the
/// EAL can clean up.
struct ReleaseCryptoOnDrop;

impl Drop for ReleaseCryptoOnDrop {
    fn drop(&mut self) {
        dataplane::crypto::release_device();
    }
}

/// Everything the control thread owns.
struct Control {
    plane: ControlPlane,
    runtime: tokio::runtime::Runtime,
    config_path: PathBuf,
    bindings: Vec<PortBinding>,
    ports: Vec<(Port, String)>,
    workers: Vec<Arc<WorkerCounters>>,
    supervision: Arc<Supervision>,
    started: Instant,
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

fn main() -> ExitCode {
    if let Err(e) = no_core_dumps() {
        eprintln!("rrid: {e}");
        return ExitCode::from(1);
    }
    let argv: Vec<String> = std::env::args().collect();
    let (eal_cli, app): (Vec<String>, Vec<String>) = match argv.iter().position(|a| a == "--") {
        Some(p) => (argv[1..p].to_vec(), argv[p + 1..].to_vec()),
        None => (Vec::new(), argv[1..].to_vec()),
    };
    let cli = Cli::parse_from(std::iter::once("rrid".to_string()).chain(app));
    let config = match load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        )
        .with(debug::DebugLayer)
        .try_init();
    let metrics_listener = match cli.metrics.map(metrics::bind).transpose() {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let (eal_argv, devices) = eal_args::eal_argv("rrid", &eal_cli, &config);
    let (eal, _) = match dpdk::Eal::init_argv(eal_argv) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    // AES-GCM SAs seal their bursts on the engines timed fastest here (intel-ipsec-mb, rri's
    // VAES code, ring: dataplane::crypto) when the EAL has intel-ipsec-mb's software crypto
    // device (`--vdev crypto_aesni_gcm` on the command line or in `dpdk eal-options`), with
    // ring otherwise. Released before the EAL goes, on every path out (declared after it).
    let _crypto = if dataplane::crypto::use_device(&eal, "crypto_aesni_gcm") {
        tracing::info!(target: "rrid", "{}", dataplane::crypto::engines());
        Some(ReleaseCryptoOnDrop)
    } else {
        None
    };
    tracing::info!(target: "rrid", "{}", dataplane::crypto::opener());
    let worker_lcores = eal.worker_lcores();
    let workers = worker_lcores.len().max(1) as u16;
    let pool = match Mempool::new(
        &eal,
        &MempoolConfig {
            mbufs: config
                .dpdk
                .mempool_mbufs
                .as_ref()
                .map_or(16383, |m| m.value),
            cache: 256,
            ..MempoolConfig::default()
        },
    ) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    // Which interface is which port.
    let mut wanted: Vec<(String, u16)> = Vec::new();
    for d in &devices {
        match Port::id_by_name(&eal, &d.device) {
            Ok(id) => wanted.push((d.interface.clone(), id)),
            Err(e) => return fail(format!("interface {}: {e}", d.interface)),
        }
    }
    for spec in &cli.ports {
        let parsed = spec
            .split_once('=')
            .and_then(|(i, id)| Some((config::canonical_interface(i), id.parse::<u16>().ok()?)));
        let Some((interface, id)) = parsed else {
            return fail(format!("--port {spec}: expected IF=ID"));
        };
        wanted.push((interface, id));
    }
    wanted.sort_by_key(|w| w.1);
    if wanted
        .iter()
        .enumerate()
        .any(|(i, w)| usize::from(w.1) != i)
    {
        return fail("ports must be bound from 0 up without gaps (one per interface)");
    }
    if wanted.len() > dataplane::MAX_PORTS {
        return fail(format!(
            "{} interfaces bound to ports; a worker counts at most {}",
            wanted.len(),
            dataplane::MAX_PORTS
        ));
    }
    // One queue pair per worker and one more for the control thread's transmissions. The
    // extra receive queue is polled by the last worker: a memif peer maps its transmit
    // queues onto ours one for one, so its control thread's ARP and IKE arrive there.
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
        let port = match Port::start(&eal, *id, &port_config, &pool) {
            Ok(p) => p,
            Err(e) => return fail(format!("interface {interface}: {e}")),
        };
        bindings.push(PortBinding {
            interface: interface.clone(),
            port: *id,
            mac: port.mac_address().unwrap_or([2, 0, 0, 0, 0, *id as u8]),
        });
        let device = port.name().to_string();
        ports.push((port, device));
    }
    let mut built = match build::from_config(&config, &bindings, now_ns()) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
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
            return fail(format!(
                "--neighbour {n}: expected IF,IP,MAC with a bound interface"
            ));
        };
        built.policy.neighbours.insert((port, u32::from(ip)), mac);
    }
    let (listener, access) = match mgmt::bind(&cli.socket, cli.group.as_deref()) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let hup = Arc::new(AtomicBool::new(false));
    let term = Arc::new(AtomicBool::new(false));
    let supervision = Arc::new(Supervision::default());
    for (signal, flag) in [
        (signal_hook::consts::SIGHUP, &hup),
        (signal_hook::consts::SIGINT, &term),
        (signal_hook::consts::SIGTERM, &term),
    ] {
        if let Err(e) = signal_hook::flag::register(signal, flag.clone()) {
            return fail(format!("signal {signal}: {e}"));
        }
    }

    // Manual SAs send only sequence numbers reserved on disk first (no nonce reused after a
    // restart); a state file that cannot be read or written stops the start here.
    let mut sequences =
        match control::seqstate::SequenceStore::open(&cli.state_dir.join(SEQUENCE_FILE)) {
            Ok(s) => s,
            Err(e) => return fail(format!("manual SA sequence state: {e}")),
        };
    if let Err(e) = sequences.adopt(&config, &built.policy) {
        return fail(format!("manual SA sequence state: {e}"));
    }
    let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let (punt_tx, punt_rx) = punt_queues(1024, 1024);
    let (event_tx, event_rx) = mpsc::sync_channel::<Event>(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let mut worker_list = Vec::new();
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
            return fail("queues");
        };
        let c = Arc::new(WorkerCounters::default());
        counters.push(c.clone());
        worker_list.push(Worker {
            rx,
            tx,
            pool: pool.clone(),
            policy: policy.clone(),
            fib: built.reader.clone(),
            counters: c,
            punt: punt_tx.clone(),
            events: event_tx.clone(),
            stop: stop.clone(),
            clock: now_ns,
        });
    }
    drop((punt_tx, event_tx));
    let control_tx: Result<Vec<_>, _> = ports.iter().map(|(p, _)| p.tx_queue(workers)).collect();
    let Ok(control_tx) = control_tx else {
        return fail("control queues");
    };
    let exception = ExceptionPath::new(
        policy.clone(),
        built.reader.clone(),
        control_tx,
        pool.clone(),
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let resolver = {
        let _context = runtime.enter();
        match DnsSettings::from_config(&config).map(|s| PeerResolver::new(&s)) {
            Ok(Ok(r)) => Some(r),
            Ok(Err(DnsSetupError::NoServer)) => None,
            Ok(Err(e)) | Err(e) => return fail(e),
        }
    };
    let config = Arc::new(config);
    let peers = PeerDriver::new(PeerManager::from_config(&config), resolver);
    let mut plane = ControlPlane::new(config, policy, exception, built.engine, built.fib, peers);
    plane.sequences = Some(sequences);
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
    {
        let jobs = jobs_tx;
        let _ = std::thread::Builder::new()
            .name("rrid-socket".into())
            .spawn(move || mgmt::serve(listener, access, jobs));
    }
    let mut control = Control {
        plane,
        runtime,
        config_path: cli.config.clone(),
        bindings,
        ports,
        workers: counters,
        supervision: supervision.clone(),
        started: Instant::now(),
    };
    tracing::info!(
        target: "rrid",
        ports = control.ports.len(),
        workers,
        socket = %cli.socket.display(),
        "rrid running"
    );
    let control_thread = {
        let stop = stop.clone();
        let term = term.clone();
        std::thread::Builder::new()
            .name("rrid-control".into())
            .spawn(move || {
                // Workers stop however the control thread ends, a panic included.
                let _stop_workers = SetOnDrop(stop);
                control.run(punt_rx, event_rx, jobs_rx, &hup, &term);
                control
            })
    };
    let Ok(control_thread) = control_thread else {
        return fail("control thread");
    };
    let mut launched = Vec::new();
    let on_panic = cli.on_worker_panic;
    if worker_lcores.is_empty() {
        if let Some(w) = worker_list.pop() {
            supervised(0, || w.run(), &supervision, on_panic, &stop, &term);
        }
    } else {
        for (index, (lcore, w)) in worker_lcores.iter().zip(worker_list).enumerate() {
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
    let Ok(control) = control_thread.join() else {
        return fail("control thread panicked");
    };
    let panics = supervision.panics.load(Ordering::Relaxed);
    // Ports stop and close, then the pool and the EAL go (in this order, as they drop).
    drop(control);
    drop(pool);
    let _ = std::fs::remove_file(&cli.socket);
    tracing::info!(target: "rrid", "stopped");
    drop(_crypto);
    drop(eal);
    if panics > 0 && on_panic == OnWorkerPanic::Exit {
        eprintln!("rrid: stopped because {panics} worker(s) panicked");
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

impl Control {
    fn run(
        &mut self,
        punts: PuntReceivers,
        events: Receiver<Event>,
        jobs: Receiver<Job>,
        hup: &AtomicBool,
        term: &AtomicBool,
    ) {
        let apply = self.plane.resolve_at_apply(now_ns);
        self.runtime.block_on(apply);
        loop {
            self.plane.poll(
                punts.drain(LOCAL_PER_TURN, IKE_PER_TURN),
                events.try_iter(),
                now_ns(),
            );
            while let Ok(job) = jobs.try_recv() {
                self.job(job);
            }
            if hup.swap(false, Ordering::Relaxed) {
                let path = self.config_path.clone();
                match self.replace(&path) {
                    Ok(summary) => {
                        tracing::info!(target: "rrid", "SIGHUP: {} applied\n{summary}", path.display())
                    }
                    Err(e) => {
                        tracing::warn!(target: "rrid", "SIGHUP: {} not applied:\n{e}", path.display())
                    }
                }
            }
            if term.load(Ordering::Relaxed) {
                break;
            }
            let wait = self.plane.peers.wait_resolved(Duration::from_millis(1));
            self.runtime.block_on(wait);
        }
        // Tell the peers, then give the deletes a moment to leave and be answered.
        let sessions = self.plane.engine.session_count();
        self.plane.clear(None, now_ns());
        tracing::info!(target: "rrid", sessions, "shutting down: IKE SAs deleted");
        let until = Instant::now() + Duration::from_millis(if sessions > 0 { 300 } else { 0 });
        while Instant::now() < until {
            self.plane.poll(
                punts.drain(LOCAL_PER_TURN, IKE_PER_TURN),
                events.try_iter(),
                now_ns(),
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        debug::close_all();
        // Requests still queued get an answer instead of silence.
        while let Ok(job) = jobs.try_recv() {
            if let Job::Exec { reply, .. } = job {
                let _ = reply.send(Reply::Error("% rrid is shutting down".into()));
                let _ = reply.send(Reply::Done { ok: false });
            }
        }
    }

    fn replace(&mut self, path: &Path) -> Result<String, String> {
        let new = load(path)?;
        let diff = self
            .plane
            .reload(Arc::new(new), &self.bindings, now_ns())
            .map_err(|e| format!("% {e}\n"))?;
        Ok(diff.summary())
    }

    fn job(&mut self, job: Job) {
        match job {
            Job::Metrics { reply } => {
                let _ = reply.send(metrics::render(&self.samples()));
            }
            Job::Exec {
                request,
                reply,
                privileged,
            } => self.exec(request, reply, privileged),
        }
    }

    fn exec(&mut self, request: Request, reply: Sender<Reply>, privileged: bool) {
        let command = match exec::parse(&request.line) {
            Ok(c) => c,
            Err(e) => {
                let text = format!("{}\n{}", request.line, e.render(&request.line, 0));
                let _ = reply.send(Reply::Error(text));
                let _ = reply.send(Reply::Done { ok: false });
                return;
            }
        };
        let now = now_ns();
        let json = request.json && command.is_show();
        let answer: Result<Answer, String> = match command {
            // Keys are masked unless asked for (see docs/security.md): anyone in the socket's
            // group may read the running configuration, not every one of them its keys.
            // The keys only for root and rrid's own user: the socket's group reads the rest.
            Command::ShowRunningConfig { unmasked: true } if !privileged => Err(
                "% show running-config unmasked: only root or rrid's own user may see the keys\n"
                    .to_string(),
            ),
            Command::ShowRunningConfig { unmasked } => Ok(Answer::both(
                config::render_keys(
                    &self.plane.config,
                    if unmasked {
                        config::Keys::Shown
                    } else {
                        config::Keys::Masked
                    },
                ),
                |t| serde_json::json!({ "config": t }),
            )),
            Command::ShowVersion => {
                let v = serde_json::json!({
                    "version": env!("CARGO_PKG_VERSION"),
                    "hostname": self.plane.config.hostname.as_ref().map(|h| h.value.clone()),
                    "uptime_seconds": self.started.elapsed().as_secs(),
                    "workers": self.workers.len(),
                    "ports": self.ports.len(),
                    "dpdk_tsc_hz": dpdk::tsc_hz(),
                });
                let text = format!(
                    "rri (rrid) version {}\n{} uptime is {} seconds\n{} forwarding worker(s), {} port(s)\n",
                    env!("CARGO_PKG_VERSION"),
                    self.plane
                        .config
                        .hostname
                        .as_ref()
                        .map_or("rri", |h| h.value.as_str()),
                    self.started.elapsed().as_secs(),
                    self.workers.len(),
                    self.ports.len()
                );
                Ok(Answer { text, data: v })
            }
            Command::ShowIpRoute { vrf } => {
                let text = self.plane.routes.show_ip_route(vrf.as_deref());
                let data = show::ip_route(&self.plane, vrf.as_deref());
                Ok(Answer {
                    text,
                    data: serde_json::to_value(data).unwrap_or_default(),
                })
            }
            Command::ShowCryptoRoute => Ok(Answer {
                text: self.plane.show_crypto_route(),
                data: serde_json::to_value(show::crypto_route(&self.plane)).unwrap_or_default(),
            }),
            Command::ShowCryptoMap => {
                let v = show::crypto_map(&self.plane);
                Ok(Answer {
                    text: show::render_crypto_map(&v),
                    data: serde_json::to_value(v).unwrap_or_default(),
                })
            }
            Command::ShowCryptoIpsecSa { peer } => {
                let v = show::ipsec_sa(&self.plane, peer, now);
                Ok(Answer {
                    text: show::render_ipsec_sa(&v),
                    data: serde_json::to_value(v).unwrap_or_default(),
                })
            }
            Command::ShowCryptoSession => Ok(Answer {
                text: self.plane.show_crypto_session(),
                data: serde_json::to_value(self.plane.engine.sessions_view()).unwrap_or_default(),
            }),
            Command::ShowCryptoPeer => Ok(Answer {
                text: self.plane.show_crypto_peer(now),
                data: serde_json::to_value(show::crypto_peer(&self.plane)).unwrap_or_default(),
            }),
            Command::ShowInterfaces => {
                let v = self.interfaces();
                Ok(Answer {
                    text: show::render_interfaces(&v),
                    data: serde_json::to_value(v).unwrap_or_default(),
                })
            }
            Command::ClearCryptoSa { peer } => {
                let live = |c: &Control| {
                    c.plane
                        .engine
                        .sessions_view()
                        .iter()
                        .filter(|s| s.status != "DELETING")
                        .count()
                };
                let before = live(self);
                self.plane.clear(peer, now);
                Ok(Answer::text(format!(
                    "{} IKE session(s) deleted\n",
                    before.saturating_sub(live(self))
                )))
            }
            Command::DebugCryptoIpsec => {
                let _ = reply.send(Reply::Output(
                    "Crypto IPSEC debugging is on (interrupt to stop)\n".into(),
                ));
                debug::subscribe(reply);
                return;
            }
            Command::ConfigureReplace { file } => requested_file(&self.config_path, &file)
                .and_then(|path| self.replace(&path))
                .map(Answer::text),
            Command::Check { file } => {
                requested_file(&self.config_path, &file).and_then(|path| check_file(&path))
            }
        };
        match answer {
            Ok(a) if json => {
                let _ = reply.send(Reply::Data(a.data));
                let _ = reply.send(Reply::Done { ok: true });
            }
            Ok(a) => {
                let _ = reply.send(Reply::Output(a.text));
                let _ = reply.send(Reply::Done { ok: true });
            }
            Err(e) => {
                let _ = reply.send(Reply::Error(e));
                let _ = reply.send(Reply::Done { ok: false });
            }
        }
    }

    fn interfaces(&self) -> Vec<show::InterfaceView> {
        let mut views: Vec<show::InterfaceView> = self
            .ports
            .iter()
            .map(|(p, device)| {
                let stats = p.stats().unwrap_or_default();
                let link = p.link().ok();
                show::InterfaceView {
                    port: p.id(),
                    device: device.clone(),
                    link_up: link.is_some_and(|l| l.up),
                    speed_mbps: link.map_or(0, |l| l.speed_mbps),
                    rx_packets: stats.ipackets,
                    rx_bytes: stats.ibytes,
                    tx_packets: stats.opackets,
                    tx_bytes: stats.obytes,
                    rx_missed: stats.imissed,
                    rx_errors: stats.ierrors,
                    tx_errors: stats.oerrors,
                    rx_nombuf: stats.rx_nombuf,
                    ..Default::default()
                }
            })
            .collect();
        show::interface_config(&self.plane, &mut views);
        for c in &self.workers {
            let snap = c.snapshot();
            for v in views.iter_mut() {
                let port = usize::from(v.port);
                v.forwarded_in += snap.rx.get(port).copied().unwrap_or(0);
                v.forwarded_out += snap.tx.get(port).copied().unwrap_or(0);
            }
        }
        views
    }

    fn samples(&self) -> Vec<metrics::Sample> {
        use metrics::Sample;
        let mut out = Vec::new();
        let mut push = |name, help, labels: Vec<(&'static str, String)>, value: u64| {
            out.push(Sample {
                name,
                help,
                labels,
                value: value as f64,
            })
        };
        for v in self.interfaces() {
            let l = || vec![("port", v.port.to_string()), ("interface", v.name.clone())];
            push(
                "rri_port_rx_packets_total",
                "Packets received by the port",
                l(),
                v.rx_packets,
            );
            push(
                "rri_port_tx_packets_total",
                "Packets sent by the port",
                l(),
                v.tx_packets,
            );
            push(
                "rri_port_rx_bytes_total",
                "Bytes received by the port",
                l(),
                v.rx_bytes,
            );
            push(
                "rri_port_tx_bytes_total",
                "Bytes sent by the port",
                l(),
                v.tx_bytes,
            );
            push(
                "rri_port_rx_missed_total",
                "Packets the port dropped for want of descriptors",
                l(),
                v.rx_missed,
            );
            push(
                "rri_port_rx_errors_total",
                "Erroneous packets received",
                l(),
                v.rx_errors,
            );
            push(
                "rri_port_tx_errors_total",
                "Failed transmissions",
                l(),
                v.tx_errors,
            );
        }
        for (w, c) in self.workers.iter().enumerate() {
            let s = c.snapshot();
            let l = || vec![("worker", w.to_string())];
            push(
                "rri_worker_encapsulated_total",
                "Packets encapsulated by the worker",
                l(),
                s.encapsulated,
            );
            push(
                "rri_worker_decapsulated_total",
                "Packets decapsulated by the worker",
                l(),
                s.decapsulated,
            );
            push(
                "rri_worker_punted_total",
                "Packets handed to the control thread",
                l(),
                s.punted,
            );
            push(
                "rri_worker_busy_cycles_total",
                "TSC cycles spent on bursts that carried packets",
                l(),
                s.busy_cycles,
            );
            for (port, _) in self.ports.iter().map(|(p, d)| (p.id(), d)) {
                let lp = || vec![("worker", w.to_string()), ("port", port.to_string())];
                push(
                    "rri_worker_rx_packets_total",
                    "Packets the worker received",
                    lp(),
                    s.rx.get(usize::from(port)).copied().unwrap_or(0),
                );
                push(
                    "rri_worker_tx_packets_total",
                    "Packets the worker sent",
                    lp(),
                    s.tx.get(usize::from(port)).copied().unwrap_or(0),
                );
            }
            for r in Reason::ALL {
                push(
                    "rri_worker_drops_total",
                    "Packets the worker dropped, by reason",
                    vec![
                        ("worker", w.to_string()),
                        ("reason", r.as_str().to_string()),
                    ],
                    s.drops(r),
                );
            }
        }
        for e in show::ipsec_sa(&self.plane, None, now_ns()) {
            let sides = e
                .outbound
                .iter()
                .map(|s| ("outbound", s))
                .chain(e.inbound.iter().map(|s| ("inbound", s)));
            for (direction, s) in sides {
                let l = || {
                    vec![
                        ("map", e.map.clone()),
                        ("seq", e.seq.to_string()),
                        ("peer", e.peer.map(|p| p.to_string()).unwrap_or_default()),
                        ("direction", direction.to_string()),
                        ("spi", format!("0x{:08x}", s.spi)),
                    ]
                };
                push(
                    "rri_sa_packets_total",
                    "Packets through the SA",
                    l(),
                    s.packets,
                );
                push("rri_sa_bytes_total", "Bytes through the SA", l(), s.bytes);
                for (reason, n) in &s.drops_by_reason {
                    let mut labels = l();
                    labels.push(("reason", reason.clone()));
                    push(
                        "rri_sa_drops_total",
                        "Packets the SA refused, by reason",
                        labels,
                        *n,
                    );
                }
            }
        }
        push(
            "rri_worker_panics_total",
            "Workers that panicked (their queues went unserved)",
            vec![],
            self.supervision.panics.load(Ordering::Relaxed),
        );
        push(
            "rri_ike_sessions",
            "IKE sessions",
            vec![],
            self.plane.engine.session_count() as u64,
        );
        push(
            "rri_crypto_routes",
            "Routes made by reverse route injection",
            vec![],
            self.plane.routes.rri.routes().count() as u64,
        );
        out
    }
}

/// A show's text and value.
struct Answer {
    text: String,
    data: serde_json::Value,
}

impl Answer {
    fn text(text: String) -> Answer {
        Answer {
            text,
            data: serde_json::Value::Null,
        }
    }

    fn both(text: String, data: impl FnOnce(&str) -> serde_json::Value) -> Answer {
        let data = data(&text);
        Answer { text, data }
    }
}

/// `check FILE` on the router: every diagnostic, and the counts.
fn check_file(path: &Path) -> Result<Answer, String> {
    let text = read_config(path).map_err(|e| format!("% {e}\n"))?;
    let checked = config::check(&text);
    let name = path.display().to_string();
    let mut out = checked.diagnostics.render(&name, &text);
    if out.is_empty() {
        out = format!("{name}: no errors, no warnings\n");
    }
    if checked.diagnostics.has_errors() {
        Err(out)
    } else {
        Ok(Answer::text(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("rrid-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn requested_files_stay_in_the_configuration_directory() {
        let dir = TempDir::new("requested");
        let config = dir.path().join("hub.cfg");
        std::fs::write(&config, "hostname hub\n").unwrap();
        std::fs::write(dir.path().join("hub2.cfg"), "hostname hub2\n").unwrap();
        let real_dir = dir.path().canonicalize().unwrap();

        assert_eq!(
            requested_file(&config, "hub2.cfg").unwrap(),
            real_dir.join("hub2.cfg")
        );
        let absolute = dir.path().join("hub2.cfg");
        assert_eq!(
            requested_file(&config, absolute.to_str().unwrap()).unwrap(),
            real_dir.join("hub2.cfg")
        );
        for outside in ["/etc/passwd", "../../../../etc/passwd", "/dev/zero"] {
            let err = requested_file(&config, outside).unwrap_err();
            assert!(err.contains("outside"), "{outside}: {err}");
        }
        // A link inside the directory that points out of it is outside too.
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.cfg")).unwrap();
        assert!(requested_file(&config, "link.cfg")
            .unwrap_err()
            .contains("outside"));
        assert!(requested_file(&config, "missing.cfg").is_err());
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        assert!(read_config(Path::new("/dev/zero"))
            .unwrap_err()
            .contains("not a regular file"));
        assert!(read_config(Path::new("/"))
            .unwrap_err()
            .contains("not a regular file"));
        let dir = TempDir::new("regular");
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        assert!(read_config(&fifo)
            .unwrap_err()
            .contains("not a regular file"));
        let big = dir.path().join("big.cfg");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        assert!(read_config(&big).unwrap_err().contains("more than"));
        let ok = dir.path().join("ok.cfg");
        std::fs::write(&ok, "hostname r1\n").unwrap();
        assert_eq!(read_config(&ok).unwrap(), "hostname r1\n");
    }
}
