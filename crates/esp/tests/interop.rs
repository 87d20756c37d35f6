//! Cross-checks against independent implementations: scapy (PyPI, in the repository's
//! `.venv`, which `scripts/setup` creates) decrypts and authenticates ESP that rri built, and
//! builds ESP that rri must decapsulate; tshark decrypts rri's AES-GCM ESP (it checks framing
//! and plaintext, not the tag, and has no ChaCha20-Poly1305, so scapy is the authority there).
//! Plain ESP and ESP in UDP, with and without ESN.

mod common;

use common::*;
use esp::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RRI_PYTHON") {
        return p.into();
    }
    let venv = repo_root().join(".venv/bin/python3");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup (it creates the venv with scapy)",
        venv.display()
    );
    venv
}

fn scapy_name(t: Transform) -> &'static str {
    match t {
        Transform::AesGcm128 | Transform::AesGcm256 => "AES-GCM",
        Transform::ChaCha20Poly1305 => "CHACHA20-POLY1305",
    }
}

/// Runs the scapy helper over `lines` of (sequence number, packet) and returns its output
/// lines, one per input.
fn scapy(mode: &str, p: &SaParams, src: &str, dst: &str, lines: &[(u64, Vec<u8>)]) -> Vec<String> {
    let mut keymat = p.key.to_vec();
    keymat.extend_from_slice(&p.salt);
    let (sport, dport) = p.tunnel.udp.map_or((0, 0), |u| (u.src_port, u.dst_port));
    let mut child = Command::new(python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scapy_esp.py"))
        .args([
            mode,
            &format!("{:#x}", p.spi),
            scapy_name(p.transform),
            &hex(&keymat),
            src,
            dst,
        ])
        .args([
            sport.to_string(),
            dport.to_string(),
            u8::from(p.esn).to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut input = String::new();
    for (seq, packet) in lines {
        input.push_str(&format!("{seq} {}\n", hex(packet)));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scapy helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines.len(),
        input.lines().count(),
        "one output line per packet"
    );
    lines
}

const TRANSFORMS: [Transform; 3] = [
    Transform::AesGcm128,
    Transform::AesGcm256,
    Transform::ChaCha20Poly1305,
];
const SIZES: [usize; 6] = [28, 29, 30, 31, 100, 1400];

#[test]
fn scapy_decrypts_what_rri_encapsulates() {
    for transform in TRANSFORMS {
        for udp in [false, true] {
            for esn in [false, true] {
                let p = params(transform, udp, esn);
                let sa = OutboundSa::new(&p, 0).unwrap();
                if esn {
                    // Cross the 2^32 boundary so the high half matters.
                    sa.resume_after((1 << 32) - 3);
                }
                let inners: Vec<Vec<u8>> = SIZES
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| inner_packet(n, i as u8, i % 2 == 0))
                    .collect();
                let outers: Vec<(u64, Vec<u8>)> = inners
                    .iter()
                    .map(|inner| {
                        let outer = encapsulate(&sa, inner);
                        (sa.last_seq(), outer)
                    })
                    .collect();
                let got = scapy("decrypt", &p, "198.51.100.1", "203.0.113.2", &outers);
                for ((inner, (seq, _)), line) in inners.iter().zip(&outers).zip(&got) {
                    assert_eq!(
                        line,
                        &hex(inner),
                        "{transform:?} udp={udp} esn={esn} seq={seq:#x}: scapy's plaintext differs"
                    );
                }
            }
        }
    }
}

#[test]
fn rri_decapsulates_what_scapy_encapsulates() {
    for transform in TRANSFORMS {
        for udp in [false, true] {
            for esn in [false, true] {
                let p = params(transform, udp, esn);
                // scapy builds packets from REMOTE to LOCAL; the SA parameters are the same.
                let sa = InboundSa::new(&p, 0).unwrap();
                let base = if esn { (1u64 << 32) - 3 } else { 1 };
                if esn {
                    sa.window().accept(base - 1).unwrap();
                }
                let inners: Vec<(u64, Vec<u8>)> = SIZES
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (base + i as u64, inner_packet(n, 40 + i as u8, false)))
                    .collect();
                let outers = scapy("encrypt", &p, "203.0.113.2", "198.51.100.1", &inners);
                for ((seq, inner), line) in inners.iter().zip(&outers) {
                    assert!(!line.starts_with("ERROR"), "scapy: {line}");
                    let outer = unhex(line);
                    if udp {
                        assert_eq!(outer[9], 17, "scapy sent ESP in UDP");
                    }
                    let got = decapsulate(&sa, &outer).unwrap_or_else(|r| {
                        panic!("{transform:?} udp={udp} esn={esn} seq={seq:#x}: dropped, {r}")
                    });
                    assert_eq!(hex(&got), hex(inner));
                }
                assert_eq!(sa.counters().snapshot().packets, SIZES.len() as u64);
            }
        }
    }
}

#[test]
fn tshark_decrypts_rri_aes_gcm() {
    let dir = std::env::temp_dir().join(format!("rri-esp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for transform in [Transform::AesGcm128, Transform::AesGcm256] {
        for (udp, padding) in [(false, Padding::Minimal), (true, Padding::Align16)] {
            let p = SaParams {
                padding,
                ..params(transform, udp, false)
            };
            let sa = OutboundSa::new(&p, 0).unwrap();
            let inners: Vec<Vec<u8>> = SIZES
                .iter()
                .enumerate()
                .map(|(i, &n)| inner_packet(n, 90 + i as u8, false))
                .collect();
            let frames: Vec<Vec<u8>> = inners
                .iter()
                .map(|inner| {
                    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
                    frame.extend_from_slice(&encapsulate(&sa, inner));
                    frame
                })
                .collect();
            let path = dir.join(format!("{transform:?}-{udp}.pcap"));
            pcapfile::write_ethernet(&path, frames.iter().map(Vec::as_slice)).unwrap();
            let mut keymat = p.key.to_vec();
            keymat.extend_from_slice(&p.salt);
            let sa_uat = format!(
                "uat:esp_sa:\"IPv4\",\"198.51.100.1\",\"203.0.113.2\",\"{:#010x}\",\"AES-GCM with 16 octet ICV [RFC4106]\",\"0x{}\",\"NULL\",\"\"",
                p.spi,
                hex(&keymat)
            );
            let out = Command::new("tshark")
                .args(["-n", "-r"])
                .arg(&path)
                .args(["-o", "esp.enable_encryption_decode:TRUE", "-o", &sa_uat])
                .args(["-T", "fields", "-E", "separator=|"])
                .args([
                    "-e",
                    "esp.sequence",
                    "-e",
                    "ip.src",
                    "-e",
                    "ip.dst",
                    "-e",
                    "udp.dstport",
                ])
                .args(["-e", "esp.pad_len", "-e", "esp.protocol", "-e", "data.data"])
                .output()
                .expect("run tshark (scripts/setup installs it)");
            assert!(
                out.status.success(),
                "tshark: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let rows: Vec<&str> = text.lines().collect();
            assert_eq!(rows.len(), inners.len(), "{text}");
            for (i, (row, inner)) in rows.iter().zip(&inners).enumerate() {
                let f: Vec<&str> = row.split('|').collect();
                assert_eq!(f[0], (i + 1).to_string(), "sequence number: {row}");
                assert_eq!(
                    f[1], "198.51.100.1,10.1.0.5",
                    "outer then inner source: {row}"
                );
                assert_eq!(
                    f[2], "203.0.113.2,10.2.0.9",
                    "outer then inner destination: {row}"
                );
                assert!(f[3].ends_with("40001"), "inner UDP port: {row}");
                let align = padding.alignment();
                let pad = (align - (inner.len() + 2) % align) % align;
                assert_eq!(f[4], pad.to_string(), "pad length: {row}");
                assert_eq!(f[5], "0x04", "next header: {row}");
                assert_eq!(f[6], hex(&inner[28..]), "inner payload: {row}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
