//! A known driver whose device cannot start (a pcap file that does not exist) fails EAL
//! initialisation late, after memory and threads are set up; the error still names the
//! device and the process still exits cleanly.

mod common;

use dpdk::{Eal, EalError};

#[test]
fn failing_probe_is_an_error_naming_the_device() {
    let vdev = "net_pcap3,rx_pcap=/nonexistent/rri/in.pcap,tx_pcap=/nonexistent/rri/out.pcap";
    let err = Eal::init(common::eal_args("badprobe", "0@0", &[vdev.into()])).unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    match &err {
        EalError::DeviceNotProbed { device, log } => {
            assert_eq!(device, "net_pcap3");
            assert!(
                log.iter().any(|l| l.contains("/nonexistent/rri/in.pcap")),
                "{text}"
            );
        }
        other => panic!("expected DeviceNotProbed, got {other:?}"),
    }
    assert!(
        text.contains("net_pcap3"),
        "the error names the device: {text}"
    );
    let prefix = format!("rri-test-badprobe-{}", std::process::id());
    assert!(!std::path::Path::new("/var/run/dpdk").join(prefix).exists());
    assert_eq!(
        Eal::init(["--no-huge"]).unwrap_err(),
        EalError::AlreadyInitialized
    );
}
