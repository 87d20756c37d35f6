//! A worker that panics does not leave its queues silently unserved: rrid logs it, counts
//! it and, by default, stops with a non-zero status so that a supervisor restarts it; with
//! `--on-worker-panic continue` it keeps the rest running and says so. The panic is injected
//! (RRID_FAULT_INJECT=worker-panic makes worker 0 panic as it starts); ports are `net_null`.
//!
//! Needs root (the EAL's runtime directory); `scripts/test` runs as root in CI.

mod solo;
use solo::Solo;

const CONFIG: &str = "hostname solo
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
";

fn start(tag: &str, extra: &[&str]) -> Solo {
    let fault = [("RRID_FAULT_INJECT", "worker-panic")];
    Solo::start(tag, "0,1", "net_null", CONFIG, extra, &fault)
}

#[test]
fn a_worker_panic_stops_rrid_with_a_failure_status() {
    let mut rrid = start("panic-exit", &[]);
    let status = rrid.wait_exit(30);
    let log = rrid.log();
    let Some(status) = status else {
        panic!("rrid kept running with a dead worker:\n{log}");
    };
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(log.contains("worker panicked"), "{log}");
    assert!(log.contains("fault injection"), "{log}");
    assert!(
        log.contains("stopped because 1 worker(s) panicked"),
        "{log}"
    );
}

#[test]
fn with_continue_the_panic_is_logged_counted_and_the_rest_runs() {
    let mut rrid = start("panic-continue", &["--on-worker-panic", "continue"]);
    rrid.when_up(&["show", "version"]);
    let began = std::time::Instant::now();
    while !rrid.log().contains("worker panicked") {
        assert!(began.elapsed().as_secs() < 30, "{}", rrid.log());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let answer = rrid.rrictl(&["show", "version"]);
    assert!(answer.status.success(), "the control thread still answers");
    let status = rrid.stop();
    assert!(status.success(), "{status}\n{}", rrid.log());
}
