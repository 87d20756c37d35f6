//! The IKEv2 state machine (`IkeSa::handle` and `tick`) as a responder, on messages that
//! pass the ICV: the harness runs a real IKE_SA_INIT between an initiator and a responder,
//! then seals the fuzzer's payload chains with the initiator's real key
//! (`seal_for_fuzzing`) and hands them to the responder, in the half-open state (waiting for
//! IKE_AUTH) or once established. Never a panic, whatever comes; every datagram the
//! responder sends has a valid header.
//!
//! Input: one mode byte (bit 0: complete IKE_AUTH first), then messages of
//! [exchange selector, message id, flags (bit 0: response), first payload type, length (2
//! bytes), payload chain].
#![no_main]

use ike::dh::Group;
use ike::keys::Prf;
use ike::message::{exchange, parse_header, parse_payload_chain, TrafficSelector};
use ike::sa::{IkeProposal, IkeSa, Settings};
use ike::sk::Aead;
use ring::rand::SystemRandom;
use std::net::{Ipv4Addr, SocketAddrV4};

const MS: u64 = 1_000_000;

fn settings(local: [u8; 4], remote: [u8; 4], ours: [u8; 2], theirs: [u8; 2]) -> Settings {
    let range = |n: [u8; 2]| TrafficSelector::Ipv4 {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: Ipv4Addr::new(10, n[0], n[1], 0),
        end: Ipv4Addr::new(10, n[0], n[1], 255),
    };
    Settings {
        ike: vec![IkeProposal {
            aead: Aead::AesGcm128,
            prf: Prf::HmacSha256,
            group: Group::Curve25519,
        }],
        esp: vec![Aead::AesGcm128],
        psk: ike::sa::Psk::both(b"fuzz-psk"),
        local_id: Ipv4Addr::from(local),
        local_ts: vec![range(ours)],
        remote_ts: vec![range(theirs)],
        retransmit_ns: 500 * MS,
        retransmit_tries: 3,
        local: SocketAddrV4::new(Ipv4Addr::from(local), 500),
        remote: SocketAddrV4::new(Ipv4Addr::from(remote), 500),
        force_encap: false,
        liveness_retry_ns: Some(1000 * MS),
        liveness_tries: 2,
    }
}

fn check_sent(out: &ike::sa::Output) {
    for d in &out.send {
        parse_header(d).expect("what the responder sends has a valid header");
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let rng = SystemRandom::new();
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let (mut i, out) = IkeSa::initiate(settings(a, b, [1, 0], [2, 0]), &rng, 0).unwrap();
    let Ok((mut r, rout)) = IkeSa::respond(settings(b, a, [2, 0], [1, 0]), &rng, &out.send[0], 0)
    else {
        panic!("the harness's own IKE_SA_INIT was refused");
    };
    let auth = i.handle(&rout.send[0], 0);
    let mut next_id = 1;
    if mode & 1 == 1 {
        let done = r.handle(&auth.send[0], 0);
        check_sent(&done);
        i.handle(&done.send[0], 0);
        assert!(r.established(), "the harness's own IKE_AUTH failed");
        next_id = 2;
    }
    let mut now = MS;
    while let [selector, id, flags, first, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (chain, after) = tail.split_at(len);
        rest = after;
        let kind = [
            exchange::IKE_AUTH,
            exchange::CREATE_CHILD_SA,
            exchange::INFORMATIONAL,
            exchange::IKE_SA_INIT,
        ][usize::from(selector % 4)];
        // Mostly the message id the responder expects next, sometimes another.
        let message_id = if id & 0x80 == 0 {
            next_id
        } else {
            u32::from(id & 0x7f)
        };
        let Ok(payloads) = parse_payload_chain(*first, chain) else {
            continue;
        };
        let Some(datagram) = i.seal_for_fuzzing(kind, message_id, flags & 1 == 1, &payloads) else {
            return;
        };
        let out = r.handle(&datagram, now);
        check_sent(&out);
        if message_id == next_id {
            next_id += 1;
        }
        now += u64::from(*flags >> 1) * 100 * MS;
        let out = r.tick(now);
        check_sent(&out);
    }
});
