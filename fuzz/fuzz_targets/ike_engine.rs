//! The key engine (`KeyEngine::datagram` and `tick`) as a head-end sees it: a hub whose
//! keyring accepts any address, a real spoke that has (mode bit 0) or has not finished its
//! exchange with it, and then the fuzzer's messages: raw datagrams from any of a few source
//! addresses, and payload chains sealed with the spoke's real IKE SA key (so they pass the
//! ICV and reach the exchange logic), with time moving on between them. Never a panic;
//! everything the hub sends has a valid header; the half-open and session bounds hold.
//!
//! Input: one mode byte, then messages of [kind, a, b, c, length (2 bytes), bytes]: kind 0 a
//! raw datagram from source `a % 4` (port 500, or 4500 with `b` odd); kind 1 a payload
//! chain (first payload type `c`) sealed by the spoke as exchange `a % 4` with message id
//! `b`, flagged a response when `c`'s top bit is set; kind 2 time passes by `a` x 100 ms.
#![no_main]

use control::engine::{EngineOutput, KeyEngine};
use ike::message::{exchange, parse_header, parse_payload_chain};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, OnceLock};

const HUB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const SPOKE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const MS: u64 = 1_000_000;

fn configs() -> &'static (Arc<config::Config>, Arc<config::Config>) {
    static C: OnceLock<(Arc<config::Config>, Arc<config::Config>)> = OnceLock::new();
    C.get_or_init(|| {
        let hub = "interface GigabitEthernet0/1
 ip address 192.0.2.2 255.255.255.0
 crypto map VPN
access-list 120 permit ip 10.2.0.0 0.0.255.255 10.0.0.0 0.255.255.255
crypto ikev2 keyring KR
 peer ANY
  address 0.0.0.0 0.0.0.0
  pre-shared-key fuzz-key
crypto ipsec transform-set TS esp-gcm 128
crypto dynamic-map DYN 10
 set transform-set TS
 match address 120
 reverse-route
crypto map VPN 100 ipsec-isakmp dynamic DYN
";
        let spoke = "interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ikev2 keyring KR
 peer HUB
  address 192.0.2.2
  pre-shared-key fuzz-key
crypto ipsec transform-set TS esp-gcm 128
crypto map VPN 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set TS
 match address 101
";
        (
            Arc::new(config::check(hub).config),
            Arc::new(config::check(spoke).config),
        )
    })
}

fn strip(t: &control::engine::Transmit) -> &[u8] {
    if t.to.port() == 4500 {
        &t.payload[4.min(t.payload.len())..]
    } else {
        &t.payload
    }
}

fn check(out: &EngineOutput, hub: &KeyEngine) {
    for t in &out.transmit {
        parse_header(strip(t)).expect("what the hub sends has a valid header");
    }
    assert!(hub.half_open_count() <= hub.limits.max_half_open);
    assert!(hub.session_count() <= hub.limits.max_sessions);
}

/// Delivers the spoke's datagrams to the hub and back, `rounds` times.
fn relay(hub: &mut KeyEngine, spoke: &mut KeyEngine, first: EngineOutput, rounds: usize, now: u64) {
    let mut to_hub = first.transmit;
    for _ in 0..rounds {
        let mut back = Vec::new();
        for t in to_hub.drain(..) {
            let o = hub.datagram(t.from, t.to, strip(&t), Some("VPN"), now);
            check(&o, hub);
            back.extend(o.transmit);
        }
        for t in back {
            to_hub.extend(
                spoke
                    .datagram(t.from, t.to, strip(&t), Some("VPN"), now)
                    .transmit,
            );
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let (hub_cfg, spoke_cfg) = configs();
    let mut hub = KeyEngine::new(hub_cfg.clone());
    let mut spoke = KeyEngine::new(spoke_cfg.clone());
    let first = spoke.initiate(&("VPN".into(), 10), HUB, 0);
    // Mode bit 0: the whole exchange (established), else IKE_SA_INIT only (half-open).
    relay(
        &mut hub,
        &mut spoke,
        first,
        if mode & 1 == 1 { 4 } else { 1 },
        0,
    );
    let mut now = MS;
    let sources = [
        SPOKE,
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(203, 0, 113, 9),
        HUB,
    ];
    while let [kind, a, b, c, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (bytes, after) = tail.split_at(len);
        rest = after;
        let out = match kind % 3 {
            0 => {
                let src = sources[usize::from(a % 4)];
                let port = if b & 1 == 1 { 4500 } else { 500 };
                hub.datagram(
                    SocketAddrV4::new(src, port),
                    SocketAddrV4::new(HUB, port),
                    bytes,
                    Some("VPN"),
                    now,
                )
            }
            1 => {
                let Ok(payloads) = parse_payload_chain(*c, bytes) else {
                    continue;
                };
                let kind = [
                    exchange::IKE_AUTH,
                    exchange::CREATE_CHILD_SA,
                    exchange::INFORMATIONAL,
                    exchange::IKE_SA_INIT,
                ][usize::from(a % 4)];
                let Some(sealed) =
                    spoke.seal_for_fuzzing(HUB, kind, u32::from(*b), c & 0x80 != 0, &payloads)
                else {
                    continue;
                };
                hub.datagram(
                    SocketAddrV4::new(SPOKE, 500),
                    SocketAddrV4::new(HUB, 500),
                    &sealed,
                    Some("VPN"),
                    now,
                )
            }
            _ => {
                now += u64::from(*a) * 100 * MS;
                hub.tick(now, &|_| Some((1, 1)))
            }
        };
        check(&out, &hub);
    }
});
