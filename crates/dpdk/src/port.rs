//! Ethernet ports and their queues.
//!
//! A [`Port`] is configured with N receive and N transmit queues and started. Each queue is
//! then handed out once as an [`RxQueue`] or [`TxQueue`]: DPDK's burst functions are not
//! thread-safe on one queue, and holding the handle is the only way to call them, so two
//! threads can never poll one queue. A port stops only when every handle has come back, and
//! is closed when the port and all its handles are gone.

use std::ffi::{c_char, CString};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{c_string, DpdkError};
use crate::{sys, Eal, MbufBurst, Mempool};

/// How to set a port up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues.
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Descriptors per receive queue.
    pub rx_descriptors: u16,
    /// Descriptors per transmit queue.
    pub tx_descriptors: u16,
    /// Receive every frame, not only those for the port's MAC address.
    pub promiscuous: bool,
    /// The MTU to set, if not the device's default.
    pub mtu: Option<u16>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            promiscuous: true,
            mtu: None,
        }
    }
}

/// Why a port operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// DPDK refused the call.
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    /// No port has this id or name.
    #[error("no DPDK port {0}")]
    NoSuchPort(String),
    /// The queue index is beyond what the port was configured with.
    #[error("port {port} has no {kind} queue {queue}")]
    NoSuchQueue {
        /// The port.
        port: u16,
        /// "receive" or "transmit".
        kind: &'static str,
        /// The queue asked for.
        queue: u16,
    },
    /// The queue's handle is already out.
    #[error("{kind} queue {queue} of port {port} is already in use")]
    QueueInUse {
        /// The port.
        port: u16,
        /// "receive" or "transmit".
        kind: &'static str,
        /// The queue asked for.
        queue: u16,
    },
    /// Queues are handed out only while the port is started.
    #[error("port {0} is not started")]
    NotStarted(u16),
    /// A port stops only when all queue handles have been dropped.
    #[error("port {0} still has queue handles out")]
    QueuesOut(u16),
}

/// The counters DPDK keeps per port (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets transmitted.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes transmitted.
    pub obytes: u64,
    /// Packets dropped by the hardware because no receive descriptor was free.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mbps (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

struct PortInner {
    id: u16,
    name: String,
    started: AtomicBool,
    rx_taken: Vec<AtomicBool>,
    tx_taken: Vec<AtomicBool>,
    /// Receive queues take mbufs from these pools; they must outlive the port.
    _pools: Vec<Mempool>,
    _eal: Eal,
}

/// A configured Ethernet port.
pub struct Port {
    inner: Arc<PortInner>,
}

impl Port {
    /// The ids of all available ports.
    pub fn ids(_eal: &Eal) -> Vec<u16> {
        let mut ids = Vec::new();
        // SAFETY: rte_eth_find_next only reads the port table.
        let mut id = unsafe { sys::rte_eth_find_next(0) };
        while u32::from(id) < sys::RTE_MAX_ETHPORTS {
            ids.push(id);
            // SAFETY: as above.
            id = unsafe { sys::rte_eth_find_next(id + 1) };
        }
        ids
    }

    /// The id of the port with this device name (e.g. `net_ring0`).
    ///
    /// # Errors
    /// [`PortError::NoSuchPort`] when no port has that name.
    pub fn id_by_name(_eal: &Eal, name: &str) -> Result<u16, PortError> {
        let no_such = || PortError::NoSuchPort(name.to_string());
        let c_name = CString::new(name).map_err(|_| no_such())?;
        let mut id = 0u16;
        // SAFETY: the name is a valid C string; DPDK writes the id on success.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(no_such());
        }
        Ok(id)
    }

    /// Configures port `id` with `config`, its receive queues taking mbufs from `pool`, and
    /// starts it.
    ///
    /// # Errors
    /// When the port does not exist or DPDK refuses the configuration.
    pub fn start(
        eal: &Eal,
        id: u16,
        config: &PortConfig,
        pool: &Mempool,
    ) -> Result<Port, PortError> {
        // SAFETY: rte_eth_dev_is_valid_port only reads the port table.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(PortError::NoSuchPort(id.to_string()));
        }
        let conf = sys::rte_eth_conf::default();
        // SAFETY: the port is valid and not started by anyone else (we are configuring it);
        // `conf` is a fully initialised rte_eth_conf that DPDK copies.
        let ret =
            unsafe { sys::rte_eth_dev_configure(id, config.rx_queues, config.tx_queues, &conf) };
        check(ret, || format!("rte_eth_dev_configure(port {id})"))?;
        let (mut rx_desc, mut tx_desc) = (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: the port is configured; DPDK adjusts the counts in place to its limits.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        check(ret, || {
            format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})")
        })?;
        // SAFETY: the port is valid.
        let socket = u32::try_from(unsafe { sys::rte_eth_dev_socket_id(id) }).unwrap_or(0);
        for q in 0..config.rx_queues {
            // SAFETY: the port is configured with this many queues; a null rx_conf asks for the
            // driver's defaults; the pool is live and kept alive by the port (in _pools).
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            };
            check(ret, || {
                format!("rte_eth_rx_queue_setup(port {id}, queue {q})")
            })?;
        }
        for q in 0..config.tx_queues {
            // SAFETY: as above, with the driver's default tx_conf.
            let ret =
                unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            check(ret, || {
                format!("rte_eth_tx_queue_setup(port {id}, queue {q})")
            })?;
        }
        if let Some(mtu) = config.mtu {
            // SAFETY: the port is configured and stopped.
            let ret = unsafe { sys::rte_eth_dev_set_mtu(id, mtu) };
            check(ret, || format!("rte_eth_dev_set_mtu(port {id}, {mtu})"))?;
        }
        let mut name_buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: the buffer has RTE_ETH_NAME_MAX_LEN bytes, as DPDK requires.
        unsafe { sys::rte_eth_dev_get_name_by_port(id, name_buf.as_mut_ptr()) };
        let port = Port {
            inner: Arc::new(PortInner {
                id,
                name: c_string(name_buf.as_ptr()),
                started: AtomicBool::new(false),
                rx_taken: (0..config.rx_queues)
                    .map(|_| AtomicBool::new(false))
                    .collect(),
                tx_taken: (0..config.tx_queues)
                    .map(|_| AtomicBool::new(false))
                    .collect(),
                _pools: vec![pool.clone()],
                _eal: eal.clone(),
            }),
        };
        // SAFETY: queues are set up; starting has no other precondition.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        check(ret, || format!("rte_eth_dev_start(port {id})"))?;
        port.inner.started.store(true, Ordering::SeqCst);
        if config.promiscuous {
            // SAFETY: the port is started. Some virtual devices lack promiscuous mode; that
            // is not an error for them, so the result is ignored.
            unsafe { sys::rte_eth_promiscuous_enable(id) };
        }
        Ok(port)
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The device name (e.g. `net_pcap0`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether the port is started.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Starts a stopped port again.
    ///
    /// # Errors
    /// When DPDK refuses.
    pub fn restart(&mut self) -> Result<(), PortError> {
        if self.is_started() {
            return Ok(());
        }
        let id = self.id();
        // SAFETY: the port is configured and stopped.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        check(ret, || format!("rte_eth_dev_start(port {id})"))?;
        self.inner.started.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Stops the port.
    ///
    /// # Errors
    /// [`PortError::QueuesOut`] while any queue handle is held: a worker might be polling it.
    pub fn stop(&mut self) -> Result<(), PortError> {
        if self.inner.queues_out() {
            return Err(PortError::QueuesOut(self.id()));
        }
        self.inner.stop()
    }

    /// Takes the handle of receive queue `queue`.
    ///
    /// # Errors
    /// When the queue does not exist, its handle is out, or the port is stopped.
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue, PortError> {
        self.take(queue, "receive", &self.inner.rx_taken)?;
        Ok(RxQueue {
            port: self.inner.clone(),
            queue,
        })
    }

    /// Takes the handle of transmit queue `queue`.
    ///
    /// # Errors
    /// When the queue does not exist, its handle is out, or the port is stopped.
    pub fn tx_queue(&self, queue: u16) -> Result<TxQueue, PortError> {
        self.take(queue, "transmit", &self.inner.tx_taken)?;
        Ok(TxQueue {
            port: self.inner.clone(),
            queue,
        })
    }

    fn take(&self, queue: u16, kind: &'static str, flags: &[AtomicBool]) -> Result<(), PortError> {
        let port = self.id();
        if !self.is_started() {
            return Err(PortError::NotStarted(port));
        }
        let flag = flags
            .get(usize::from(queue))
            .ok_or(PortError::NoSuchQueue { port, kind, queue })?;
        if flag.swap(true, Ordering::AcqRel) {
            return Err(PortError::QueueInUse { port, kind, queue });
        }
        Ok(())
    }

    /// The port's counters.
    ///
    /// # Errors
    /// When the driver cannot report them.
    pub fn stats(&self) -> Result<PortStats, PortError> {
        let id = self.id();
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: the port is valid; DPDK fills the struct we own.
        let ret = unsafe { sys::rte_eth_stats_get(id, &mut s) };
        check(ret, || format!("rte_eth_stats_get(port {id})"))?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Zeroes the port's counters.
    ///
    /// # Errors
    /// When the driver refuses.
    pub fn reset_stats(&self) -> Result<(), PortError> {
        let id = self.id();
        // SAFETY: the port is valid.
        let ret = unsafe { sys::rte_eth_stats_reset(id) };
        check(ret, || format!("rte_eth_stats_reset(port {id})"))
    }

    /// The link state, without waiting for negotiation.
    ///
    /// # Errors
    /// When the driver cannot report it.
    pub fn link(&self) -> Result<Link, PortError> {
        let id = self.id();
        let mut link = sys::rte_eth_link::default();
        // SAFETY: the port is valid; DPDK fills the struct we own.
        let ret = unsafe { sys::rte_eth_link_get_nowait(id, &mut link) };
        check(ret, || format!("rte_eth_link_get_nowait(port {id})"))?;
        Ok(Link {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
            full_duplex: link.link_duplex() != 0,
        })
    }

    /// The port's MAC address.
    ///
    /// # Errors
    /// When the driver cannot report it.
    pub fn mac_address(&self) -> Result<[u8; 6], PortError> {
        let id = self.id();
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: the port is valid; DPDK fills the struct we own.
        let ret = unsafe { sys::rte_eth_macaddr_get(id, &mut mac) };
        check(ret, || format!("rte_eth_macaddr_get(port {id})"))?;
        Ok(mac.addr_bytes)
    }

    /// Gives the port the MAC address `mac` (IOS's `mac-address` on an interface): the
    /// address it receives for and sends from.
    ///
    /// # Errors
    /// When the driver cannot change it (some cannot while started, some not at all).
    pub fn set_mac_address(&self, mac: [u8; 6]) -> Result<(), PortError> {
        let id = self.id();
        let mut addr = sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: the port is valid; DPDK reads the struct we own for the call's duration.
        let ret = unsafe { sys::rte_eth_dev_default_mac_addr_set(id, &mut addr) };
        check(ret, || {
            format!("rte_eth_dev_default_mac_addr_set(port {id})")
        })
    }
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("started", &self.is_started())
            .finish()
    }
}

impl PortInner {
    fn queues_out(&self) -> bool {
        self.rx_taken
            .iter()
            .chain(&self.tx_taken)
            .any(|f| f.load(Ordering::Acquire))
    }

    fn stop(&self) -> Result<(), PortError> {
        if !self.started.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let id = self.id;
        // SAFETY: no queue handle is out (checked by callers, or this is the last reference),
        // so no thread is inside a burst call on this port.
        let ret = unsafe { sys::rte_eth_dev_stop(id) };
        check(ret, || format!("rte_eth_dev_stop(port {id})"))
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // This is the last reference: the Port and every queue handle are gone.
        if let Err(e) = self.stop() {
            eprintln!("dpdk: {e}");
        }
        // SAFETY: the port is stopped and nothing references it any more; close releases its
        // queues (and any mbufs they hold) before the pools in _pools are dropped.
        let ret = unsafe { sys::rte_eth_dev_close(self.id) };
        if ret != 0 {
            eprintln!(
                "dpdk: {}",
                DpdkError::new(format!("rte_eth_dev_close(port {})", self.id), ret)
            );
        }
    }
}

fn check(ret: i32, operation: impl FnOnce() -> String) -> Result<(), PortError> {
    if ret < 0 {
        return Err(DpdkError::new(operation(), ret).into());
    }
    Ok(())
}

/// The exclusive right to receive on one queue of a port.
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
}

/// The exclusive right to transmit on one queue of a port.
pub struct TxQueue {
    port: Arc<PortInner>,
    queue: u16,
}

impl RxQueue {
    /// The port id.
    #[inline]
    pub fn port(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    #[inline]
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to the burst's spare room, appending to it; returns how many arrived.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let (spare, room) = burst.spare_raw();
        if room == 0 {
            return 0;
        }
        // SAFETY: this handle is the only one for (port, queue), the port is started (handles
        // exist only then and stop waits for them), and `spare` has `room` writable slots.
        let received = unsafe {
            sys::rte_eth_rx_burst(
                self.port.id,
                self.queue,
                spare,
                u16::try_from(room).unwrap_or(u16::MAX),
            )
        };
        let received = usize::from(received);
        // SAFETY: DPDK wrote `received` owned mbuf pointers into the spare slots.
        unsafe { burst.commit_spare(received) };
        received
    }
}

impl TxQueue {
    /// The port id.
    #[inline]
    pub fn port(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    #[inline]
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Transmits from the front of the burst; what the device did not accept stays in the
    /// burst, at the front. Returns how many were sent.
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let len = burst.len();
        if len == 0 {
            return 0;
        }
        // SAFETY: this handle is the only one for (port, queue) and the port is started; the
        // burst's first `len` slots hold owned mbufs. DPDK takes ownership of those it sends.
        let sent = unsafe {
            sys::rte_eth_tx_burst(
                self.port.id,
                self.queue,
                burst.held_raw(),
                u16::try_from(len).unwrap_or(u16::MAX),
            )
        };
        let sent = usize::from(sent);
        // SAFETY: the device now owns the first `sent` mbufs.
        unsafe { burst.forget_front(sent) };
        sent
    }

    /// Transmits the burst and frees what the device did not accept. Returns how many were
    /// sent; the burst is empty afterwards.
    #[inline]
    pub fn tx_burst_or_free<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let sent = self.tx_burst(burst);
        burst.clear();
        sent
    }
}

macro_rules! queue_handle_common {
    ($ty:ident, $flags:ident, $kind:literal) => {
        impl Drop for $ty {
            fn drop(&mut self) {
                self.port.$flags[usize::from(self.queue)].store(false, Ordering::Release);
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(port {}, queue {})", $kind, self.port.id, self.queue)
            }
        }
    };
}

queue_handle_common!(RxQueue, rx_taken, "RxQueue");
queue_handle_common!(TxQueue, tx_taken, "TxQueue");
