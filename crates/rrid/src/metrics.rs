//! The Prometheus text endpoint: off unless `--metrics ADDR:PORT` is given, and refused on
//! anything but a loopback address. Each scrape asks the control thread for the numbers
//! (per port, per worker, per SA and per drop reason) and answers any HTTP GET with them.

use std::fmt::Write;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// One sample: a metric name, its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text (version 0.0.4): `# HELP` and `# TYPE` once per name, in the order
/// names first appear.
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut names: Vec<&'static str> = Vec::new();
    for s in samples {
        if !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    for name in names {
        for s in samples.iter().filter(|s| s.name == name) {
            if !seen.contains(&name) {
                seen.push(name);
                let kind = if name.ends_with("_total") {
                    "counter"
                } else {
                    "gauge"
                };
                let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", s.help);
            }
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {}", s.value);
            } else {
                let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), s.value);
            }
        }
    }
    out
}

/// Binds the endpoint; only loopback addresses are accepted.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--metrics {addr}: the metrics endpoint binds to loopback addresses only"
        ));
    }
    TcpListener::bind(addr).map_err(|e| format!("--metrics {addr}: {e}"))
}

/// Serves scrapes until the listener fails; `scrape` produces the body.
pub fn serve(listener: TcpListener, scrape: impl Fn() -> Option<String>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            continue;
        };
        let _ = answer(stream, &scrape);
    }
}

fn answer(mut stream: TcpStream, scrape: &impl Fn() -> Option<String>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let (status, body) = if !request_line.starts_with("GET ") {
        ("405 Method Not Allowed", String::new())
    } else {
        match scrape() {
            Some(b) => ("200 OK", b),
            None => ("503 Service Unavailable", String::new()),
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let s = [
            Sample {
                name: "rri_port_rx_packets_total",
                help: "Packets received",
                labels: vec![("port", "0".into()), ("interface", "Gi\"0".into())],
                value: 5.0,
            },
            Sample {
                name: "rri_sessions",
                help: "IKE sessions",
                labels: vec![],
                value: 2.0,
            },
            Sample {
                name: "rri_port_rx_packets_total",
                help: "Packets received",
                labels: vec![("port", "1".into()), ("interface", "x".into())],
                value: 7.0,
            },
        ];
        assert_eq!(
            render(&s),
            "# HELP rri_port_rx_packets_total Packets received\n\
             # TYPE rri_port_rx_packets_total counter\n\
             rri_port_rx_packets_total{port=\"0\",interface=\"Gi\\\"0\"} 5\n\
             rri_port_rx_packets_total{port=\"1\",interface=\"x\"} 7\n\
             # HELP rri_sessions IKE sessions\n\
             # TYPE rri_sessions gauge\n\
             rri_sessions 2\n"
        );
    }

    #[test]
    fn loopback_only() {
        assert!(bind("0.0.0.0:0".parse().unwrap()).is_err());
        assert!(bind("127.0.0.1:0".parse().unwrap()).is_ok());
    }
}
