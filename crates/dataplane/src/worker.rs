//! The DPDK worker loop around the [`Pipeline`].
//!
//! One worker owns one rx and one tx queue of every port. Each round it loads the policy
//! and the FIB snapshot once, receives a burst of up to 32 from each port in turn, decides
//! every packet, and transmits what it collected per egress port before the next round.
//! Punted frames go to the control thread over bounded channels, IKE in one of its own
//! ([`PuntSenders`]); when one is full the frame is dropped and counted, so a flood of local
//! traffic never stalls forwarding, and an IKE flood never crowds out ARP and ICMP. Fragments
//! take mbufs from the worker's pool. Nothing in the loop allocates heap memory or locks (a
//! bounded std channel's `try_send` is lock-free).

use arrayvec::ArrayVec;
use dpdk::{Mbuf, MbufBurst, Mempool, RxQueue, TxQueue};
use pipeline::{Action, Pipeline, Target, MAX_FRAGMENTS};
use policy::{
    Event, PolicyHandle, PuntReason, Reason, WorkerCounters, WorkerCountersSnapshot, MAX_PORTS,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

/// Packets received per port per round.
pub const RX_BURST: usize = 32;
/// Bytes of each received frame (and of headroom before it) prefetched before the burst is
/// processed: Ethernet, IPv4 and the start of L4 fit in one line; so do the outer IPv4,
/// UDP and ESP headers a tunnel prepends.
const HEADER_LINE: usize = 64;
/// Bytes after a packet prefetched before ESP encapsulation: the most that padding (15),
/// pad length and next header (2) and the ICV (16) add.
const ESP_TAIL: usize = 15 + 2 + 16;
/// Room in each port's transmit buffer before it is flushed early.
const TX_ROOM: usize = 128;

/// A frame for the control thread: the port it came in on, why, and the frame.
pub type Punted = (u16, PuntReason, Mbuf);

/// The workers' side of the punt queues: IKE (UDP 500 and 4500 with the non-ESP marker) in
/// one, everything else (ARP, ICMP, other local traffic, TTL expiries) in the other, each
/// bounded. A flood of IKE_SA_INITs fills its own queue only: ARP keeps resolving next hops
/// and ICMP keeps answering while it lasts.
#[derive(Debug, Clone)]
pub struct PuntSenders {
    pub local: SyncSender<Punted>,
    pub ike: SyncSender<Punted>,
}

impl PuntSenders {
    /// The queue for frames punted for `reason`.
    #[inline]
    fn queue(&self, reason: PuntReason) -> &SyncSender<Punted> {
        if reason == PuntReason::Ike {
            &self.ike
        } else {
            &self.local
        }
    }
}

/// The control thread's side of the punt queues.
#[derive(Debug)]
pub struct PuntReceivers {
    pub local: Receiver<Punted>,
    pub ike: Receiver<Punted>,
}

impl PuntReceivers {
    /// What waits now, local frames first: at most `local_budget` of them, then at most
    /// `ike_budget` IKE frames. The rest wait in their bounded queues for the next turn, so
    /// that one turn's work stays bounded whatever arrives (a flood of either kind cannot
    /// keep the control thread from its timers or from the other queue).
    pub fn drain(
        &self,
        local_budget: usize,
        ike_budget: usize,
    ) -> impl Iterator<Item = Punted> + '_ {
        self.local
            .try_iter()
            .take(local_budget)
            .chain(self.ike.try_iter().take(ike_budget))
    }
}

/// Punt queues holding up to `local` and `ike` frames.
pub fn punt_queues(local: usize, ike: usize) -> (PuntSenders, PuntReceivers) {
    let (local_tx, local_rx) = std::sync::mpsc::sync_channel(local);
    let (ike_tx, ike_rx) = std::sync::mpsc::sync_channel(ike);
    (
        PuntSenders {
            local: local_tx,
            ike: ike_tx,
        },
        PuntReceivers {
            local: local_rx,
            ike: ike_rx,
        },
    )
}

/// What one worker needs.
pub struct Worker {
    /// Receive queues this worker polls (any ports, any queue indexes).
    pub rx: Vec<RxQueue>,
    /// Transmit queues by port id.
    pub tx: Vec<TxQueue>,
    /// Where fragments get their mbufs.
    pub pool: Mempool,
    pub policy: PolicyHandle,
    pub fib: fib::FibReader,
    pub counters: Arc<WorkerCounters>,
    pub punt: PuntSenders,
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

/// Packets waiting to be encapsulated, a burst per SA, at the end of each receive burst.
/// ArrayVecs: nothing is initialised past what is pushed, and nothing is allocated.
struct Pending {
    mbufs: ArrayVec<Mbuf, PENDING_MAX>,
    targets: ArrayVec<Target, PENDING_MAX>,
}

/// Room in [`Pending`]: every packet of a receive burst, each fragmented as far as it goes.
const PENDING_MAX: usize = RX_BURST * (MAX_FRAGMENTS + 1);

impl Pending {
    fn new() -> Self {
        Pending {
            mbufs: ArrayVec::new(),
            targets: ArrayVec::new(),
        }
    }

    #[inline]
    fn push(&mut self, mbuf: Mbuf, target: Target, local: &mut WorkerCountersSnapshot) {
        // The trailer and ICV land past the packet's end, on a line the receive prefetch did
        // not cover; asked for now, it has arrived by the time the burst is encapsulated.
        mbuf.prefetch_tail(ESP_TAIL);
        // Both have the same length, so both take it or neither does; neither cannot happen
        // (the room is a whole burst fragmented to the limit), and the mbuf is freed.
        if self.mbufs.try_push(mbuf).is_err() || self.targets.try_push(target).is_err() {
            local.drops[Reason::EspEncapFailed as usize] += 1;
        }
    }

    /// Encapsulates everything waiting, one `encapsulate_burst` per run of packets to the same
    /// SA (at most [`esp::MAX_BURST`] at a time), and dispatches the results.
    fn flush(
        &mut self,
        pipeline: &Pipeline<'_>,
        outputs: &mut Outputs<'_>,
        in_port: u16,
        local: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) {
        // Each run is taken off the front; drain shifts what follows down.
        while let Some(&target) = self.targets.first() {
            let limit = self.targets.len().min(esp::MAX_BURST);
            let run = 1 + self.targets[1..limit]
                .iter()
                .take_while(|t| **t == target)
                .count();
            let mut actions = ArrayVec::<Action, { esp::MAX_BURST }>::new();
            pipeline.encapsulate_burst(
                target,
                &mut self.mbufs[..run],
                local,
                events,
                &mut |_, a| {
                    let _ = actions.try_push(a);
                },
            );
            for (mbuf, action) in self.mbufs.drain(..run).zip(actions) {
                outputs.dispatch(in_port, mbuf, action, local, &mut None);
            }
            self.targets.drain(..run);
        }
        self.mbufs.clear();
        self.targets.clear();
    }
}

/// The transmit side of a round: per-port buffers and their queues.
struct Outputs<'w> {
    buffers: &'w mut [MbufBurst<TX_ROOM>],
    queues: &'w mut [TxQueue],
    punt: &'w PuntSenders,
}

impl Outputs<'_> {
    /// Queues, punts or frees one packet according to its action; one for encapsulation goes
    /// to `pending` (or is dropped and counted if there is none). Inlined into each caller,
    /// where the action's kind is mostly known.
    #[inline(always)]
    fn dispatch(
        &mut self,
        in_port: u16,
        mbuf: Mbuf,
        action: Action,
        local: &mut WorkerCountersSnapshot,
        pending: &mut Option<&mut Pending>,
    ) {
        match action {
            Action::Forward(out) => self.forward(usize::from(out), mbuf, local),
            Action::Punt(reason) => {
                if self
                    .punt
                    .queue(reason)
                    .try_send((in_port, reason, mbuf))
                    .is_err()
                {
                    local.punted -= 1;
                    let full = if reason == PuntReason::Ike {
                        Reason::IkeQueueFull
                    } else {
                        Reason::PuntQueueFull
                    };
                    local.drops[full as usize] += 1;
                }
            }
            Action::Encapsulate(target) => match pending {
                Some(pending) => pending.push(mbuf, target, local),
                None => local.drops[Reason::EspEncapFailed as usize] += 1,
            },
            // Fragments are resolved before dispatch; a stray one is dropped.
            Action::Drop(_) | Action::Fragment(_) => drop(mbuf),
        }
    }

    /// Queues a packet on port `out`'s transmit buffer, flushing it first when full.
    #[inline(always)]
    fn forward(&mut self, out: usize, mbuf: Mbuf, local: &mut WorkerCountersSnapshot) {
        let (Some(buffer), Some(queue)) = (self.buffers.get_mut(out), self.queues.get_mut(out))
        else {
            local.drops[Reason::NoRoute as usize] += 1;
            return;
        };
        if let Err(mbuf) = buffer.push(mbuf) {
            flush(queue, buffer, out, local);
            let _ = buffer.push(mbuf);
        }
    }
}

#[inline]
fn flush(
    queue: &mut TxQueue,
    buffer: &mut MbufBurst<TX_ROOM>,
    port: usize,
    local: &mut WorkerCountersSnapshot,
) {
    let held = buffer.len();
    if held == 0 {
        return;
    }
    let sent = queue.tx_burst_or_free(buffer);
    local.tx[port % MAX_PORTS] += sent as u64;
    local.drops[Reason::TxFull as usize] += (held - sent) as u64;
}

impl Worker {
    /// Runs until `stop` is set; publishes counters along the way and at the end.
    pub fn run(mut self) {
        let mut rx: MbufBurst<RX_BURST> = MbufBurst::new();
        let mut buffers: Vec<MbufBurst<TX_ROOM>> =
            (0..self.tx.len()).map(|_| MbufBurst::new()).collect();
        let mut local = WorkerCountersSnapshot::default();
        let mut pending = Pending::new();
        let mut rounds: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let round_start = dpdk::rdtsc();
            let mut busy = false;
            let policy = self.policy.load();
            let fib = self.fib.load();
            let pipeline = Pipeline::new(&policy, &fib, (self.clock)()).deferring_encapsulation();
            let events = &self.events;
            let mut on_event = |e: Event| {
                let _ = events.try_send(e);
            };
            let mut outputs = Outputs {
                buffers: &mut buffers,
                queues: &mut self.tx,
                punt: &self.punt,
            };
            for queue in &mut self.rx {
                let port = queue.port();
                let received = queue.rx_burst(&mut rx);
                if received == 0 {
                    continue;
                }
                busy = true;
                local.rx[usize::from(port) % MAX_PORTS] += received as u64;
                // Every frame's headers, and the headroom line a tunnel header goes into, are
                // asked for at once so that their misses overlap instead of each stalling the
                // parse: the bytes were written by whoever sent them (a NIC, or a memif peer
                // on another core), and the pipeline rewrites what it reads.
                for mbuf in rx.iter() {
                    mbuf.prefetch_front(HEADER_LINE, HEADER_LINE);
                }
                for mut mbuf in rx.drain() {
                    match pipeline.process(port, &mut mbuf, &mut local, &mut on_event) {
                        Action::Fragment(plan) => {
                            let pool = &self.pool;
                            let mut done: [Option<(Mbuf, Action)>; MAX_FRAGMENTS + 1] =
                                std::array::from_fn(|_| None);
                            let mut n = 0;
                            pipeline.fragment(
                                plan,
                                mbuf,
                                &mut || pool.alloc(),
                                &mut local,
                                &mut on_event,
                                &mut |m, a| {
                                    if let Some(slot) = done.get_mut(n) {
                                        *slot = Some((m, a));
                                        n += 1;
                                    }
                                },
                            );
                            for (m, a) in done.iter_mut().filter_map(Option::take) {
                                outputs.dispatch(port, m, a, &mut local, &mut Some(&mut pending));
                            }
                        }
                        action => outputs.dispatch(
                            port,
                            mbuf,
                            action,
                            &mut local,
                            &mut Some(&mut pending),
                        ),
                    }
                }
                pending.flush(&pipeline, &mut outputs, port, &mut local, &mut on_event);
            }
            for (port, (buffer, queue)) in buffers.iter_mut().zip(self.tx.iter_mut()).enumerate() {
                flush(queue, buffer, port, &mut local);
            }
            drop(fib);
            drop(policy);
            if busy {
                local.busy_cycles += dpdk::rdtsc().wrapping_sub(round_start);
                local.busy_bursts += 1;
            }
            local.bursts += 1;
            rounds += 1;
            if rounds.is_multiple_of(64) {
                self.counters.publish(&local);
            }
        }
        self.counters.publish(&local);
    }
}
