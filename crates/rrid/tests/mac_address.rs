//! IOS's `mac-address` on an interface: rrid gives the port that address (its ARP replies
//! and frames carry it, and `show interfaces` says so), or refuses to start, naming the
//! interface, when the device cannot take it.
//!
//! Needs root (the EAL's runtime directory); `scripts/test` runs as root in CI.

mod solo;
use solo::Solo;

const CONFIG: &str = "hostname solo
interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
 mac-address 0200.1234.5678
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
";

#[test]
fn the_port_takes_the_configured_address() {
    let mut rrid = Solo::start("mac-null", "0", "net_null", CONFIG, &[], &[]);
    let shown = rrid.when_up(&["show", "interfaces"]);
    let gi0 = shown
        .split("GigabitEthernet0/1")
        .next()
        .expect("GigabitEthernet0/0 comes first");
    assert!(gi0.contains("address is 0200.1234.5678"), "{shown}");
    let status = rrid.stop();
    assert!(status.success(), "{status}\n{}", rrid.log());
}

#[test]
fn a_device_that_cannot_take_it_stops_the_start() {
    let mut rrid = Solo::start("mac-ring", "0", "net_ring", CONFIG, &[], &[]);
    let status = rrid.wait_exit(30).expect("rrid stops by itself");
    let log = rrid.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("interface GigabitEthernet0/0: mac-address 0200.1234.5678:"),
        "{log}"
    );
}
