//! The DPDK worker loop around the [`Pipeline`](crate::Pipeline).
//!
//! One worker owns one rx and one tx queue of every port. Each round it loads the policy
//! and the FIB snapshot once, receives a burst of up to 32 from each port in turn, decides
//! every packet, and transmits what it collected per egress port before the next round.
//! Punted frames go to the control thread over a bounded channel; when it is full the frame
//! is dropped and counted, so a flood of local traffic never stalls forwarding. Nothing in
//! the loop allocates or locks (a bounded std channel's `try_send` is lock-free).

use crate::counters::{Reason, WorkerCounters, WorkerCountersSnapshot, MAX_PORTS};
use crate::pipeline::{Action, Event, Pipeline, PuntReason};
use crate::policy::PolicyHandle;
use dpdk::{Mbuf, MbufBurst, RxQueue, TxQueue};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// Packets received per port per round.
pub const RX_BURST: usize = 32;
/// Room in each port's transmit buffer: a round can route every port's burst to one port.
const TX_ROOM: usize = 128;

/// A frame for the control thread: the port it came in on, why, and the frame.
pub type Punted = (u16, PuntReason, Mbuf);

/// What one worker needs.
pub struct Worker {
    /// Receive queues, one per port, in port order.
    pub rx: Vec<RxQueue>,
    /// Transmit queues by port id.
    pub tx: Vec<TxQueue>,
    pub policy: PolicyHandle,
    pub fib: fib::FibReader,
    pub counters: Arc<WorkerCounters>,
    pub punt: SyncSender<Punted>,
    pub events: SyncSender<Event>,
    pub stop: Arc<AtomicBool>,
    /// Monotonic nanoseconds (the SA lifetimes' clock).
    pub clock: fn() -> u64,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .finish()
    }
}

impl Worker {
    /// Runs until `stop` is set; publishes counters along the way and at the end.
    pub fn run(mut self) {
        let mut rx: MbufBurst<RX_BURST> = MbufBurst::new();
        let mut tx: Vec<MbufBurst<TX_ROOM>> =
            (0..self.tx.len()).map(|_| MbufBurst::new()).collect();
        let mut local = WorkerCountersSnapshot::default();
        let mut rounds: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let policy = self.policy.load();
            let fib = self.fib.load();
            let pipeline = Pipeline::new(&policy, &fib, (self.clock)());
            let events = &self.events;
            let mut on_event = |e: Event| {
                let _ = events.try_send(e);
            };
            for queue in &mut self.rx {
                let port = queue.port();
                let received = queue.rx_burst(&mut rx);
                if received == 0 {
                    continue;
                }
                local.rx[usize::from(port) % MAX_PORTS] += received as u64;
                for mut mbuf in rx.drain() {
                    match pipeline.process(port, &mut mbuf, &mut local, &mut on_event) {
                        Action::Forward(out) => {
                            let Some(buffer) = tx.get_mut(usize::from(out)) else {
                                local.drops[Reason::NoRoute as usize] += 1;
                                continue;
                            };
                            if let Err(mbuf) = buffer.push(mbuf) {
                                // Full: send what is there, then queue this one.
                                let held = buffer.len();
                                let sent = self.tx[usize::from(out)].tx_burst_or_free(buffer);
                                local.tx[usize::from(out) % MAX_PORTS] += sent as u64;
                                local.drops[Reason::TxFull as usize] += (held - sent) as u64;
                                let _ = buffer.push(mbuf);
                            }
                        }
                        Action::Punt(reason) => {
                            if self.punt.try_send((port, reason, mbuf)).is_err() {
                                local.punted -= 1;
                                local.drops[Reason::PuntQueueFull as usize] += 1;
                            }
                        }
                        Action::Drop(_) => drop(mbuf),
                    }
                }
            }
            for (out, buffer) in tx.iter_mut().enumerate() {
                if buffer.is_empty() {
                    continue;
                }
                let held = buffer.len();
                let sent = self.tx[out].tx_burst_or_free(buffer);
                local.tx[out % MAX_PORTS] += sent as u64;
                local.drops[Reason::TxFull as usize] += (held - sent) as u64;
            }
            drop(fib);
            drop(policy);
            local.bursts += 1;
            rounds += 1;
            if rounds % 64 == 0 {
                self.counters.publish(&local);
            }
        }
        self.counters.publish(&local);
    }
}
