//! Interoperability with strongSwan (charon 5.9 from Debian, its userspace ESP backend):
//! the test puts charon in a network namespace behind a veth pair and speaks IKEv2 to it
//! from UDP sockets on the other end, as initiator and as responder, with AES-GCM-128,
//! AES-GCM-256 and ChaCha20-Poly1305. For every child SA, an ICMP echo request encrypted
//! with the negotiated keys goes to a host address behind charon, and the echo reply that
//! comes back, encrypted by charon, must open with ours: both directions' keys agree.
//! charon's `encap = yes` makes it announce a NAT, so the exchange also floats to UDP 4500
//! and ESP runs inside UDP (the only form its userspace backend supports).

use esp::{classify, Classified, InboundSa, OutboundSa, SaParams, TunnelTemplate, UdpEncap};
use ike::dh::Group;
use ike::keys::Prf;
use ike::message::TrafficSelector;
use ike::sa::{ChildSa, Event, IkeProposal, IkeSa, Output, Settings};
use ike::sk::Aead;
use pktbuf::{PacketBuf, TestBuf};
use ring::rand::SystemRandom;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wire::ipv4::Ipv4Repr;

const OURS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const THEIRS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// A host address behind charon (inside its protected network 10.2.0.0/16).
const BEHIND_THEM: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);
const BEHIND_US: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
const PSK: &str = "rri and strongSwan share this";

use testkit::sh;

/// charon in a namespace of its own, joined to this one by a veth pair; both go with it.
struct Charon {
    veth: String,
    charon: testkit::strongswan::Charon,
}

impl std::ops::Deref for Charon {
    type Target = testkit::strongswan::Charon;
    fn deref(&self) -> &Self::Target {
        &self.charon
    }
}

impl Charon {
    fn start() -> Charon {
        let id = std::process::id() % 100_000;
        let ns = format!("rrisw{id}");
        let veth = format!("rswa{id}");
        let peer = format!("rswb{id}");
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        sh(&format!(
            "ip netns add {ns} && ip link add {veth} type veth peer name {peer} && \
             ip link set {peer} netns {ns} && ip addr add {OURS}/24 dev {veth} && ip link set {veth} up && \
             ip netns exec {ns} ip addr add {THEIRS}/24 dev {peer} && \
             ip netns exec {ns} ip link set {peer} up && ip netns exec {ns} ip link set lo up && \
             ip netns exec {ns} ip addr add {BEHIND_THEM}/32 dev lo && \
             ip netns exec {ns} sysctl -qw net.ipv4.conf.all.rp_filter=0"
        ));
        let swanctl = format!(
            "connections {{\n rri {{\n  local_addrs = {THEIRS}\n  remote_addrs = {OURS}\n  version = 2\n  \
             proposals = aes128gcm16-prfsha256-x25519,aes256gcm16-prfsha256-x25519,chacha20poly1305-prfsha256-x25519\n  \
             encap = yes\n  local {{ auth = psk\n id = {THEIRS} }}\n  remote {{ auth = psk\n id = {OURS} }}\n  \
             children {{ net {{ local_ts = 10.2.0.0/16\n remote_ts = 10.1.0.0/16\n \
             esp_proposals = aes128gcm16,aes256gcm16,chacha20poly1305 }} }}\n }}\n}}\n\
             secrets {{ ike-rri {{ id = {OURS}\n secret = \"{PSK}\" }} }}\n"
        );
        let dir = std::env::temp_dir().join(format!("rri-strongswan-{id}"));
        let charon = testkit::strongswan::Charon::start(&ns, dir, &swanctl);
        let loaded = charon.swanctl("--load-all");
        assert!(loaded.contains("loaded connection 'rri'"), "{loaded}");
        Charon { veth, charon }
    }

    fn swanctl_plain(&self, args: &str) -> String {
        self.vici(args)
    }
}

impl Drop for Charon {
    fn drop(&mut self) {
        self.charon.kill();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.charon.ns])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
    }
}

fn range(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
    TrafficSelector::Ipv4 {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: Ipv4Addr::from(a),
        end: Ipv4Addr::from(b),
    }
}

fn settings(aead: Aead) -> Settings {
    Settings {
        ike: vec![IkeProposal {
            aead,
            prf: Prf::HmacSha256,
            group: Group::Curve25519,
        }],
        esp: vec![aead],
        psk: ike::sa::Psk::both(PSK.as_bytes()),
        local_id: OURS,
        local_ts: vec![range([10, 1, 0, 0], [10, 1, 255, 255])],
        remote_ts: vec![range([10, 2, 0, 0], [10, 2, 255, 255])],
        retransmit_ns: 1_000_000_000,
        retransmit_tries: 3,
        local: SocketAddrV4::new(OURS, 500),
        remote: SocketAddrV4::new(THEIRS, 500),
        force_encap: false,
        liveness_retry_ns: None,
        liveness_tries: 0,
    }
}

struct Sockets {
    ike: UdpSocket,
    natt: UdpSocket,
}

impl Sockets {
    fn bind() -> Sockets {
        let s = Sockets {
            ike: UdpSocket::bind(SocketAddrV4::new(OURS, 500)).unwrap(),
            natt: UdpSocket::bind(SocketAddrV4::new(OURS, 4500)).unwrap(),
        };
        for sock in [&s.ike, &s.natt] {
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
        s
    }

    /// Sends what `sa` produced: on 500, or on 4500 behind the non-ESP marker.
    fn send(&self, sa: &IkeSa, output: &Output, to: Ipv4Addr) {
        for d in &output.send {
            if sa.nat_traversal() {
                let mut m = vec![0u8; 4];
                m.extend_from_slice(d);
                self.natt.send_to(&m, SocketAddrV4::new(to, 4500)).unwrap();
            } else {
                self.ike.send_to(d, SocketAddrV4::new(to, 500)).unwrap();
            }
        }
    }

    /// The next IKE message on either port (marker removed), with its source.
    fn recv_ike(&self) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = [0u8; 4096];
        for (sock, marker) in [(&self.ike, false), (&self.natt, true)] {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                if !marker {
                    return Some((buf[..n].to_vec(), from));
                }
                if n >= 4 && buf[..4] == [0; 4] {
                    return Some((buf[4..n].to_vec(), from));
                }
            }
        }
        None
    }
}

fn esp_transform(aead: Aead) -> esp::Transform {
    match aead {
        Aead::AesGcm128 => esp::Transform::AesGcm128,
        Aead::AesGcm256 => esp::Transform::AesGcm256,
        Aead::ChaCha20Poly1305 => esp::Transform::ChaCha20Poly1305,
    }
}

/// An echo request from behind us to behind them through the child SA, and the reply
/// charon's side sends back, opened with our inbound key.
fn echo_through(child: &ChildSa, sockets: &Sockets) {
    assert!(child.udp_encap, "charon's encap=yes floats ESP into UDP");
    let mut tunnel = TunnelTemplate::new(OURS, THEIRS);
    tunnel.udp = Some(UdpEncap {
        src_port: 4500,
        dst_port: 4500,
    });
    let t = esp_transform(child.aead);
    let out = OutboundSa::new(
        &SaParams::from_keymat(child.spi_out, t, &child.key_out, tunnel).unwrap(),
        0,
    )
    .unwrap();
    let mut back = TunnelTemplate::new(THEIRS, OURS);
    back.udp = Some(UdpEncap {
        src_port: 4500,
        dst_port: 4500,
    });
    let inbound = InboundSa::new(
        &SaParams::from_keymat(child.spi_in, t, &child.key_in, back).unwrap(),
        0,
    )
    .unwrap();

    let mut icmp = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(b"rri through strongSwan");
    let sum = wire::checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut inner = vec![0u8; 20 + icmp.len()];
    Ipv4Repr {
        src: BEHIND_US,
        dst: BEHIND_THEM,
        protocol: 1,
        tos: 0,
        ident: 7,
        dont_fragment: false,
        ttl: 64,
        payload_len: icmp.len() as u16,
    }
    .emit(&mut inner);
    inner[20..].copy_from_slice(&icmp);
    let mut buf = TestBuf::new(TestBuf::MBUF_HEADROOM, &inner, 64);
    out.encapsulate(&mut buf, 0).unwrap();
    // The socket adds the outer IPv4 and UDP headers: send what follows them.
    let esp_part = &buf.data()[28..];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reply = None;
    'outer: while Instant::now() < deadline {
        sockets
            .natt
            .send_to(esp_part, SocketAddrV4::new(THEIRS, 4500))
            .unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        let mut rx = [0u8; 4096];
        while Instant::now() < until {
            let Ok((n, _)) = sockets.natt.recv_from(&mut rx) else {
                continue;
            };
            if n < 8 || rx[..4] == [0; 4] {
                continue; // IKE (an INFORMATIONAL, say), not ESP
            }
            // Rebuild the outer headers the socket took off, for classify and decapsulate.
            let mut outer = vec![0u8; 28 + n];
            Ipv4Repr {
                src: THEIRS,
                dst: OURS,
                protocol: 17,
                tos: 0,
                ident: 1,
                dont_fragment: false,
                ttl: 64,
                payload_len: (8 + n) as u16,
            }
            .emit(&mut outer);
            outer[20..22].copy_from_slice(&4500u16.to_be_bytes());
            outer[22..24].copy_from_slice(&4500u16.to_be_bytes());
            outer[24..26].copy_from_slice(&((8 + n) as u16).to_be_bytes());
            outer[28..].copy_from_slice(&rx[..n]);
            let Ok(Classified::Esp(at)) = classify(&outer) else {
                continue;
            };
            let mut b = TestBuf::new(0, &outer, 0);
            if inbound.decapsulate(&mut b, &at, 0).is_ok() {
                reply = Some(b.data().to_vec());
                break 'outer;
            }
        }
    }
    let reply = reply.expect("an echo reply through charon, opened with our inbound key");
    assert_eq!(&reply[12..16], &BEHIND_THEM.octets());
    assert_eq!(&reply[16..20], &BEHIND_US.octets());
    assert_eq!(reply[20], 0, "ICMP echo reply");
    assert_eq!(&reply[28..], b"rri through strongSwan");
}

/// Runs the exchange until an event satisfies `done`; returns the events seen.
fn pump(
    sa: &mut IkeSa,
    sockets: &Sockets,
    to: Ipv4Addr,
    what: &str,
    done: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what}: only {seen:?}"
        );
        let now = start.elapsed().as_nanos() as u64;
        let o = match sockets.recv_ike() {
            Some((d, _)) => sa.handle(&d, now),
            None => sa.tick(now),
        };
        sockets.send(sa, &o, to);
        let finished = o.events.iter().any(&done);
        seen.extend(o.events);
        if finished {
            return seen;
        }
    }
}

/// charon rekeys the child (and deletes the old one), then we rekey it (and delete the old
/// one); after each, an echo goes through the new child SA.
fn rekeys_both_ways(charon: &Charon, sa: &mut IkeSa, sockets: &Sockets, rng: &SystemRandom) {
    let mut rekey = Command::new("sh")
        .args([
            "-c",
            &format!(
                "swanctl --rekey --child net --uri unix://{}/charon.vici",
                charon.dir.display()
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = pump(sa, sockets, THEIRS, "charon's rekey", |e| {
        matches!(e, Event::ChildDeleted { .. })
    });
    let _ = rekey.wait();
    let new = seen
        .iter()
        .find_map(|e| match e {
            Event::ChildRekeyed { new, .. } => Some(new.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no rekey in {seen:?}: {}", charon.log()));
    echo_through(&new, sockets);

    let o = sa.rekey_child(rng, 0);
    sockets.send(sa, &o, THEIRS);
    let seen = pump(sa, sockets, THEIRS, "our rekey", |e| {
        matches!(e, Event::ChildRekeyed { .. })
    });
    let Some(Event::ChildRekeyed { new, .. }) = seen.last() else {
        unreachable!()
    };
    let new = new.clone();
    // Let our delete of the old child be answered before the echo.
    pump_briefly(sa, sockets);
    echo_through(&new, sockets);
    let sas = charon.swanctl_plain("--list-sas");
    assert!(
        sas.contains(&format!("{:08x}", new.spi_in)),
        "charon uses the new child: {sas}"
    );
    assert_eq!(
        sas.matches("INSTALLED").count(),
        1,
        "the old child is gone: {sas}"
    );
}

fn pump_briefly(sa: &mut IkeSa, sockets: &Sockets) {
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        if let Some((d, _)) = sockets.recv_ike() {
            let o = sa.handle(&d, 0);
            sockets.send(sa, &o, THEIRS);
        }
    }
}

/// Our liveness check is answered; then charon deletes the IKE SA and we answer that, so that
/// its `--terminate` completes.
/// charon rekeys the IKE SA (RFC 7296 section 1.3.2): rri answers, takes the new SPIs and
/// keys when charon deletes the old SA, keeps its child SA, and a liveness check on the new
/// SA is answered.
fn ike_rekeyed_by_charon(charon: &Charon, sa: &mut IkeSa, sockets: &Sockets, to: Ipv4Addr) {
    let before = sa.spis();
    let mut rekey = Command::new("sh")
        .args([
            "-c",
            &format!(
                "swanctl --rekey --ike rri --uri unix://{}/charon.vici",
                charon.dir.display()
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = pump(sa, sockets, to, "charon's IKE rekey", |e| {
        matches!(e, Event::IkeRekeyed { .. })
    });
    let _ = rekey.wait();
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::IkeDeleted | Event::ChildDeleted { .. })),
        "{seen:?}"
    );
    let after = sa.spis();
    assert_ne!(before, after);
    assert!(sa.established() && !sa.children().is_empty());
    let sas = charon.swanctl_plain("--list-sas");
    assert!(
        sas.contains(&format!("{:016x}", after.0)) && sas.contains(&format!("{:016x}", after.1)),
        "charon runs the new IKE SA {after:x?}: {sas}"
    );
    assert_eq!(sas.matches("ESTABLISHED").count(), 1, "{sas}");
    let probe = sa.check_liveness(0);
    sockets.send(sa, &probe, to);
    pump(sa, sockets, to, "liveness on the new IKE SA", |e| {
        matches!(e, Event::Alive)
    });
}

/// rri rekeys the IKE SA: charon answers, rri deletes the old SA and goes on with the new
/// one (its child SAs unchanged); charon shows only the new SA and answers on it.
fn ike_rekeyed_by_us(
    charon: &Charon,
    sa: &mut IkeSa,
    sockets: &Sockets,
    to: Ipv4Addr,
    rng: &SystemRandom,
) {
    let before = sa.spis();
    let children = sa.children().to_vec();
    let o = sa.rekey_ike(rng, 0);
    assert_eq!(o.send.len(), 1);
    sockets.send(sa, &o, to);
    let seen = pump(sa, sockets, to, "our IKE rekey", |e| {
        matches!(e, Event::IkeRekeyed { .. })
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    let after = sa.spis();
    assert_ne!(before, after);
    assert_eq!(sa.children(), children.as_slice());
    let sas = charon.swanctl_plain("--list-sas");
    assert!(
        sas.contains(&format!("{:016x}", after.0)) && sas.contains(&format!("{:016x}", after.1)),
        "charon runs the new IKE SA {after:x?}: {sas}"
    );
    assert_eq!(sas.matches("ESTABLISHED").count(), 1, "{sas}");
    let probe = sa.check_liveness(0);
    sockets.send(sa, &probe, to);
    pump(sa, sockets, to, "liveness on our new IKE SA", |e| {
        matches!(e, Event::Alive)
    });
}

fn alive_then_deleted_by_charon(charon: &Charon, sa: &mut IkeSa, sockets: &Sockets, to: Ipv4Addr) {
    let start = Instant::now();
    let probe = sa.check_liveness(0);
    sockets.send(sa, &probe, to);
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no answer to the liveness check"
        );
        let now = start.elapsed().as_nanos() as u64;
        let o = match sockets.recv_ike() {
            Some((d, _)) => sa.handle(&d, now),
            None => sa.tick(now),
        };
        sockets.send(sa, &o, to);
        if o.events == vec![Event::Alive] {
            break;
        }
        assert!(o.events.is_empty(), "{:?}", o.events);
    }
    let mut terminate = Command::new("sh")
        .args([
            "-c",
            &format!(
                "swanctl --terminate --ike rri --timeout 10 --uri unix://{}/charon.vici",
                charon.dir.display()
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no delete from charon"
        );
        let Some((d, _)) = sockets.recv_ike() else {
            continue;
        };
        let o = sa.handle(&d, start.elapsed().as_nanos() as u64);
        sockets.send(sa, &o, to);
        if o.events.contains(&Event::IkeDeleted) {
            break;
        }
    }
    assert!(
        terminate.wait().unwrap().success(),
        "charon's terminate completes: {}",
        charon.log()
    );
}

#[test]
fn rri_and_strongswan_agree_as_initiator_and_as_responder() {
    let charon = Charon::start();
    let sockets = Sockets::bind();
    let rng = SystemRandom::new();
    for aead in [Aead::AesGcm128, Aead::AesGcm256, Aead::ChaCha20Poly1305] {
        // rri initiates.
        let (mut sa, first) = IkeSa::initiate(settings(aead), &rng, 0).unwrap();
        sockets.send(&sa, &first, THEIRS);
        let start = Instant::now();
        let child = loop {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{aead:?} initiator: {}",
                charon.log()
            );
            let now = start.elapsed().as_nanos() as u64;
            let o = match sockets.recv_ike() {
                Some((d, _)) => sa.handle(&d, now),
                None => sa.tick(now),
            };
            sockets.send(&sa, &o, THEIRS);
            if let Some(e) = o.events.first() {
                match e {
                    Event::ChildUp(c) => break c.clone(),
                    other => panic!("{aead:?} initiator: {other:?}\n{}", charon.log()),
                }
            }
        };
        let sas = charon.swanctl_plain("--list-sas");
        assert!(sas.contains("INSTALLED"), "{sas}");
        assert!(
            sas.contains(&format!("{:08x}", child.spi_in)),
            "charon's outbound SPI is our inbound one: {sas}"
        );
        echo_through(&child, &sockets);
        rekeys_both_ways(&charon, &mut sa, &sockets, &rng);
        ike_rekeyed_by_charon(&charon, &mut sa, &sockets, THEIRS);
        ike_rekeyed_by_us(&charon, &mut sa, &sockets, THEIRS, &rng);
        alive_then_deleted_by_charon(&charon, &mut sa, &sockets, THEIRS);

        // strongSwan initiates; rri answers.
        let mut initiate = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "swanctl --initiate --child net --timeout 20 --uri unix://{}/charon.vici",
                    charon.dir.display()
                ),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut responder: Option<IkeSa> = None;
        let child = loop {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{aead:?} responder: {}",
                charon.log()
            );
            let now = start.elapsed().as_nanos() as u64;
            let Some((d, from)) = sockets.recv_ike() else {
                continue;
            };
            let SocketAddr::V4(from) = from else { continue };
            let o = match responder.as_mut() {
                Some(sa) => sa.handle(&d, now),
                None => {
                    let mut s = settings(aead);
                    s.remote = from;
                    match IkeSa::respond(s, &rng, &d, now) {
                        Ok((sa, o)) => {
                            // The IKE_SA_INIT response goes back on 500.
                            for m in &o.send {
                                sockets.ike.send_to(m, from).unwrap();
                            }
                            responder = Some(sa);
                            continue;
                        }
                        Err(o) => panic!("{aead:?} refused: {:?}", o.events),
                    }
                }
            };
            if let Some(sa) = responder.as_ref() {
                sockets.send(sa, &o, THEIRS);
            }
            if let Some(e) = o.events.first() {
                match e {
                    Event::ChildUp(c) => break c.clone(),
                    other => panic!("{aead:?} responder: {other:?}\n{}", charon.log()),
                }
            }
        };
        let status = initiate.wait().unwrap();
        let mut said = String::new();
        if let Some(mut o) = initiate.stdout.take() {
            use std::io::Read;
            let _ = o.read_to_string(&mut said);
        }
        assert!(
            status.success(),
            "swanctl --initiate: {said}\n{}",
            charon.log()
        );
        echo_through(&child, &sockets);
        charon.swanctl_plain("--terminate --ike rri --force --timeout 2");
    }
}
