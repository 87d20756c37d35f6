//! The control thread's loop body: punted frames and worker events in; ARP, ICMP and IKE
//! handled; SAs installed; routes and peers kept. [`ControlPlane::poll`] is called in a
//! loop by the daemon (and by tests, which then read the `show` outputs directly).

use crate::engine::{EngineOutput, KeyEngine};
use crate::exception::ExceptionPath;
use crate::install::SaTable;
use crate::reload::{self, Diff};
use config::Config;
use fib::Fib;
use peer::driver::{Input, KeyExchange, PeerDriver};
use peer::manager::EntryKey;
use peer::Failure;
use pktbuf::PacketBuf;
use policy::build::{policy_from_config, sync_fib, Keep, PortBinding};
use policy::{Event, FrameTx, PolicyHandle, PuntReason, SaCrypto};
use rib::RouteEngine;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use wire::ether::{self, ETHERTYPE_IPV4};
use wire::ipv4::{self, Ipv4Packet};
use wire::udp::UdpPacket;

/// How often SA traffic is reported to the peer manager (for idle timers).
const TRAFFIC_REPORT_NS: u64 = 1_000_000_000;

/// What the peer manager asked of the key exchange, carried out after it returns.
#[derive(Debug, Default)]
struct Requests(Vec<Request>);

#[derive(Debug)]
enum Request {
    Initiate(EntryKey, Ipv4Addr),
    Clear(EntryKey, Ipv4Addr),
}

impl KeyExchange for Requests {
    fn initiate(&mut self, entry: &EntryKey, addr: Ipv4Addr) {
        self.0.push(Request::Initiate(entry.clone(), addr));
    }
    fn clear(&mut self, entry: &EntryKey, addr: Ipv4Addr, reason: &Failure) {
        tracing::info!(target: "rri::peer", map = %entry.0, seq = entry.1, %addr, %reason, "clearing SAs");
        self.0.push(Request::Clear(entry.clone(), addr));
    }
}

/// Everything the control thread owns; it reaches the wire through `T`.
#[derive(Debug)]
pub struct ControlPlane<T: FrameTx> {
    /// The configuration applied now.
    pub config: Arc<Config>,
    pub policy: PolicyHandle,
    pub exception: ExceptionPath<T>,
    pub engine: KeyEngine,
    pub sas: SaTable,
    pub routes: RouteEngine,
    pub fib: Fib,
    pub peers: PeerDriver,
    /// Where manual SAs' sequence numbers are persisted (rrid always has one; see
    /// [`crate::seqstate`]). Without it manual SAs keep no state across restarts.
    pub sequences: Option<crate::seqstate::SequenceStore>,
    last_traffic_report_ns: u64,
    traffic_seen: rustc_hash::FxHashMap<crate::engine::SaId, (u64, u64)>,
}

impl<T: FrameTx> ControlPlane<T> {
    /// Wires the parts built from `config`; SAs made from now on get their AES-GCM engines
    /// from `crypto`.
    pub fn new(
        config: Arc<Config>,
        policy: PolicyHandle,
        exception: ExceptionPath<T>,
        routes: RouteEngine,
        fib: Fib,
        peers: PeerDriver,
        crypto: Arc<dyn SaCrypto>,
    ) -> Self {
        ControlPlane {
            sas: SaTable::new(&config, crypto),
            engine: KeyEngine::new(config.clone()),
            config,
            policy,
            exception,
            routes,
            fib,
            peers,
            sequences: None,
            last_traffic_report_ns: 0,
            traffic_seen: Default::default(),
        }
    }

    /// Resolves the peer names without `dynamic` (once, when a configuration is applied) and
    /// starts what the peer manager asks for then; run on the resolver's runtime.
    pub async fn resolve_at_apply(&mut self, now: impl Fn() -> u64) {
        let mut kx = Requests::default();
        self.peers.apply(&now, &mut kx).await;
        self.run(kx, now());
    }

    /// One turn: punted frames, worker events, then timers.
    pub fn poll(
        &mut self,
        punts: impl IntoIterator<Item = (u16, PuntReason, T::Frame)>,
        events: impl IntoIterator<Item = Event>,
        now_ns: u64,
    ) {
        for (port, reason, mbuf) in punts {
            if let Some((port, PuntReason::Ike, mbuf)) =
                self.exception.handle_punt(port, reason, mbuf, now_ns)
            {
                self.ike_frame(port, mbuf.data(), now_ns);
            }
        }
        for event in events {
            if let Some(Event::Acquire { map, entry, .. }) =
                self.exception.handle_event(event, now_ns)
            {
                let key = {
                    let p = self.policy.load();
                    p.maps.get(map as usize).and_then(|m| {
                        let e = m.entries.get(entry as usize)?;
                        Some((m.name.clone(), e.seq))
                    })
                };
                if let Some(key) = key {
                    let mut kx = Requests::default();
                    self.peers.handle(Input::Acquire(key), now_ns, &mut kx);
                    self.run(kx, now_ns);
                }
            }
        }
        self.timers(now_ns);
    }

    /// Timers of the engine, the SA table and the peer manager.
    pub fn timers(&mut self, now_ns: u64) {
        if let Some(store) = &mut self.sequences {
            store.refresh();
        }
        let sas = &self.sas;
        let out = self.engine.tick(now_ns, &|id| sas.traffic(id));
        self.carry_out(out, now_ns);
        for id in self.sas.rekey_due() {
            let out = self.engine.rekey(id, now_ns);
            self.carry_out(out, now_ns);
        }
        self.sas.poll(&self.policy, now_ns);
        if now_ns >= self.last_traffic_report_ns + TRAFFIC_REPORT_NS {
            self.last_traffic_report_ns = now_ns;
            self.report_traffic(now_ns);
        }
        let mut kx = Requests::default();
        self.peers.poll(now_ns, &mut kx);
        self.run(kx, now_ns);
    }

    fn report_traffic(&mut self, now_ns: u64) {
        let mut moved = Vec::new();
        for info in self.sas.installed() {
            let Some(t) = self.sas.traffic(info.id) else {
                continue;
            };
            if self.traffic_seen.insert(info.id, t) != Some(t) && info.origin.dynamic_seq.is_none()
            {
                moved.push(info.origin.entry());
            }
        }
        let live: Vec<_> = self.sas.installed().map(|i| i.id).collect();
        self.traffic_seen.retain(|id, _| live.contains(id));
        moved.sort();
        moved.dedup();
        let mut kx = Requests::default();
        for entry in moved {
            self.peers.handle(Input::Traffic(entry), now_ns, &mut kx);
        }
        self.run(kx, now_ns);
    }

    /// `clear crypto sa [peer X]`.
    pub fn clear(&mut self, peer: Option<Ipv4Addr>, now_ns: u64) {
        let out = self.engine.clear_peer(peer, now_ns);
        self.carry_out(out, now_ns);
    }

    /// Rekeys every child SA with `peer` (or every child SA) now.
    pub fn rekey(&mut self, peer: Option<Ipv4Addr>, now_ns: u64) {
        let ids: Vec<_> = self
            .sas
            .installed()
            .filter(|i| peer.is_none_or(|p| p == i.peer))
            .map(|i| i.id)
            .collect();
        for id in ids {
            let out = self.engine.rekey(id, now_ns);
            self.carry_out(out, now_ns);
        }
    }

    /// An IKE frame (Ethernet) punted from `port`.
    fn ike_frame(&mut self, port: u16, frame: &[u8], now_ns: u64) {
        let Ok(eth) = ether::parse(frame) else {
            return;
        };
        if eth.ethertype != ETHERTYPE_IPV4 {
            return;
        }
        let packet = &frame[eth.l3_offset..];
        let Ok(ip) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        if ip.protocol() != ipv4::proto::UDP || ip.is_fragment() {
            return;
        }
        let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
            return;
        };
        let from = SocketAddrV4::new(ip.src(), udp.src_port());
        let to = SocketAddrV4::new(ip.dst(), udp.dst_port());
        let message = match esp::classify(&packet[..ip.total_len().min(packet.len())]) {
            Ok(esp::Classified::Ike { offset }) => &packet[offset..ip.total_len()],
            _ if udp.dst_port() == wire::udp::IKE_PORT => udp.payload(),
            _ => return,
        };
        let map = {
            let p = self.policy.load();
            p.port(port)
                .and_then(|pp| pp.crypto_map)
                .and_then(|m| p.maps.get(m as usize))
                .map(|m| m.name.clone())
        };
        let out = self
            .engine
            .datagram(from, to, message, map.as_deref(), now_ns);
        self.carry_out(out, now_ns);
    }

    /// Sends, installs and reports what the engine produced, and carries out what the peer
    /// manager asks in return.
    fn carry_out(&mut self, out: EngineOutput, now_ns: u64) {
        let mut pending = vec![out];
        while let Some(out) = pending.pop() {
            for t in &out.transmit {
                self.exception
                    .send_datagram(t.from, t.to, &t.payload, now_ns);
            }
            self.sas.apply(
                out.changes,
                &self.policy,
                &mut self.routes,
                &mut self.fib,
                now_ns,
            );
            let mut kx = Requests::default();
            for (entry, addr, outcome) in out.outcomes {
                self.peers
                    .handle(Input::Result(entry, addr, outcome), now_ns, &mut kx);
            }
            pending.extend(self.requests(kx, now_ns));
        }
    }

    fn requests(&mut self, kx: Requests, now_ns: u64) -> Vec<EngineOutput> {
        kx.0.into_iter()
            .map(|r| match r {
                Request::Initiate(entry, addr) => self.engine.initiate(&entry, addr, now_ns),
                Request::Clear(entry, addr) => self.engine.clear(&entry, addr, now_ns),
            })
            .collect()
    }

    fn run(&mut self, kx: Requests, now_ns: u64) {
        for out in self.requests(kx, now_ns) {
            self.carry_out(out, now_ns);
        }
    }

    /// Applies `new` (`configure replace`, SIGHUP): only what differs changes. SAs of
    /// crypto map entries that changed or went are cleared (with an IKE delete where IKE
    /// made them); every other SA carries over into the new policy with its counters;
    /// static routes and RRI routes follow the new configuration. Returns what changed.
    ///
    /// Transactional: everything the new configuration needs (its policy, the SAs of new
    /// manual entries, their persisted sequence blocks) is built first, and only when all
    /// of it succeeded does anything of the running state change. On an error the old
    /// configuration keeps running untouched: its SAs, routes, sessions and counters.
    pub fn reload(
        &mut self,
        new: Arc<Config>,
        ports: &[PortBinding],
        now_ns: u64,
    ) -> Result<Diff, String> {
        let diff = reload::diff(&self.config, &new);
        // Build: nothing here changes what runs. Names go into a copy, taken on success.
        let mut names = self.routes.names.clone();
        let old = self.policy.load_full();
        let keep = Keep {
            old: &old,
            unchanged: &diff.unchanged,
        };
        let mut next = policy_from_config(
            &new,
            ports,
            &mut names,
            now_ns,
            Some(keep),
            self.sas.crypto(),
        )
        .map_err(|e| e.to_string())?;
        if let Some(store) = &mut self.sequences {
            store
                .adopt(&new, &next)
                .map_err(|e| format!("manual SA sequence state: {e}"))?;
        }
        // Switch.
        let going: BTreeSet<(String, u32)> =
            diff.changed.iter().chain(&diff.removed).cloned().collect();
        let out = self.engine.clear_entries(&going, now_ns);
        self.carry_out(out, now_ns);
        self.engine.set_config(new.clone());
        self.sas.set_config(&new);
        self.routes.names = names;
        // The negotiated SAs of unchanged entries move over from the policy as it is now
        // (the clearing above may have published one without the changed entries' SAs).
        let now = self.policy.load_full();
        let lost = self.sas.rebind(&now, &mut next);
        self.policy.store(Arc::new(next));
        self.routes.apply_config(&new);
        sync_fib(&mut self.routes, &mut self.fib);
        self.peers.reconfigure(&new, &diff.unchanged);
        self.config = new;
        for id in lost {
            let out = self.engine.clear_sa(id, now_ns);
            self.carry_out(out, now_ns);
        }
        tracing::info!(
            target: "rri::config",
            unchanged = diff.unchanged.len(),
            changed = diff.changed.len(),
            added = diff.added.len(),
            removed = diff.removed.len(),
            "configuration replaced"
        );
        Ok(diff)
    }

    /// `show crypto route`.
    pub fn show_crypto_route(&self) -> String {
        self.routes.show_crypto_route()
    }

    /// `show crypto session`.
    pub fn show_crypto_session(&self) -> String {
        self.engine.show_sessions()
    }

    /// `show crypto peer`.
    pub fn show_crypto_peer(&self, now_ns: u64) -> String {
        self.peers.manager().report(now_ns)
    }
}
