//! The control thread: the control plane's turns, SIGHUP reloads, requests from rrictl and
//! the metrics endpoint, and the shutdown that tells the peers.

use crate::files::{load, read_config, requested_file};
use crate::supervise::Supervision;
use crate::{debug, metrics, mgmt::Job, now_ns};
use control::plane::ControlPlane;
use control::show;
use dataplane::worker::PuntReceivers;
use dataplane::ControlTx;
use dpdk::Port;
use exec::protocol::{Reply, Request};
use exec::Command;
use policy::build::PortBinding;
use policy::{Event, WorkerCounters, WorkerCountersSnapshot};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames the control thread takes from each punt queue per turn (a turn is about a
/// millisecond): ARP, ICMP and other local traffic first, then IKE. A flood's cost per turn
/// stays bounded, the timers run every turn, and neither queue starves the other; the rest
/// wait in the bounded queues (and past them are dropped and counted).
const LOCAL_PER_TURN: usize = 1024;
const IKE_PER_TURN: usize = 256;

/// Everything the control thread owns.
pub struct Control {
    pub plane: ControlPlane<ControlTx>,
    pub runtime: tokio::runtime::Runtime,
    pub config_path: PathBuf,
    pub bindings: Vec<PortBinding>,
    pub ports: Vec<(Port, String)>,
    pub workers: Vec<Arc<WorkerCounters>>,
    pub supervision: Arc<Supervision>,
    pub started: Instant,
    /// A run of fixed length (`--duration`), for benchmarks and labs.
    pub timed: Option<TimedRun>,
}

/// A run of fixed length: it ends after `duration`; the workers' counters are taken when
/// the `warmup` is over and at the end, and the rates between are reported.
#[derive(Debug)]
pub struct TimedRun {
    began: Instant,
    duration: Duration,
    warmup: Duration,
    mark: Option<(Instant, WorkerCountersSnapshot)>,
    end: Option<(Instant, WorkerCountersSnapshot)>,
}

impl TimedRun {
    pub fn new(duration: Duration, warmup: Duration) -> Self {
        TimedRun {
            began: Instant::now(),
            duration,
            warmup,
            mark: None,
            end: None,
        }
    }

    /// Takes the counters when due; whether the run is over.
    fn tick(&mut self, workers: &[Arc<WorkerCounters>]) -> bool {
        let elapsed = self.began.elapsed();
        if self.mark.is_none() && elapsed >= self.warmup {
            self.mark = Some((Instant::now(), total(workers)));
        }
        if elapsed >= self.duration {
            self.end = Some((Instant::now(), total(workers)));
            return true;
        }
        false
    }

    /// The report printed at the end: drops by reason over the whole run, then one line of
    /// rates over the measured seconds (after the warm-up); `None` when the run ended before
    /// its warm-up did.
    pub fn report(&self, tsc_hz: u64) -> Option<String> {
        let ((t0, start), (t1, end)) = (self.mark.as_ref()?, self.end.as_ref()?);
        let secs = (*t1 - *t0).as_secs_f64();
        let rx: u64 = end.rx.iter().sum::<u64>() - start.rx.iter().sum::<u64>();
        let tx: u64 = end.tx.iter().sum::<u64>() - start.tx.iter().sum::<u64>();
        let busy = end.busy_cycles - start.busy_cycles;
        let busy_rounds = end.busy_bursts - start.busy_bursts;
        let mut out = String::new();
        for r in policy::Reason::ALL {
            if end.drops(r) > 0 {
                out += &format!("drop {:<22} {}\n", r.as_str(), end.drops(r));
            }
        }
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        out += &format!(
            "rx_mpps={:.3} tx_mpps={:.3} cycles_per_packet={:.1} packets_per_busy_round={:.2} encapsulated={} decapsulated={} tx_packets={} tsc_hz={}\n",
            rx as f64 / secs / 1e6,
            tx as f64 / secs / 1e6,
            ratio(busy, rx),
            ratio(rx, busy_rounds),
            end.encapsulated,
            end.decapsulated,
            // The whole run's, warm-up included (perf/worker-instructions divides by it).
            end.tx.iter().sum::<u64>(),
            tsc_hz,
        );
        Some(out)
    }
}

/// The sum of every worker's counters.
fn total(workers: &[Arc<WorkerCounters>]) -> WorkerCountersSnapshot {
    let mut sum = WorkerCountersSnapshot::default();
    for w in workers {
        sum.add(&w.snapshot());
    }
    sum
}

impl Control {
    /// The control thread's loop, until SIGINT or SIGTERM (`term`), a worker's panic, or
    /// the end of `--duration`; then IKE SAs are deleted and queued requests answered.
    pub fn run(
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
            if let Some(timed) = &mut self.timed {
                if timed.tick(&self.workers) {
                    break;
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

    pub fn replace(&mut self, path: &Path) -> Result<String, String> {
        let new = load(path)?;
        let diff = self
            .plane
            .reload(Arc::new(new), &self.bindings, now_ns())
            .map_err(|e| format!("% {e}\n"))?;
        Ok(diff.summary())
    }

    pub fn job(&mut self, job: Job) {
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
            for r in policy::Reason::ALL {
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
    let bytes = secret::SecretBytes::new(read_config(path).map_err(|e| format!("% {e}\n"))?);
    let (text, checked) = config::check_bytes(&bytes);
    let text = secret::SecretString::new(text);
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
