//! `rri-pcap`: make Ethernet/IPv4/UDP test captures and compare captures packet by packet.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Make and compare packet captures for lab runs.
#[derive(Parser, Debug)]
#[command(name = "rri-pcap", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a capture of UDP frames, 198.18.0.0/16 -> 198.19.0.0/16, with a sequence number
    /// in each payload.
    Gen {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Number of frames.
        #[arg(long, default_value_t = 1000)]
        count: u32,
        /// Frame sizes (without FCS).
        #[arg(long, value_enum, default_value_t = Sizes::Imix)]
        sizes: Sizes,
        /// Number of distinct flows (source addresses and ports).
        #[arg(long, default_value_t = 16)]
        flows: u32,
    },
    /// Compare two captures packet by packet; exit status 1 at the first difference.
    Compare {
        /// The expected capture.
        expected: PathBuf,
        /// The capture to check.
        actual: PathBuf,
    },
    /// Print the number of packets and bytes of a capture.
    Summary {
        /// The capture.
        file: PathBuf,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Sizes {
    /// 60-byte frames (64 with FCS).
    Min,
    /// Simple IMIX, 7:4:1 of 60, 566 and 1514 bytes (64/570/1518 with FCS).
    Imix,
    /// 1396-byte frames (1400 with FCS).
    Large,
}

fn frame_len(sizes: Sizes, i: u32) -> usize {
    match sizes {
        Sizes::Min => 60,
        Sizes::Large => 1396,
        Sizes::Imix => match i % 12 {
            0..=6 => 60,
            7..=10 => 566,
            _ => 1514,
        },
    }
}

/// An Ethernet/IPv4/UDP frame of `len` bytes carrying sequence number `seq` in flow `flow`.
fn udp_frame(seq: u32, flow: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = u16::try_from(len - 14).expect("frame under 64 KiB");
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[18..20].copy_from_slice(&(seq as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    let [_, _, hi, lo] = flow.to_be_bytes();
    f[26..30].copy_from_slice(&[198, 18, hi, lo]);
    f[30..34].copy_from_slice(&[198, 19, 0, 1]);
    let mut sum: u32 = f[14..34]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f[34..36].copy_from_slice(&(1024 + (flow as u16)).to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    f
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gen {
            out,
            count,
            sizes,
            flows,
        } => {
            let frames: Vec<Vec<u8>> = (0..count)
                .map(|i| udp_frame(i, i % flows.max(1), frame_len(sizes, i)))
                .collect();
            pcapfile::write_ethernet(&out, frames.iter().map(Vec::as_slice))
                .map(|()| println!("wrote {} frames to {}", frames.len(), out.display()))
                .map_err(|e| format!("{}: {e}", out.display()))
        }
        Command::Compare { expected, actual } => compare(&expected, &actual),
        Command::Summary { file } => pcapfile::Capture::read(&file)
            .map(|cap| {
                let bytes: usize = cap.packets().map(<[u8]>::len).sum();
                println!(
                    "{}: {} packets, {bytes} bytes",
                    file.display(),
                    cap.records.len()
                );
            })
            .map_err(|e| format!("{}: {e}", file.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rri-pcap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn compare(expected: &PathBuf, actual: &PathBuf) -> Result<(), String> {
    let read =
        |p: &PathBuf| pcapfile::Capture::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let (want, got) = (read(expected)?, read(actual)?);
    for (i, (w, g)) in want.packets().zip(got.packets()).enumerate() {
        if w != g {
            let at = w
                .iter()
                .zip(g)
                .position(|(a, b)| a != b)
                .unwrap_or(w.len().min(g.len()));
            return Err(format!(
                "packet {i} differs at byte {at} (lengths {} and {})",
                w.len(),
                g.len()
            ));
        }
    }
    if want.records.len() != got.records.len() {
        return Err(format!(
            "{} has {} packets, {} has {}",
            expected.display(),
            want.records.len(),
            actual.display(),
            got.records.len()
        ));
    }
    println!("identical: {} packets", want.records.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imix_is_seven_four_one() {
        let lens: Vec<usize> = (0..12).map(|i| frame_len(Sizes::Imix, i)).collect();
        assert_eq!(lens.iter().filter(|&&l| l == 60).count(), 7);
        assert_eq!(lens.iter().filter(|&&l| l == 566).count(), 4);
        assert_eq!(lens.iter().filter(|&&l| l == 1514).count(), 1);
    }

    #[test]
    fn frames_carry_a_valid_ipv4_checksum() {
        let f = udp_frame(7, 3, 60);
        let mut sum: u32 = f[14..34]
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        assert_eq!(u32::from_be_bytes(f[42..46].try_into().unwrap()), 7);
    }
}
