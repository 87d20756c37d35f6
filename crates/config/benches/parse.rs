//! Parse and validate a generated 100k-line configuration: 10,000 crypto map entries, each
//! with two peers (the first default), a transform set, RRI with a distance, an idle timer,
//! and its own three-entry crypto ACL. Goal: parse + validate under 0.5 s. Then 40k lines
//! rri does not know, checked and every diagnostic rendered (goal: under 1 s).
//!
//! Run: `cargo bench -p config --bench parse` (prints the median of 7 runs of each step).

use std::fmt::Write;
use std::time::{Duration, Instant};

fn generate(entries: u32) -> String {
    let mut t = String::with_capacity(entries as usize * 400);
    t.push_str("hostname bench\nip domain name example.com\nip name-server 192.0.2.53\n");
    t.push_str("crypto ipsec transform-set gcm256 esp-gcm 256\n mode tunnel\n");
    t.push_str("crypto ipsec transform-set gcm128 esp-gcm 128\n");
    t.push_str(
        "interface GigabitEthernet0/0\n ip address 203.0.113.1 255.255.255.0\n crypto map hub\n",
    );
    for i in 0..entries {
        let (a, b) = (i / 256, i % 256);
        let _ = write!(
            t,
            "crypto map hub {seq} ipsec-isakmp\n\
             \x20set peer 198.18.{a}.{b} default\n\
             \x20set peer 198.19.{a}.{b}\n\
             \x20set transform-set gcm256 gcm128\n\
             \x20match address {acl}\n\
             \x20reverse-route\n\
             \x20set reverse-route distance 20\n\
             \x20set security-association idletime 600 default\n\
             ip access-list extended {acl}\n\
             \x20permit udp 10.{a}.{b}.0 0.0.0.255 host 172.{x}.{b}.1 eq 53\n\
             \x20permit ip 10.{a}.{b}.0 0.0.0.255 172.{x}.{b}.0 0.0.0.255\n\
             \x20deny ip 10.{a}.{b}.0 0.0.0.255 any\n",
            seq = i + 1,
            acl = format_args!("crypto-{i}"),
            x = 16 + a % 16,
        );
    }
    t
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = generate(10_000);
    let lines = text.lines().count();
    let (mut parse_t, mut validate_t, mut both_t, mut render_t) = (vec![], vec![], vec![], vec![]);
    let mut diagnostics = 0;
    for _ in 0..7 {
        let start = Instant::now();
        let parsed = config::parse(&text);
        let parsed_at = Instant::now();
        let findings = config::validate(&parsed.config);
        let done = Instant::now();
        parse_t.push(parsed_at - start);
        validate_t.push(done - parsed_at);
        both_t.push(done - start);
        diagnostics = parsed.diagnostics.len() + findings.len();
        let start = Instant::now();
        let rendered = config::render(&parsed.config);
        render_t.push(start.elapsed());
        assert!(rendered.len() > text.len() / 2);
    }
    if diagnostics != 0 {
        let c = config::check(&generate(3));
        eprint!("{}", c.diagnostics.render("generated", &generate(3)));
        panic!("the generated configuration is not clean: {diagnostics} findings");
    }
    let both = median(both_t);
    println!("config of {lines} lines, {} bytes", text.len());
    println!(
        "parse            {:>8.1} ms",
        median(parse_t).as_secs_f64() * 1e3
    );
    println!(
        "validate         {:>8.1} ms",
        median(validate_t).as_secs_f64() * 1e3
    );
    println!(
        "parse + validate {:>8.1} ms  ({:.2} M lines/s; goal < 500 ms)",
        both.as_secs_f64() * 1e3,
        lines as f64 / both.as_secs_f64() / 1e6
    );
    println!(
        "render           {:>8.1} ms",
        median(render_t).as_secs_f64() * 1e3
    );
    unknown_lines(40_000);
}

/// A configuration of `n` lines that rri does not know (each an error with a suggestion):
/// check and render every diagnostic, as `rrictl check` does. The cost must grow with the
/// file, not with the square of it.
fn unknown_lines(n: u32) {
    let text: String = (0..n)
        .map(|i| format!("frobnicate-{} value {i}\n", i % 97))
        .collect();
    let mut times = Vec::new();
    let mut rendered_bytes = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let checked = config::check(&text);
        let report = checked.diagnostics.render("unknown.cfg", &text);
        times.push(start.elapsed());
        assert_eq!(checked.diagnostics.errors().count(), n as usize);
        rendered_bytes = report.len();
    }
    println!(
        "{n} unknown lines, checked and rendered {:>8.1} ms  ({} bytes of diagnostics; goal < 1 s)",
        median(times).as_secs_f64() * 1e3,
        rendered_bytes
    );
}
