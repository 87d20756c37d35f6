//! The lab of the gateway tests: rri's DPDK data plane on two veths through `net_af_packet`
//! (inside: a host namespace, 10.1.0.5 behind rri's 10.1.0.1; outside: a bridge namespace
//! joining rri's 192.0.2.1 to up to two strongSwan namespaces, 192.0.2.2 and 192.0.2.3,
//! each protecting 10.2.0.0/16 with 10.2.0.1 on its loopback). rri runs in this process: a
//! worker thread polling the ports and a control thread running [`ControlPlane::poll`],
//! shared with the test behind a mutex so that the test reads `show` outputs directly.
//!
//! Needs root (namespaces, veths, raw sockets); `scripts/test` runs as root in CI.

#![allow(dead_code)]

use control::exception::ExceptionPath;
use control::plane::ControlPlane;
use dataplane::crypto::GcmEngines;
use dataplane::worker::{Punted, Worker};
use dataplane::ControlTx;
use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig};
use peer::driver::PeerDriver;
use peer::PeerManager;
use policy::build::{self, PortBinding};
use policy::{Event, PolicyHandle, WorkerCounters, WorkerCountersSnapshot};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const PSK: &str = "rri-lab-0123456789";

pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub use testkit::{is_root, out, ping_received as received, sh};

/// Namespaces and links of one test run, removed on drop.
pub struct Lab {
    pub tag: String,
}

impl Lab {
    pub fn new() -> Lab {
        assert!(is_root(), "this test needs root (namespaces and veths)");
        let tag = format!("{}", std::process::id() % 100_000);
        let lab = Lab { tag };
        lab.cleanup();
        let (ins, wan) = (lab.ns("in"), lab.ns("wan"));
        let (i0, i1, o0, o1) = (lab.dev("i0"), lab.dev("i1"), lab.dev("o0"), lab.dev("o1"));
        sh(&format!("ip netns add {ins} && ip netns add {wan}"));
        sh(&format!(
            "ip link add {i0} type veth peer name {i1} && ip link set {i1} netns {ins} && \
             ip link add {o0} type veth peer name {o1} && ip link set {o1} netns {wan}"
        ));
        for dev in [&i0, &o0] {
            sh(&format!(
                "sysctl -qw net.ipv6.conf.{dev}.disable_ipv6=1; ip link set {dev} up"
            ));
        }
        sh(&format!(
            "ip -n {ins} link set lo up && ip -n {ins} link set {i1} up && \
             ip -n {ins} addr add 10.1.0.5/24 dev {i1} && ip -n {ins} route add default via 10.1.0.1"
        ));
        sh(&format!(
            "ip -n {wan} link add br0 type bridge && ip -n {wan} link set br0 up && \
             ip -n {wan} link set {o1} master br0 && ip -n {wan} link set {o1} up"
        ));
        lab
    }

    pub fn ns(&self, which: &str) -> String {
        format!("rri{which}{}", self.tag)
    }

    pub fn dev(&self, which: &str) -> String {
        format!("rv{which}{}", self.tag)
    }

    fn cleanup(&self) {
        let mut cmd = String::new();
        for d in ["i0", "o0"] {
            cmd += &format!("ip link del {} 2>/dev/null; ", self.dev(d));
        }
        for n in ["in", "wan", "swa", "swb", "esp"] {
            cmd += &format!("ip netns del {} 2>/dev/null; ", self.ns(n));
        }
        let _ = Command::new("sh").arg("-c").arg(cmd).status();
    }

    /// Namespace `which`, joined to the WAN bridge by a veth pair, with `addr`/24 on its end
    /// and `behind`/32 on its loopback (a host of the network it protects); returns the
    /// device in the namespace. Removed with the lab.
    pub fn attach_to_wan(&self, which: &str, addr: &str, behind: &str) -> String {
        let ns = self.ns(which);
        let (a, b) = (
            self.dev(&format!("{which}a")),
            self.dev(&format!("{which}b")),
        );
        let wan = self.ns("wan");
        sh(&format!(
            "ip netns add {ns} && ip link add {a} type veth peer name {b} && \
             ip link set {a} netns {wan} && ip link set {b} netns {ns} && \
             ip -n {wan} link set {a} master br0 && ip -n {wan} link set {a} up && \
             ip -n {ns} link set lo up && ip -n {ns} link set {b} up && \
             ip -n {ns} addr add {addr}/24 dev {b} && ip -n {ns} addr add {behind}/32 dev lo && \
             ip netns exec {ns} sysctl -qw net.ipv4.conf.all.rp_filter=0"
        ));
        b
    }

    /// A ping from the inside host; the number of replies.
    pub fn ping_from_inside(&self, to: &str, count: u32, interval: &str) -> u32 {
        let text = out(&format!(
            "ip netns exec {} ping -n -q -c {count} -i {interval} -W 1 {to}",
            self.ns("in")
        ));
        received(&text)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A strongSwan peer in a namespace on the lab's bridge (a [`testkit::strongswan::Charon`]
/// with its address; the namespace goes with it).
pub struct Charon {
    pub addr: String,
    charon: testkit::strongswan::Charon,
}

impl std::ops::Deref for Charon {
    type Target = testkit::strongswan::Charon;
    fn deref(&self) -> &Self::Target {
        &self.charon
    }
}

impl std::ops::DerefMut for Charon {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.charon
    }
}

impl Charon {
    /// Starts charon as `which` ("swa" at 192.0.2.2, "swb" at 192.0.2.3) with one connection
    /// `rri` to 192.0.2.1 using `ike` and `esp` proposals (strongSwan syntax).
    pub fn start(lab: &Lab, which: &str, ike: &str, esp: &str) -> Charon {
        Self::start_with_secrets(
            lab,
            which,
            ike,
            esp,
            &format!("ike-rri {{ id = 192.0.2.1\n secret = \"{PSK}\" }}"),
        )
    }

    /// [`Charon::start`] with `secrets` (the body of swanctl.conf's `secrets` section).
    pub fn start_with_secrets(
        lab: &Lab,
        which: &str,
        ike: &str,
        esp: &str,
        secrets: &str,
    ) -> Charon {
        let ns = lab.ns(which);
        let addr = if which == "swa" {
            "192.0.2.2"
        } else {
            "192.0.2.3"
        };
        lab.attach_to_wan(which, addr, "10.2.0.1");
        let dir = std::env::temp_dir().join(format!("rri-gw-{which}-{}", lab.tag));
        let swanctl = format!(
            "connections {{\n rri {{\n  local_addrs = {addr}\n  remote_addrs = 192.0.2.1\n  version = 2\n  \
             proposals = {ike}\n  encap = yes\n  local {{ auth = psk\n id = {addr} }}\n  \
             remote {{ auth = psk\n id = 192.0.2.1 }}\n  \
             children {{ net {{ local_ts = 10.2.0.0/16\n remote_ts = 10.1.0.0/16\n \
             esp_proposals = {esp}\n rekey_time = 0 }} }}\n }}\n}}\n\
             secrets {{ {secrets} }}\n"
        );
        Charon {
            addr: addr.to_string(),
            charon: testkit::strongswan::Charon::start(&ns, dir, &swanctl),
        }
    }

    /// A ping from behind this peer (from 10.2.0.1) to the inside host.
    pub fn ping_inside(&self, count: u32, interval: &str) -> u32 {
        received(&out(&format!(
            "ip netns exec {} ping -n -q -c {count} -i {interval} -W 1 -I 10.2.0.1 10.1.0.5",
            self.ns
        )))
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        self.charon.kill();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// rri in this process: EAL, ports, a worker thread and a control thread.
pub struct Gateway {
    pub control: Arc<Mutex<ControlPlane<ControlTx>>>,
    pub counters: Arc<WorkerCounters>,
    pub policy: PolicyHandle,
    /// The ports as the configuration names them (for reloads).
    pub bindings: Vec<PortBinding>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _ports: (Port, Port),
    _pool: Mempool,
    _eal: Eal,
}

impl Gateway {
    pub fn start(lab: &Lab, config_text: &str) -> Gateway {
        let mut args = testkit::eal_args("gw", "0@0", &[]);
        for (i, dev) in [lab.dev("i0"), lab.dev("o0")].iter().enumerate() {
            args.push("--vdev".into());
            args.push(format!("net_af_packet{i},iface={dev},qpairs=2"));
        }
        let eal = Eal::init(args).expect("EAL starts");
        let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
        let port_config = PortConfig {
            rx_queues: 2,
            tx_queues: 2,
            promiscuous: true,
            ..PortConfig::default()
        };
        let port0 = Port::start(&eal, 0, &port_config, &pool).unwrap();
        let port1 = Port::start(&eal, 1, &port_config, &pool).unwrap();
        let bindings = [
            PortBinding::new("GigabitEthernet0/0", 0, port0.mac_address().unwrap()),
            PortBinding::new("GigabitEthernet0/1", 1, port1.mac_address().unwrap()),
        ];
        let checked = config::check(config_text);
        assert!(
            !checked.diagnostics.has_errors(),
            "{:?}",
            checked.diagnostics
        );
        let config = Arc::new(checked.config);
        let crypto = Arc::new(GcmEngines::without_device());
        let built = build::from_config(&config, &bindings, now_ns(), &*crypto).unwrap();
        let policy: PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
        let (punt_tx, punt_rx) = dataplane::worker::punt_queues(1024, 1024);
        let (event_tx, event_rx) = mpsc::sync_channel::<Event>(1024);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(WorkerCounters::default());
        let worker = Worker {
            rx: vec![
                port0.rx_queue(0).unwrap(),
                port0.rx_queue(1).unwrap(),
                port1.rx_queue(0).unwrap(),
                port1.rx_queue(1).unwrap(),
            ],
            tx: vec![port0.tx_queue(0).unwrap(), port1.tx_queue(0).unwrap()],
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
            ControlTx {
                tx: vec![port0.tx_queue(1).unwrap(), port1.tx_queue(1).unwrap()],
                pool: pool.clone(),
            },
        );
        let peers = PeerDriver::new(PeerManager::from_config(&config), None);
        let control = Arc::new(Mutex::new(ControlPlane::new(
            config,
            policy.clone(),
            exception,
            built.engine,
            built.fib,
            peers,
            crypto,
        )));
        let worker_thread = std::thread::spawn(move || worker.run());
        let control_thread = {
            let control = control.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    {
                        let mut c = control.lock().unwrap();
                        let punts: Vec<Punted> = punt_rx.drain(1024, 256).collect();
                        let events: Vec<Event> = event_rx.try_iter().collect();
                        c.poll(punts, events, now_ns());
                    }
                    std::thread::sleep(Duration::from_micros(300));
                }
            })
        };
        Gateway {
            control,
            counters,
            policy,
            bindings: bindings.to_vec(),
            stop,
            threads: vec![worker_thread, control_thread],
            _ports: (port0, port1),
            _pool: pool,
            _eal: eal,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut ControlPlane<ControlTx>) -> R) -> R {
        f(&mut self.control.lock().unwrap())
    }

    /// Applies a new configuration as `configure replace` does.
    pub fn reload(&self, config_text: &str) -> control::reload::Diff {
        let checked = config::check(config_text);
        assert!(
            !checked.diagnostics.has_errors(),
            "{:?}",
            checked.diagnostics
        );
        let bindings = self.bindings.clone();
        self.with(|c| c.reload(Arc::new(checked.config), &bindings, now_ns()))
            .expect("the new configuration applies")
    }

    pub fn show_crypto_route(&self) -> String {
        self.with(|c| c.show_crypto_route())
    }

    pub fn counters(&self) -> WorkerCountersSnapshot {
        self.counters.snapshot()
    }

    /// The outside port's device statistics (drops before the worker show here).
    pub fn outside_port_stats(&self) -> Option<dpdk::PortStats> {
        self._ports.1.stats().ok()
    }

    /// Waits until `f` holds, up to `secs`.
    pub fn wait_for(&self, secs: u64, mut f: impl FnMut(&Gateway) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// rri's configuration for the lab: `entry` goes after the common part (interfaces,
/// default route out of the WAN side, ACL 101, keyring with both peers, transform set `TS`
/// built from `transform`, IKEv2 proposal with `ike_cipher`).
pub fn config(transform: &str, ike_cipher: &str, entry: &str) -> String {
    format!(
        "hostname hub
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
ip route 0.0.0.0 0.0.0.0 192.0.2.254
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ikev2 proposal PROP
 encryption {ike_cipher}
 prf sha256
 group 31
crypto ikev2 policy POL
 proposal PROP
crypto ikev2 keyring KR
 peer SWA
  address 192.0.2.2
  pre-shared-key {PSK}
 peer SWB
  address 192.0.2.3
  pre-shared-key {PSK}
crypto ikev2 profile PROF
 match identity remote address 192.0.2.0 255.255.255.0
 authentication local pre-share
 authentication remote pre-share
 keyring local KR
crypto ipsec transform-set TS {transform}
{entry}"
    )
}
