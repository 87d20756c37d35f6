//! The rri-iofwd binary as a user runs it: help without an EAL, a clear error for a bad
//! device, and a capture forwarded through a port pair.

use std::process::Command;

fn iofwd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rri-iofwd"))
}

fn prefix(name: &str) -> String {
    format!("rri-cli-{name}-{}", std::process::id())
}

#[test]
fn help_needs_no_eal() {
    let out = iofwd().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rri-iofwd [EAL options] -- [OPTIONS]"),
        "{text}"
    );
    assert!(text.contains("--tx-first"));
}

#[test]
fn bad_device_exits_2_naming_it() {
    let out = iofwd()
        .args([
            "-l",
            "0",
            "--no-huge",
            "--no-pci",
            "-m",
            "256",
            "--no-telemetry",
        ])
        .args(["--file-prefix", &prefix("bad"), "--vdev", "net_bogus9"])
        .args(["--", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rri-iofwd: EAL initialisation failed"),
        "{err}"
    );
    assert!(err.contains("net_bogus9"), "{err}");
}

#[test]
fn capture_through_a_port_pair() {
    let dir = std::env::temp_dir().join(prefix("pair"));
    std::fs::create_dir_all(&dir).unwrap();
    let frames: Vec<Vec<u8>> = (0..300u16)
        .map(|i| {
            let mut f = vec![0u8; 60 + usize::from(i % 7) * 100];
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            f[20..22].copy_from_slice(&i.to_be_bytes());
            f
        })
        .collect();
    let (input, empty) = (dir.join("in.pcap"), dir.join("empty.pcap"));
    pcapfile::write_ethernet(&input, frames.iter().map(Vec::as_slice)).unwrap();
    pcapfile::write_ethernet(&empty, std::iter::empty()).unwrap();
    let p0 = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        input.display(),
        dir.join("back.pcap").display()
    );
    let p1 = format!(
        "net_pcap1,rx_pcap={},tx_pcap={}",
        empty.display(),
        dir.join("out.pcap").display()
    );
    let out = iofwd()
        .args([
            "-l",
            "0,1",
            "--no-huge",
            "--no-pci",
            "-m",
            "512",
            "--no-telemetry",
        ])
        .args([
            "--file-prefix",
            &prefix("pair"),
            "--vdev",
            &p0,
            "--vdev",
            &p1,
        ])
        .args(["--", "--idle-stop-ms", "200"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Forward statistics for port 1 (net_pcap1)"),
        "{stdout}"
    );
    let got = pcapfile::Capture::read(dir.join("out.pcap")).unwrap();
    assert_eq!(
        got.packets().collect::<Vec<_>>(),
        frames.iter().map(Vec::as_slice).collect::<Vec<_>>()
    );
    assert!(pcapfile::Capture::read(dir.join("back.pcap"))
        .unwrap()
        .records
        .is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!std::path::Path::new("/var/run/dpdk")
        .join(prefix("pair"))
        .exists());
}
