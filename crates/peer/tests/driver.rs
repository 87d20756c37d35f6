//! The control thread's peer driver against a real DNS server (Knot, started by the test)
//! and a recording key exchange: an acquire starts a lookup, its answer an attempt; a
//! timeout fails over after the backoff; a dead peer's SAs are cleared.

use testkit::knot::Knot;

use peer::dns::{DnsSettings, PeerResolver};
use peer::driver::{Input, KeyExchange, PeerDriver};
use peer::manager::EntryKey;
use peer::{Failure, Outcome, PeerManager};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

#[derive(Default)]
struct RecordingKx {
    initiated: Vec<(EntryKey, Ipv4Addr)>,
    cleared: Vec<(EntryKey, Ipv4Addr, Failure)>,
}

impl KeyExchange for RecordingKx {
    fn initiate(&mut self, entry: &EntryKey, addr: Ipv4Addr) {
        self.initiated.push((entry.clone(), addr));
    }
    fn clear(&mut self, entry: &EntryKey, addr: Ipv4Addr, reason: &Failure) {
        self.cleared.push((entry.clone(), addr, reason.clone()));
    }
}

/// Runs the driver until `kx` has `n` attempts (or 10 s pass).
async fn until_attempts(driver: &mut PeerDriver, kx: &mut RecordingKx, start: Instant, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while kx.initiated.len() < n {
        assert!(
            Instant::now() < deadline,
            "no attempt {n}: {:?}",
            kx.initiated
        );
        driver.wait_resolved(Duration::from_millis(20)).await;
        driver.poll(start.elapsed().as_nanos() as u64, kx);
    }
}

#[tokio::test]
async fn acquire_lookup_attempt_failover_and_dead_peer() {
    let knot = Knot::start("driver");
    let text = format!(
        "ip domain name vpn.test\nip name-server 127.0.0.1:{}\ncrypto peer backoff 100 400\n\
         access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n\
         crypto ipsec transform-set T esp-gcm 256\n\
         crypto map VPN 10 ipsec-isakmp\n set transform-set T\n match address 101\n\
         \x20set peer hub dynamic default\n set peer 10.9.9.9\n",
        knot.port
    );
    let checked = config::check(&text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{:?}",
        checked.diagnostics
    );
    let resolver = PeerResolver::new(&DnsSettings::from_config(&checked.config).unwrap()).unwrap();
    let mut driver = PeerDriver::new(PeerManager::from_config(&checked.config), Some(resolver));
    let mut kx = RecordingKx::default();
    let start = Instant::now();
    let now = || start.elapsed().as_nanos() as u64;
    let key: EntryKey = ("VPN".into(), 10);
    driver.apply(now, &mut kx).await;

    driver.handle(Input::Acquire(key.clone()), now(), &mut kx);
    assert!(kx.initiated.is_empty(), "the lookup comes first");
    until_attempts(&mut driver, &mut kx, start, 1).await;
    assert_eq!(kx.initiated[0], (key.clone(), Ipv4Addr::new(192, 0, 2, 10)));

    // The default peer times out: after the 100 ms backoff, the next peer.
    driver.handle(
        Input::Result(key.clone(), Ipv4Addr::new(192, 0, 2, 10), Outcome::Timeout),
        now(),
        &mut kx,
    );
    let wake = driver.next_wake().expect("a timer for the backoff");
    assert!(wake >= now() + 50_000_000);
    until_attempts(&mut driver, &mut kx, start, 2).await;
    assert_eq!(kx.initiated[1], (key.clone(), Ipv4Addr::new(10, 9, 9, 9)));

    // Up, then dead: SAs cleared, and the default peer (looked up again) is tried first.
    driver.handle(
        Input::Result(key.clone(), Ipv4Addr::new(10, 9, 9, 9), Outcome::Up),
        now(),
        &mut kx,
    );
    driver.handle(Input::Traffic(key.clone()), now(), &mut kx);
    driver.handle(
        Input::Result(key.clone(), Ipv4Addr::new(10, 9, 9, 9), Outcome::Dead),
        now(),
        &mut kx,
    );
    assert_eq!(
        kx.cleared,
        vec![(key.clone(), Ipv4Addr::new(10, 9, 9, 9), Failure::Dead)]
    );
    until_attempts(&mut driver, &mut kx, start, 3).await;
    assert_eq!(kx.initiated[2], (key.clone(), Ipv4Addr::new(192, 0, 2, 10)));
    let report = driver.manager().report(now());
    assert!(
        report.contains("Last failure: dead peer detected"),
        "{report}"
    );
}
