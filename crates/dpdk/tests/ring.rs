//! Packets through `net_ring` devices with a real EAL: bursts in and out, ownership of what the
//! device refuses, port statistics, and every mbuf back in its pool at the end.

mod common;

use dpdk::{Eal, Mbuf, MbufBurst, Mempool, MempoolConfig, Port, PortConfig, PortError};
use pktbuf::{PacketBuf, TestBuf};

fn fill(pool: &Mempool, burst: &mut MbufBurst<32>, first_seq: u32, count: usize, len: usize) {
    for i in 0..count {
        let mut m = pool.alloc().expect("pool has room");
        m.append(len)
            .unwrap()
            .copy_from_slice(&common::udp_frame(first_seq + i as u32, len));
        burst.push(m).unwrap();
    }
}

#[test]
fn ring_ports_carry_packets_and_return_every_mbuf() {
    let args = common::eal_args("ring", "0@0", &["net_ring0".into(), "net_ring1".into()]);
    let eal = Eal::init(&args).expect("EAL starts with two rings");
    let runtime_dir = eal
        .runtime_dir()
        .expect("EAL has a runtime dir")
        .to_path_buf();
    assert!(runtime_dir.exists());
    assert!(
        dpdk::version().starts_with("DPDK 22.11"),
        "{}",
        dpdk::version()
    );

    let pool = Mempool::new(
        &eal,
        &MempoolConfig {
            mbufs: 4095,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((pool.capacity(), pool.in_use()), (4095, 0));

    let ids = Port::ids(&eal);
    assert_eq!(ids, vec![0, 1]);
    assert_eq!(Port::id_by_name(&eal, "net_ring1").unwrap(), 1);
    assert!(matches!(
        Port::id_by_name(&eal, "net_ring9"),
        Err(PortError::NoSuchPort(_))
    ));

    let mut port = Port::start(&eal, 0, &PortConfig::default(), &pool).unwrap();
    assert_eq!(port.name(), "net_ring0");
    assert!(port.link().unwrap().up);
    let mac = port.mac_address().unwrap();
    assert_eq!(mac.len(), 6);

    mbuf_surface_matches_test_buffer(&pool);
    loopback_counts_and_stats(&mut port, &pool);
    refused_packets_stay_with_the_caller(&port, &pool);
    queue_handles_are_exclusive(&mut port);

    drop(port);
    assert_eq!(pool.in_use(), 0, "every mbuf is back in the pool");
    drop(pool);
    drop(eal);
    assert!(
        !runtime_dir.exists(),
        "cleanup removes {}",
        runtime_dir.display()
    );
}

/// The same operations on an mbuf and on a TestBuf of the same shape give the same bytes.
fn mbuf_surface_matches_test_buffer(pool: &Mempool) {
    let mut m: Mbuf = pool.alloc().unwrap();
    let mut t = TestBuf::like_mbuf(&[]);
    assert_eq!((m.headroom(), m.tailroom()), (t.headroom(), t.tailroom()));
    for buf in [&mut m as &mut dyn PacketBuf, &mut t] {
        buf.append(10).unwrap().copy_from_slice(b"0123456789");
        buf.prepend(3).unwrap().copy_from_slice(b"abc");
        buf.adj(1).unwrap();
        buf.trim(2).unwrap();
        buf.data_mut()[0] = b'B';
        assert_eq!(buf.prepend(200), Err(pktbuf::BufError::NoHeadroom));
        assert_eq!(buf.append(4000), Err(pktbuf::BufError::NoTailroom));
        assert_eq!(buf.adj(100), Err(pktbuf::BufError::TooShort));
    }
    assert_eq!(m.data(), b"Bc01234567");
    assert_eq!(m.data(), t.data());
    assert_eq!((m.headroom(), m.tailroom()), (t.headroom(), t.tailroom()));
    assert_eq!(m.pkt_len(), 10);
    assert_eq!(m.as_ref(), t.as_ref());

    // The mbuf's own prepend/append/adj/trim (inlined, not DPDK's calls) against the test
    // buffer over random sequences, failures included.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20 {
        let mut m: Mbuf = pool.alloc().unwrap();
        let mut t = TestBuf::like_mbuf(&[]);
        for step in 0..200u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x >> 8) as usize % if x & 0x30 == 0 { 5000 } else { 200 };
            let fill = step as u8;
            let (a, b) = match x % 4 {
                0 => (
                    m.append(len).map(|d| d.fill(fill)),
                    t.append(len).map(|d| d.fill(fill)),
                ),
                1 => (
                    m.prepend(len).map(|d| d.fill(fill)),
                    t.prepend(len).map(|d| d.fill(fill)),
                ),
                2 => (m.adj(len), t.adj(len)),
                _ => (m.trim(len), t.trim(len)),
            };
            assert_eq!(a, b, "step {step}");
            // A prefetch reaching past either end of the packet changes nothing.
            m.prefetch_front(len, len);
            m.prefetch_tail(len);
            assert_eq!(m.data(), t.data(), "step {step}");
            assert_eq!((m.headroom(), m.tailroom()), (t.headroom(), t.tailroom()));
            assert_eq!(m.pkt_len() as usize, t.data().len());
        }
    }
}

/// A net_ring device with no arguments is a loopback: what goes out on a queue comes back in.
fn loopback_counts_and_stats(port: &mut Port, pool: &Mempool) {
    port.reset_stats().unwrap();
    let mut tx = port.tx_queue(0).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let (rounds, per_round, len) = (50usize, 32usize, 128usize);
    let mut seen = Vec::new();
    for round in 0..rounds {
        let mut out = MbufBurst::<32>::new();
        fill(pool, &mut out, (round * per_round) as u32, per_round, len);
        assert_eq!(tx.tx_burst(&mut out), per_round);
        assert!(out.is_empty());
        let mut inb = MbufBurst::<32>::new();
        while inb.len() < per_round {
            assert!(rx.rx_burst(&mut inb) > 0, "loopback returns what was sent");
        }
        for m in inb.iter() {
            assert_eq!(m.data().len(), len);
            seen.push(common::frame_seq(m.data()));
        }
    }
    let expected: Vec<u32> = (0..(rounds * per_round) as u32).collect();
    assert_eq!(seen, expected, "in order, none lost, none duplicated");
    let stats = port.stats().unwrap();
    let n = (rounds * per_round) as u64;
    assert_eq!((stats.ipackets, stats.opackets), (n, n));
    // net_ring keeps packet counters only (its bytes stay 0); the pcap test checks bytes.
    assert_eq!((stats.ibytes, stats.obytes), (0, 0));
    assert_eq!(
        (stats.ierrors, stats.oerrors, stats.rx_nombuf, stats.imissed),
        (0, 0, 0, 0)
    );
    assert_eq!(pool.in_use(), 0);
}

/// When the device's ring is full, tx_burst hands the rest back; nothing is freed twice and
/// nothing leaks.
fn refused_packets_stay_with_the_caller(port: &Port, pool: &Mempool) {
    let mut tx = port.tx_queue(0).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let mut queued = 0usize;
    let mut refused_seen = false;
    let mut seq = 0u32;
    while !refused_seen {
        let mut out = MbufBurst::<32>::new();
        fill(pool, &mut out, seq, 32, 64);
        seq += 32;
        let sent = tx.tx_burst(&mut out);
        queued += sent;
        if sent < 32 {
            refused_seen = true;
            assert_eq!(out.len(), 32 - sent, "unsent mbufs stay in the burst");
            // The first refused packet is the one after the last sent.
            assert_eq!(
                common::frame_seq(out.as_slice()[0].data()),
                seq - 32 + sent as u32
            );
            let kept = out.len() as u32;
            assert_eq!(pool.in_use() as usize, queued + kept as usize);
            let again = tx.tx_burst_or_free(&mut out);
            assert_eq!(again, 0, "the ring is still full");
            assert!(out.is_empty());
        }
        assert!(queued < 100_000, "the ring refuses at some point");
    }
    assert_eq!(pool.in_use() as usize, queued);
    let mut drained = 0;
    let mut inb = MbufBurst::<32>::new();
    loop {
        let n = rx.rx_burst(&mut inb);
        if n == 0 {
            break;
        }
        drained += n;
        inb.clear();
    }
    assert_eq!(drained, queued);
    assert_eq!(pool.in_use(), 0);
}

fn queue_handles_are_exclusive(port: &mut Port) {
    let rx = port.rx_queue(0).unwrap();
    assert!(matches!(
        port.rx_queue(0),
        Err(PortError::QueueInUse { .. })
    ));
    assert!(matches!(
        port.tx_queue(1),
        Err(PortError::NoSuchQueue { .. })
    ));
    assert!(matches!(port.stop(), Err(PortError::QueuesOut(0))));
    drop(rx);
    port.stop().unwrap();
    assert!(matches!(port.rx_queue(0), Err(PortError::NotStarted(0))));
    port.restart().unwrap();
    drop(port.rx_queue(0).unwrap());
}
