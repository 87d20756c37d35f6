//! `rrictl check` as a user runs it.

use std::process::Command;

fn check(text: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    check_bytes(text.as_bytes(), extra)
}

fn check_bytes(text: &[u8], extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "rrictl-check-{}-{}",
        std::process::id(),
        text.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("router.cfg");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rrictl"))
        .arg("check")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).replace(&file.display().to_string(), "router.cfg"),
    )
}

#[test]
fn errors_exit_1_with_positions() {
    let (code, _, err) = check("crypto map m 10 ipsec-isakmp\n set peeer 10.1.1.1\n", &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("router.cfg:2:6: error: unexpected 'peeer': expected a set command"),
        "{err}"
    );
    assert!(err.contains("did you mean 'peer'?"), "{err}");
    assert!(err.ends_with("router.cfg: 1 error, 2 warnings\n"), "{err}");
}

#[test]
fn clean_file_exits_0_and_renders() {
    let text = "crypto ipsec transform-set ts esp-gcm 256\n\
                access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n\
                crypto map m 10 ipsec-isakmp\n set peer 10.1.1.1 default\n set transform-set ts\n match address 101\n";
    let (code, out, err) = check(text, &["--render"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("crypto map m 10 ipsec-isakmp\n set peer 10.1.1.1 default\n"),
        "{out}"
    );
    assert!(out.ends_with("end\n"));
}

#[test]
fn warnings_fail_only_when_strict() {
    let text = "ip name server 10.0.0.1\n";
    assert_eq!(check(text, &[]).0, Some(0));
    assert_eq!(check(text, &["--strict"]).0, Some(1));
}

#[test]
fn missing_file_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_rrictl"))
        .args(["check", "/nonexistent/rri.cfg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("rrictl: /nonexistent/rri.cfg: "));
}

/// A configuration exported with a Latin-1 comment and a byte order mark checks clean; one
/// with a command line that is not text says where.
#[test]
fn exports_in_other_encodings() {
    let (code, _, err) = check_bytes(b"\xef\xbb\xbf! Standort M\xfcnchen\nhostname r1\n", &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.ends_with("router.cfg: 0 errors, 0 warnings\n"), "{err}");
    let (code, _, err) = check_bytes(b"hostname r\xfc1\n", &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("router.cfg:1:11: error: bytes that are not UTF-8 text in a command line"),
        "{err}"
    );
}

/// `--render` prints the canonical text only when the check passes: on a failed check stdout
/// stays empty, so that a pipeline never takes a part for the whole.
#[test]
fn a_failed_check_renders_nothing() {
    let (code, out, err) = check("hostname r1\ninterfase Gi0/0\n", &["--render"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "{out}");
    let (code, out, _) = check("hostname r1\n", &["--render"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("hostname r1\n"), "{out}");
}
