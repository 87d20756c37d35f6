//! A `net_pcap` port forwards a capture the test wrote: the output capture holds the same
//! packets byte for byte, the port counters equal what was sent, and no mbuf leaks.

mod common;

use dpdk::{Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig};

#[test]
fn pcap_port_forwards_a_capture_byte_for_byte() {
    let dir = common::scratch_dir("pcap");
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    // Sizes from the minimum frame to a full 1514-byte frame, with odd lengths in between.
    let sizes = [60usize, 61, 64, 128, 333, 512, 1000, 1400, 1513, 1514];
    let frames: Vec<Vec<u8>> = (0..500u32)
        .map(|i| common::udp_frame(i, sizes[i as usize % sizes.len()]))
        .collect();
    pcapfile::write_ethernet(&input, frames.iter().map(Vec::as_slice)).unwrap();

    let vdev = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        input.display(),
        output.display()
    );
    let eal = Eal::init(common::eal_args("pcap", "0@0", &[vdev])).expect("EAL starts");
    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    let port = Port::start(&eal, 0, &PortConfig::default(), &pool).unwrap();
    assert_eq!(port.name(), "net_pcap0");
    {
        let mut rx = port.rx_queue(0).unwrap();
        let mut tx = port.tx_queue(0).unwrap();
        let mut forwarded = 0usize;
        let mut idle_polls = 0;
        while forwarded < frames.len() && idle_polls < 1_000_000 {
            let mut burst = MbufBurst::<32>::new();
            if rx.rx_burst(&mut burst) == 0 {
                idle_polls += 1;
                continue;
            }
            let n = burst.len();
            while !burst.is_empty() {
                tx.tx_burst(&mut burst);
            }
            forwarded += n;
        }
        assert_eq!(forwarded, frames.len());
    }
    let stats = port.stats().unwrap();
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let n = frames.len() as u64;
    assert_eq!((stats.ipackets, stats.opackets), (n, n));
    assert_eq!((stats.ibytes, stats.obytes), (bytes, bytes));
    assert_eq!(
        (stats.ierrors, stats.oerrors, stats.imissed, stats.rx_nombuf),
        (0, 0, 0, 0)
    );

    drop(port); // closing the port flushes and closes the output capture
    assert_eq!(pool.in_use(), 0, "no mbuf leaked");
    drop(pool);
    drop(eal);

    let out = pcapfile::Capture::read(&output).expect("output capture is readable");
    assert_eq!(out.linktype, pcapfile::LINKTYPE_ETHERNET);
    assert_eq!(out.records.len(), frames.len());
    for (i, (got, want)) in out.packets().zip(&frames).enumerate() {
        assert_eq!(got, want.as_slice(), "packet {i} differs");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
