//! A port takes the MAC address it is given (IOS's `mac-address`) where its driver can change
//! it, and says so where it cannot, keeping its own.

mod common;

use dpdk::{Eal, Mempool, MempoolConfig, Port, PortConfig, PortError};

#[test]
fn ports_take_a_configured_mac_address_or_refuse_it() {
    let eal = Eal::init(common::eal_args(
        "mac",
        "0@0",
        &["net_null0".into(), "net_ring0".into()],
    ))
    .expect("EAL starts");
    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    let null = Port::start(&eal, 0, &PortConfig::default(), &pool).unwrap();
    let ring = Port::start(&eal, 1, &PortConfig::default(), &pool).unwrap();
    let wanted = [0x02, 0x00, 0x12, 0x34, 0x56, 0x78];

    null.set_mac_address(wanted)
        .expect("net_null changes its MAC");
    assert_eq!(null.mac_address().unwrap(), wanted);

    let before = ring.mac_address().unwrap();
    match ring.set_mac_address(wanted) {
        Err(PortError::Dpdk(e)) => assert_eq!(e.errno, 95, "{e:?}"), // ENOTSUP
        other => panic!("net_ring has no MAC to set: {other:?}"),
    }
    assert_eq!(ring.mac_address().unwrap(), before);
}
