//! The exception path's frame handling on plain buffers.

use control::exception::{arp_request, echo_reply, handle_arp, time_exceeded};
use pktbuf::{PacketBuf, TestBuf};
use policy::build::{self, PortBinding};
use policy::RingOnly;
use std::net::Ipv4Addr;
use wire::arp::{Arp, OP_REPLY, OP_REQUEST};
use wire::ipv4::Ipv4Packet;

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0x10, 5];

fn policy() -> policy::Policy {
    let cfg = config::check("interface GigabitEthernet0/0\n ip address 10.1.0.1 255.255.255.0\n ip address 10.9.0.1 255.255.255.0 secondary\n");
    let ports = [PortBinding::new("GigabitEthernet0/0", 0, OUR_MAC)];
    build::from_config(&cfg.config, &ports, 0, &RingOnly)
        .unwrap()
        .policy
}

fn arp_frame(op: u16, sender_ip: [u8; 4], target_ip: [u8; 4]) -> TestBuf {
    let mut f = vec![0u8; 42];
    wire::ether::emit(&mut f, [0xff; 6], HOST_MAC, 0x0806);
    Arp {
        op,
        sender_mac: HOST_MAC,
        sender_ip: sender_ip.into(),
        target_mac: [0; 6],
        target_ip: target_ip.into(),
    }
    .emit(&mut f[14..]);
    TestBuf::like_mbuf(&f)
}

#[test]
fn arp_requests_for_us_are_answered_and_the_sender_learned() {
    let p = policy();
    for ours in [[10, 1, 0, 1], [10, 9, 0, 1]] {
        let mut buf = arp_frame(OP_REQUEST, [10, 1, 0, 5], ours);
        let out = handle_arp(&p, 0, &mut buf);
        assert!(out.reply);
        assert_eq!(out.learn, Some((Ipv4Addr::new(10, 1, 0, 5), HOST_MAC)));
        assert_eq!(&buf.data()[..12], &[HOST_MAC, OUR_MAC].concat()[..]);
        let reply = Arp::parse(&buf.data()[14..]).unwrap();
        assert_eq!(
            (reply.op, reply.sender_mac, reply.sender_ip),
            (OP_REPLY, OUR_MAC, Ipv4Addr::from(ours))
        );
        assert_eq!(
            (reply.target_mac, reply.target_ip),
            (HOST_MAC, Ipv4Addr::new(10, 1, 0, 5))
        );
    }
    // Not for us: no reply, nothing learned.
    let out = handle_arp(
        &p,
        0,
        &mut arp_frame(OP_REQUEST, [10, 1, 0, 5], [10, 1, 0, 9]),
    );
    assert_eq!((out.reply, out.learn), (false, None));
    // A reply to us is learned; one from off the subnet is not.
    assert!(handle_arp(
        &p,
        0,
        &mut arp_frame(OP_REPLY, [10, 1, 0, 7], [10, 1, 0, 1])
    )
    .learn
    .is_some());
    assert!(handle_arp(
        &p,
        0,
        &mut arp_frame(OP_REPLY, [172, 16, 0, 7], [10, 1, 0, 1])
    )
    .learn
    .is_none());
    assert_eq!(
        handle_arp(&p, 0, &mut TestBuf::like_mbuf(&[0u8; 20])),
        Default::default()
    );
}

#[test]
fn arp_request_frames() {
    let p = policy();
    let mut buf = TestBuf::like_mbuf(&[]);
    assert!(arp_request(&p, 0, Ipv4Addr::new(10, 9, 0, 77), &mut buf));
    assert_eq!(
        &buf.data()[..14],
        &[[0xff; 6].as_slice(), &OUR_MAC, &[0x08, 0x06]].concat()[..]
    );
    let a = Arp::parse(&buf.data()[14..]).unwrap();
    assert_eq!(
        (a.op, a.sender_ip, a.target_ip),
        (
            OP_REQUEST,
            Ipv4Addr::new(10, 9, 0, 1),
            Ipv4Addr::new(10, 9, 0, 77)
        )
    );
    assert!(!arp_request(
        &p,
        5,
        Ipv4Addr::new(10, 9, 0, 77),
        &mut TestBuf::like_mbuf(&[])
    ));
}

fn icmp_frame(dst: [u8; 4], icmp_type: u8, ttl: u8) -> TestBuf {
    let mut f = vec![0u8; 14 + 20 + 16];
    wire::ether::emit(&mut f, OUR_MAC, HOST_MAC, 0x0800);
    wire::ipv4::Ipv4Repr {
        src: Ipv4Addr::new(10, 1, 0, 5),
        dst: dst.into(),
        protocol: 1,
        tos: 0,
        ident: 9,
        dont_fragment: false,
        ttl,
        payload_len: 16,
    }
    .emit(&mut f[14..]);
    f[42..].copy_from_slice(b"rri-ping");
    wire::icmp::emit(&mut f[34..], icmp_type, 0, [0x12, 0x34, 0, 1]);
    TestBuf::like_mbuf(&f)
}

#[test]
fn echo_requests_get_replies() {
    let p = policy();
    let mut buf = icmp_frame([10, 1, 0, 1], 8, 64);
    assert!(echo_reply(&p, &mut buf));
    let ip = Ipv4Packet::new_checked(buf.data()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src(), ip.dst()),
        (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 5))
    );
    let icmp = wire::icmp::IcmpPacket::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.msg_type(), 0);
    assert_eq!(
        &ip.payload()[4..],
        &[&[0x12u8, 0x34, 0, 1][..], b"rri-ping"].concat()[..]
    );
    assert!(
        !echo_reply(&p, &mut icmp_frame([10, 1, 0, 1], 0, 64)),
        "replies are not answered"
    );
    assert!(
        !echo_reply(&p, &mut icmp_frame([10, 1, 0, 2], 8, 64)),
        "not ours"
    );
}

#[test]
fn expired_ttl_gets_time_exceeded() {
    let mut buf = icmp_frame([10, 2, 0, 1], 8, 1);
    let original = buf.data()[14..].to_vec();
    assert!(time_exceeded(Ipv4Addr::new(10, 1, 0, 1), &mut buf));
    let ip = Ipv4Packet::new_checked(buf.data()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src(), ip.dst()),
        (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 5))
    );
    let icmp = wire::icmp::IcmpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.code()), (11, 0));
    assert!(icmp.verify_checksum());
    assert_eq!(&ip.payload()[8..], &original[..28]);
    // An ICMP error is never answered with one.
    assert!(!time_exceeded(
        Ipv4Addr::new(10, 1, 0, 1),
        &mut icmp_frame([10, 2, 0, 1], 3, 1)
    ));
}

/// The whole control plane on an in-memory wire: frames punted to it are answered through
/// its [`policy::FrameTx`], with no DPDK anywhere.
#[test]
fn the_control_plane_answers_punts_through_its_wire() {
    use control::exception::ExceptionPath;
    use control::plane::ControlPlane;
    use policy::{Event, MemoryTx, PuntReason};
    use std::sync::Arc;

    let cfg = config::check("interface GigabitEthernet0/0\n ip address 10.1.0.1 255.255.255.0\n");
    let ports = [PortBinding::new("GigabitEthernet0/0", 0, OUR_MAC)];
    let built = build::from_config(&cfg.config, &ports, 0, &RingOnly).unwrap();
    let config = Arc::new(cfg.config);
    let handle: policy::PolicyHandle = Arc::new(arc_swap::ArcSwap::from_pointee(built.policy));
    let wire = MemoryTx {
        ports: Some(1),
        ..MemoryTx::default()
    };
    let exception = ExceptionPath::new(handle.clone(), built.reader.clone(), wire);
    let peers = peer::driver::PeerDriver::new(peer::PeerManager::from_config(&config), None);
    let mut plane = ControlPlane::new(
        config,
        handle,
        exception,
        built.engine,
        built.fib,
        peers,
        Arc::new(RingOnly),
    );

    // An ARP request for us is answered on its port, and its sender learned (so the echo
    // reply below needs no resolution).
    let request = (
        0,
        PuntReason::Arp,
        arp_frame(OP_REQUEST, [10, 1, 0, 5], [10, 1, 0, 1]),
    );
    plane.poll([request], [], 1);
    let sent = &plane.exception.tx.sent;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let reply = Arp::parse(&sent[0].1[14..]).unwrap();
    assert_eq!((sent[0].0, reply.op), (0, OP_REPLY));

    // A ping to us gets its reply, routed back to the host.
    let ping = (0, PuntReason::Icmp, icmp_frame([10, 1, 0, 1], 8, 64));
    plane.poll([ping], [], 2);
    let sent = &plane.exception.tx.sent;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(&sent[1].1[..6], &HOST_MAC);
    let ip = Ipv4Packet::new_checked(&sent[1].1[14..]).unwrap();
    assert_eq!((ip.dst(), ip.payload()[0]), (Ipv4Addr::new(10, 1, 0, 5), 0));

    // A worker asking to resolve a next hop makes an ARP request, once a second at most.
    let resolve = Event::Resolve {
        port: 0,
        addr: Ipv4Addr::new(10, 1, 0, 9),
    };
    plane.poll([], [resolve, resolve], 3);
    let sent = &plane.exception.tx.sent;
    assert_eq!(sent.len(), 3, "{sent:?}");
    let request = Arp::parse(&sent[2].1[14..]).unwrap();
    assert_eq!(
        (request.op, request.target_ip),
        (OP_REQUEST, Ipv4Addr::new(10, 1, 0, 9))
    );
    assert_eq!(plane.exception.stats.dropped, 0);
}
