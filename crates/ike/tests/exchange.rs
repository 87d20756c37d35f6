//! IKE_SA_INIT and IKE_AUTH between rri's initiator and rri's responder on constructed
//! exchanges: keys and SPIs that match crosswise, selectors narrowed to policy, a wrong
//! pre-shared key refused on both sides, no common proposal, retransmission with backoff
//! and the final timeout, retransmitted requests answered from the cache, and datagrams
//! that do not belong ignored.

use ike::dh::Group;
use ike::keys::Prf;
use ike::message::{Message, Payload, TrafficSelector};
use ike::sa::{notify, ChildSa, Event, IkeProposal, IkeSa, Output, Settings};
use ike::sk::Aead;
use ring::rand::SystemRandom;
use std::net::Ipv4Addr;

const S: u64 = 1_000_000_000;

fn range(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
    TrafficSelector::Ipv4 {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: Ipv4Addr::from(a),
        end: Ipv4Addr::from(b),
    }
}

fn settings(psk: &str, aead: Aead, group: Group, id: [u8; 4]) -> Settings {
    Settings {
        ike: vec![IkeProposal {
            aead,
            prf: Prf::HmacSha256,
            group,
        }],
        esp: vec![aead],
        psk: ike::sa::Psk::both(psk.as_bytes()),
        local_id: Ipv4Addr::from(id),
        local_ts: vec![range([10, 1, 0, 0], [10, 1, 255, 255])],
        remote_ts: vec![range([10, 2, 0, 0], [10, 2, 255, 255])],
        retransmit_ns: S / 2,
        retransmit_tries: 3,
        local: "192.0.2.1:500".parse().unwrap(),
        remote: "192.0.2.2:500".parse().unwrap(),
        force_encap: false,
        liveness_retry_ns: None,
        liveness_tries: 0,
    }
}

/// The responder's view: our side is 10.2/16, the peer's 10.1/16.
fn responder_settings(psk: &str, aead: Aead, group: Group) -> Settings {
    let mut s = settings(psk, aead, group, [192, 0, 2, 2]);
    std::mem::swap(&mut s.local_ts, &mut s.remote_ts);
    std::mem::swap(&mut s.local, &mut s.remote);
    s
}

fn child(out: &Output) -> Option<ChildSa> {
    out.events.iter().find_map(|e| match e {
        Event::ChildUp(c) => Some(c.clone()),
        _ => None,
    })
}

fn run(init: Settings, resp: Settings) -> (IkeSa, Output, Option<IkeSa>, Output) {
    let rng = SystemRandom::new();
    let (mut i, out) = IkeSa::initiate(init, &rng, 0).unwrap();
    let (mut r, rout) = match IkeSa::respond(resp, &rng, &out.send[0], 0) {
        Ok(x) => x,
        Err(refusal) => {
            let iout = i.handle(&refusal.send[0], 0);
            return (i, iout, None, refusal);
        }
    };
    let iout = i.handle(&rout.send[0], 0);
    assert_eq!(iout.send.len(), 1, "the IKE_AUTH request");
    let rout2 = r.handle(&iout.send[0], 0);
    let iout2 = i.handle(&rout2.send[0], 0);
    (i, iout2, Some(r), rout2)
}

#[test]
fn both_sides_agree_on_every_cipher_and_group() {
    for aead in [Aead::AesGcm128, Aead::AesGcm256, Aead::ChaCha20Poly1305] {
        for group in [Group::Curve25519, Group::Ecp256] {
            let (i, iout, r, rout) = run(
                settings("secret", aead, group, [192, 0, 2, 1]),
                responder_settings("secret", aead, group),
            );
            let (ci, cr) = (
                child(&iout).expect("initiator child"),
                child(&rout).expect("responder child"),
            );
            assert!(i.established() && r.unwrap().established());
            assert_eq!(ci.aead, aead);
            assert_eq!((ci.spi_out, ci.spi_in), (cr.spi_in, cr.spi_out));
            assert_eq!(
                (ci.key_out.clone(), ci.key_in.clone()),
                (cr.key_in.clone(), cr.key_out.clone())
            );
            assert_ne!(ci.key_in, ci.key_out);
            assert_eq!(ci.key_in.len(), aead.keymat_len());
            assert_eq!(ci.ts_local, cr.ts_remote);
            assert_eq!(ci.ts_remote, cr.ts_local);
        }
    }
}

#[test]
fn selectors_are_narrowed_to_the_responders_policy() {
    let mut resp = responder_settings("k", Aead::AesGcm128, Group::Curve25519);
    resp.remote_ts = vec![range([10, 1, 5, 0], [10, 1, 5, 255])];
    let (_, iout, _, rout) = run(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        resp,
    );
    let ci = child(&iout).unwrap();
    assert_eq!(ci.ts_local, vec![range([10, 1, 5, 0], [10, 1, 5, 255])]);
    assert_eq!(child(&rout).unwrap().ts_remote, ci.ts_local);

    let mut resp = responder_settings("k", Aead::AesGcm128, Group::Curve25519);
    resp.remote_ts = vec![range([172, 16, 0, 0], [172, 16, 0, 255])];
    let (i, iout, _, rout) = run(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        resp,
    );
    assert_eq!(rout.events, vec![Event::Refused(notify::TS_UNACCEPTABLE)]);
    assert_eq!(iout.events, vec![Event::Refused(notify::TS_UNACCEPTABLE)]);
    assert!(i.failed());
}

#[test]
fn a_wrong_pre_shared_key_fails_on_both_sides() {
    let (i, iout, r, rout) = run(
        settings("right", Aead::AesGcm256, Group::Curve25519, [192, 0, 2, 1]),
        responder_settings("wrong", Aead::AesGcm256, Group::Curve25519),
    );
    assert!(matches!(rout.events.as_slice(), [Event::AuthFailed(_)]));
    assert!(matches!(iout.events.as_slice(), [Event::AuthFailed(_)]));
    assert!(i.failed() && r.unwrap().failed());
}

#[test]
fn no_common_proposal_is_refused() {
    let (i, iout, r, rout) = run(
        settings("k", Aead::AesGcm256, Group::Curve25519, [192, 0, 2, 1]),
        responder_settings("k", Aead::ChaCha20Poly1305, Group::Curve25519),
    );
    assert!(r.is_none());
    assert_eq!(rout.events, vec![Event::NoProposal]);
    assert_eq!(iout.events, vec![Event::NoProposal]);
    assert!(i.failed());
}

#[test]
fn a_different_group_is_answered_with_invalid_ke() {
    let mut init = settings("k", Aead::AesGcm128, Group::Ecp256, [192, 0, 2, 1]);
    init.ike.push(IkeProposal {
        aead: Aead::AesGcm128,
        prf: Prf::HmacSha256,
        group: Group::Curve25519,
    });
    let resp = responder_settings("k", Aead::AesGcm128, Group::Curve25519);
    let rng = SystemRandom::new();
    let (_, out) = IkeSa::initiate(init, &rng, 0).unwrap();
    let refusal = IkeSa::respond(resp, &rng, &out.send[0], 0).unwrap_err();
    let m = Message::parse(&refusal.send[0]).unwrap();
    assert_eq!(
        m.payloads,
        vec![Payload::Notify {
            protocol: 0,
            spi: vec![],
            kind: notify::INVALID_KE_PAYLOAD,
            data: 31u16.to_be_bytes().to_vec()
        }]
    );
}

#[test]
fn the_initiator_retransmits_with_backoff_then_times_out() {
    let rng = SystemRandom::new();
    let (mut i, out) = IkeSa::initiate(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        &rng,
        0,
    )
    .unwrap();
    let mut sends = vec![0u64];
    let now = loop {
        let now = i.next_timer().expect("a timer while waiting");
        let o = i.tick(now);
        if o.events == vec![Event::Timeout] {
            break now;
        }
        assert_eq!(o.send, out.send, "the same request again");
        sends.push(now);
    };
    assert_eq!(sends, vec![0, S / 2, S / 2 + S, S / 2 + S + 2 * S]);
    assert_eq!(now, S / 2 + S + 2 * S + 4 * S);
    assert!(i.failed());
    assert_eq!(i.next_timer(), None);
}

#[test]
fn a_retransmitted_request_gets_the_same_response_and_strays_are_ignored() {
    let rng = SystemRandom::new();
    let (mut i, out) = IkeSa::initiate(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        &rng,
        0,
    )
    .unwrap();
    let (mut r, rout) = IkeSa::respond(
        responder_settings("k", Aead::AesGcm128, Group::Curve25519),
        &rng,
        &out.send[0],
        0,
    )
    .unwrap();
    assert_eq!(
        r.handle(&out.send[0], S).send,
        rout.send,
        "IKE_SA_INIT retransmitted"
    );
    let iout = i.handle(&rout.send[0], 0);
    let first = r.handle(&iout.send[0], 0);
    assert!(child(&first).is_some());
    let again = r.handle(&iout.send[0], S);
    assert_eq!(again.send, first.send);
    assert!(again.events.is_empty(), "no second child SA");
    // Garbage, truncations and another SA's datagrams change nothing.
    for n in 0..iout.send[0].len() {
        assert!(r.handle(&iout.send[0][..n], S).send.is_empty());
    }
    let (_, other) = IkeSa::initiate(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 9]),
        &rng,
        0,
    )
    .unwrap();
    assert!(i.handle(&other.send[0], S).send.is_empty());
    assert!(i.handle(&[0u8; 3], S).events.is_empty());
    assert!(child(&i.handle(&first.send[0], 0)).is_some());
}

#[test]
fn nat_detection_finds_no_nat_on_a_direct_path_and_floats_when_forced_or_translated() {
    let (i, iout, r, rout) = run(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        responder_settings("k", Aead::AesGcm128, Group::Curve25519),
    );
    assert!(!i.nat_traversal() && !r.unwrap().nat_traversal());
    assert!(!child(&iout).unwrap().udp_encap && !child(&rout).unwrap().udp_encap);

    let mut forced = settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]);
    forced.force_encap = true;
    let (i, iout, r, rout) = run(
        forced,
        responder_settings("k", Aead::AesGcm128, Group::Curve25519),
    );
    assert!(i.nat_traversal() && r.unwrap().nat_traversal());
    assert!(child(&iout).unwrap().udp_encap && child(&rout).unwrap().udp_encap);

    // The responder sees the initiator from a translated address.
    let mut resp = responder_settings("k", Aead::AesGcm128, Group::Curve25519);
    resp.remote = "203.0.113.7:4500".parse().unwrap();
    let (i, _, r, _) = run(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        resp,
    );
    assert!(i.nat_traversal() && r.unwrap().nat_traversal());
}

/// An established pair (initiator, responder) and the responder's child SA.
fn established() -> (IkeSa, IkeSa) {
    let (i, iout, r, rout) = run(
        settings("k", Aead::AesGcm128, Group::Curve25519, [192, 0, 2, 1]),
        responder_settings("k", Aead::AesGcm128, Group::Curve25519),
    );
    assert!(child(&iout).is_some() && child(&rout).is_some());
    (i, r.unwrap())
}

#[test]
fn liveness_checks_are_answered_both_ways_and_retransmissions_from_the_cache() {
    let (mut i, mut r) = established();
    fn exchange(a: &mut IkeSa, b: &mut IkeSa) {
        for _ in 0..3 {
            let probe = a.check_liveness(10 * S);
            assert_eq!(probe.send.len(), 1);
            assert!(
                a.check_liveness(10 * S).send.is_empty(),
                "one request in flight"
            );
            let answer = b.handle(&probe.send[0], 10 * S);
            assert_eq!(answer.send.len(), 1);
            assert!(answer.events.is_empty());
            // The same request again (our answer was lost): the same answer, nothing else.
            assert_eq!(b.handle(&probe.send[0], 11 * S).send, answer.send);
            assert_eq!(a.handle(&answer.send[0], 10 * S).events, vec![Event::Alive]);
            assert_eq!(a.next_timer(), None);
        }
    }
    exchange(&mut i, &mut r);
    exchange(&mut r, &mut i);
}

#[test]
fn an_unanswered_liveness_check_declares_the_peer_dead() {
    let (mut i, _r) = established();
    let probe = i.check_liveness(100 * S);
    let mut sent = vec![probe.send[0].clone()];
    let dead_at = loop {
        let t = i.next_timer().unwrap();
        let o = i.tick(t);
        if o.events == vec![Event::Dead] {
            break t;
        }
        sent.extend(o.send);
    };
    assert_eq!(sent.len(), 4, "the probe and three retransmissions");
    assert!(sent.iter().all(|s| *s == sent[0]));
    assert_eq!(dead_at, 100 * S + S / 2 + S + 2 * S + 4 * S);
    assert!(i.failed());
}

#[test]
fn deletes_are_answered_and_reported_on_both_sides() {
    let (mut i, mut r) = established();
    let del = r.delete(S);
    let answer = i.handle(&del.send[0], S);
    assert_eq!(answer.events, vec![Event::IkeDeleted]);
    assert_eq!(r.handle(&answer.send[0], S).events, vec![Event::IkeDeleted]);
    assert!(!i.established() && !r.established());
    // Nothing more is sent or accepted.
    assert!(i.check_liveness(2 * S).send.is_empty());

    // A delete nobody answers still ends in IkeDeleted after the retransmissions.
    let (mut i, _r) = established();
    i.delete(S);
    let mut events = Vec::new();
    while let Some(t) = i.next_timer() {
        events.extend(i.tick(t).events);
    }
    assert_eq!(events, vec![Event::IkeDeleted]);
}

fn rekeyed(out: &Output) -> Option<((u32, u32), ChildSa)> {
    out.events.iter().find_map(|e| match e {
        Event::ChildRekeyed { old, new } => Some((*old, new.clone())),
        _ => None,
    })
}

#[test]
fn either_side_rekeys_the_child_and_the_old_one_is_deleted() {
    let (mut i, mut r) = established();
    let rng = SystemRandom::new();
    for round in 0..4 {
        // Alternate who starts the rekey.
        let (a, b) = if round % 2 == 0 {
            (&mut i, &mut r)
        } else {
            (&mut r, &mut i)
        };
        let req = a.rekey_child(&rng, S);
        assert_eq!(req.send.len(), 1);
        let resp = b.handle(&req.send[0], S);
        let (b_old, b_new) = rekeyed(&resp).expect("the responder reports the rekey");
        let after = a.handle(&resp.send[0], S);
        let (a_old, a_new) = rekeyed(&after).expect("the initiator reports the rekey");
        assert_eq!((a_old.0, a_old.1), (b_old.1, b_old.0), "the same old child");
        assert_eq!((a_new.spi_in, a_new.spi_out), (b_new.spi_out, b_new.spi_in));
        assert_eq!(
            (a_new.key_in.clone(), a_new.key_out.clone()),
            (b_new.key_out.clone(), b_new.key_in.clone())
        );
        assert_ne!(a_new.spi_in, a_old.0);
        // The initiator of the rekey deletes the old child; the peer reports and answers.
        assert_eq!(after.send.len(), 1);
        let del = b.handle(&after.send[0], S);
        assert_eq!(
            del.events,
            vec![Event::ChildDeleted {
                spi_in: b_old.0,
                spi_out: b_old.1
            }]
        );
        assert!(a.handle(&del.send[0], S).events.is_empty());
        assert_eq!(a.next_timer(), None, "nothing left in flight");
    }
}

/// What a side's events leave installed, starting from `start` (our SPIs in, out).
fn installed_after(start: (u32, u32), events: &[Event]) -> Vec<(u32, u32)> {
    let mut live = vec![start];
    for e in events {
        match e {
            Event::ChildRekeyed { old, new } => {
                live.retain(|c| c != old);
                live.push((new.spi_in, new.spi_out));
            }
            Event::ChildDeleted { spi_in, spi_out } => live.retain(|c| *c != (*spi_in, *spi_out)),
            _ => {}
        }
    }
    live
}

#[test]
fn a_simultaneous_rekey_leaves_one_child_on_both_sides() {
    let rng = SystemRandom::new();
    for _ in 0..8 {
        let (mut i, mut r) = established();
        let start_i = rekeyed_start(&i);
        let start_r = (start_i.1, start_i.0);
        let (mut ev_i, mut ev_r) = (Vec::new(), Vec::new());
        let req_i = i.rekey_child(&rng, S);
        let req_r = r.rekey_child(&rng, S);
        // The requests cross; each side answers the other's.
        let ans_r = r.handle(&req_i.send[0], S);
        let ans_i = i.handle(&req_r.send[0], S);
        ev_r.extend(ans_r.events);
        ev_i.extend(ans_i.events);
        // The answers arrive; then whatever deletes follow, until both are quiet.
        let mut to_i = ans_r.send;
        let mut to_r = ans_i.send;
        for _ in 0..6 {
            let mut next_i = Vec::new();
            let mut next_r = Vec::new();
            for m in to_i.drain(..) {
                let o = i.handle(&m, S);
                ev_i.extend(o.events);
                next_r.extend(o.send);
            }
            for m in to_r.drain(..) {
                let o = r.handle(&m, S);
                ev_r.extend(o.events);
                next_i.extend(o.send);
            }
            to_i = next_i;
            to_r = next_r;
        }
        let (li, lr) = (
            installed_after(start_i, &ev_i),
            installed_after(start_r, &ev_r),
        );
        assert_eq!(li.len(), 1, "{ev_i:?}");
        assert_eq!(lr.len(), 1, "{ev_r:?}");
        assert_eq!(
            (li[0].0, li[0].1),
            (lr[0].1, lr[0].0),
            "both keep the same child"
        );
        assert_ne!(li[0], start_i);
        assert_eq!(i.next_timer(), None);
        assert_eq!(r.next_timer(), None);
    }
}

/// The child an established IKE SA starts with (its SPIs in, out).
fn rekeyed_start(i: &IkeSa) -> (u32, u32) {
    i.children().last().copied().expect("a child")
}

#[test]
fn a_delete_asked_for_while_a_request_is_in_flight_goes_after_its_answer() {
    let (mut i, mut r) = established();
    let probe = i.check_liveness(S);
    assert!(i.delete(S).send.is_empty(), "one exchange at a time");
    assert!(i.delete_queued());
    let answer = r.handle(&probe.send[0], S);
    let out = i.handle(&answer.send[0], S);
    assert_eq!(out.events, vec![Event::Alive]);
    assert_eq!(out.send.len(), 1, "the delete follows the answer");
    assert!(!i.delete_queued());
    let answer = r.handle(&out.send[0], S);
    assert_eq!(answer.events, vec![Event::IkeDeleted]);
    assert_eq!(i.handle(&answer.send[0], S).events, vec![Event::IkeDeleted]);
    assert!(!i.established() && !r.established());

    // A request in flight that is never answered: the SA dies with it, and the waiting
    // delete is not sent into the void.
    let (mut i, _r) = established();
    i.check_liveness(S);
    i.delete(S);
    let mut events = Vec::new();
    while let Some(t) = i.next_timer() {
        let o = i.tick(t);
        events.extend(o.events);
    }
    assert_eq!(events, vec![Event::Dead]);
    assert!(i.failed());
}

#[test]
fn simultaneous_ike_rekeys_are_both_refused_and_a_later_one_goes_through() {
    let rng = SystemRandom::new();
    let (mut i, mut r) = established();
    let spis = i.spis();
    let from_i = i.rekey_ike(&rng, S);
    let from_r = r.rekey_ike(&rng, S);
    assert_eq!((from_i.send.len(), from_r.send.len()), (1, 1));
    // Each side has its own rekey in flight and answers the other's with TEMPORARY_FAILURE
    // (RFC 7296 sections 2.8.2 and 2.25): neither becomes a new SA.
    let answer_r = r.handle(&from_i.send[0], S);
    let answer_i = i.handle(&from_r.send[0], S);
    assert!(answer_r.events.is_empty() && answer_i.events.is_empty());
    let refused_i = i.handle(&answer_r.send[0], S);
    let refused_r = r.handle(&answer_i.send[0], S);
    assert!(refused_i.send.is_empty() && refused_i.events.is_empty());
    assert!(refused_r.send.is_empty() && refused_r.events.is_empty());
    assert_eq!(i.spis(), spis);
    assert_eq!(r.spis(), spis);
    assert_eq!(i.next_timer(), None, "nothing left in flight");

    // Tried again by one side, it goes through: both end on the same new SA, children kept.
    let children = i.children().to_vec();
    let request = i.rekey_ike(&rng, 2 * S);
    let answer = r.handle(&request.send[0], 2 * S);
    let delete = i.handle(&answer.send[0], 2 * S);
    assert_eq!(delete.send.len(), 1, "the old SA is deleted");
    let answered = r.handle(&delete.send[0], 2 * S);
    assert!(answered
        .events
        .iter()
        .any(|e| matches!(e, Event::IkeRekeyed { .. })));
    let done = i.handle(&answered.send[0], 2 * S);
    assert!(done
        .events
        .iter()
        .any(|e| matches!(e, Event::IkeRekeyed { .. })));
    assert_ne!(i.spis(), spis);
    assert_eq!(i.spis(), r.spis());
    assert_eq!(i.children(), children.as_slice());
    let probe = r.check_liveness(3 * S);
    let answer = i.handle(&probe.send[0], 3 * S);
    assert_eq!(r.handle(&answer.send[0], 3 * S).events, vec![Event::Alive]);
}

#[test]
fn the_peers_ike_rekey_is_refused_while_a_child_rekey_is_in_flight() {
    let rng = SystemRandom::new();
    let (mut i, mut r) = established();
    let spis = r.spis();
    let child_rekey = i.rekey_child(&rng, S);
    assert_eq!(child_rekey.send.len(), 1);
    let ike_rekey = r.rekey_ike(&rng, S);
    let refusal = i.handle(&ike_rekey.send[0], S);
    assert!(refusal.events.is_empty());
    // Refused: r does not go on to delete the old SA.
    let after = r.handle(&refusal.send[0], S);
    assert!(after.send.is_empty() && after.events.is_empty());
    assert_eq!(r.spis(), spis);
    // The child rekey completes undisturbed.
    let answer = r.handle(&child_rekey.send[0], S);
    assert!(rekeyed(&answer).is_some());
    let done = i.handle(&answer.send[0], S);
    assert!(rekeyed(&done).is_some());
}

#[test]
fn a_lost_answer_to_the_delete_of_the_old_ike_sa_still_ends_on_the_new_one() {
    let rng = SystemRandom::new();
    let (mut i, mut r) = established();
    let old = i.spis();
    let request = i.rekey_ike(&rng, S);
    let answer = r.handle(&request.send[0], S);
    let delete = i.handle(&answer.send[0], S);
    assert_eq!(delete.send.len(), 1);
    // r takes the delete and switches; its answer is lost.
    let lost = r.handle(&delete.send[0], S);
    assert!(lost
        .events
        .iter()
        .any(|e| matches!(e, Event::IkeRekeyed { .. })));
    // i retransmits into the void, then goes on as the new SA rather than dying.
    let mut events = Vec::new();
    while let Some(t) = i.next_timer() {
        let o = i.tick(t);
        for d in &o.send {
            assert!(
                r.handle(d, t).send.is_empty(),
                "r no longer answers the old SA"
            );
        }
        events.extend(o.events);
    }
    assert!(
        events.iter().any(|e| matches!(e, Event::IkeRekeyed { .. })),
        "{events:?}"
    );
    assert!(!i.failed());
    assert_ne!(i.spis(), old);
    assert_eq!(i.spis(), r.spis());
    let probe = i.check_liveness(60 * S);
    let answer = r.handle(&probe.send[0], 60 * S);
    assert_eq!(i.handle(&answer.send[0], 60 * S).events, vec![Event::Alive]);
}

/// `pre-shared-key local` / `remote`: each side signs with its own key and verifies with
/// the other's. Matching pairs come up; a side that would sign with the peer's key, or
/// verify with its own, is refused.
#[test]
fn each_side_signs_with_its_local_key_and_verifies_with_the_remote_one() {
    let psk = |local: &str, remote: &str| ike::sa::Psk {
        local: local.as_bytes().into(),
        remote: remote.as_bytes().into(),
    };
    let with = |p: ike::sa::Psk| {
        let (aead, group) = (Aead::AesGcm128, Group::Curve25519);
        let mut s = settings("unused", aead, group, [192, 0, 2, 1]);
        s.psk = p;
        s
    };
    let responder_with = |p: ike::sa::Psk| {
        let mut s = responder_settings("unused", Aead::AesGcm128, Group::Curve25519);
        s.psk = p;
        s
    };
    // The initiator signs with "i-key", the responder with "r-key".
    let (_, iout, r, rout) = run(
        with(psk("i-key", "r-key")),
        responder_with(psk("r-key", "i-key")),
    );
    assert!(
        child(&iout).is_some() && child(&rout).is_some(),
        "{iout:?} {rout:?}"
    );
    assert!(r.is_some_and(|r| r.established()));
    // The responder expects the initiator to sign with "r-key": refused.
    let (_, _, r, rout) = run(
        with(psk("i-key", "r-key")),
        responder_with(psk("r-key", "r-key")),
    );
    assert!(child(&rout).is_none());
    assert!(r.is_none_or(|r| !r.established()));
    // The initiator expects the responder to sign with "i-key": refused on its side.
    let (i, iout, _, _) = run(
        with(psk("i-key", "i-key")),
        responder_with(psk("r-key", "i-key")),
    );
    assert!(child(&iout).is_none());
    assert!(!i.established());
}
