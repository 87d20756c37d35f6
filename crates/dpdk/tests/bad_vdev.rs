//! EAL initialisation with a device that does not exist fails with an error naming the
//! device; the process carries on, refuses a second initialisation, and exits cleanly.

mod common;

use dpdk::{Eal, EalError};

#[test]
fn bad_vdev_is_an_error_naming_the_device() {
    let args = common::eal_args("badvdev", "0@0", &["net_nosuchdriver7,foo=bar".into()]);
    let err = Eal::init(&args).expect_err("an unknown vdev driver fails init");
    let text = err.to_string();
    eprintln!("{text}");
    match &err {
        EalError::Init { errno, log, .. } => {
            assert_ne!(*errno, 0);
            assert!(
                log.iter().any(|l| l.contains("net_nosuchdriver7")),
                "{text}"
            );
        }
        other => panic!("expected an Init error, got {other:?}"),
    }
    assert!(
        text.contains("net_nosuchdriver7"),
        "the error names the device: {text}"
    );

    // DPDK cannot initialise twice in a process; asking again is an error, not a crash.
    let again = Eal::init(common::eal_args("badvdev2", "0@0", &[]));
    assert_eq!(again.unwrap_err(), EalError::AlreadyInitialized);

    // The failed attempt left no runtime directory behind.
    let prefix = format!("rri-test-badvdev-{}", std::process::id());
    assert!(!std::path::Path::new("/var/run/dpdk").join(prefix).exists());

    // Bad arguments are refused before DPDK sees them.
    assert!(matches!(
        Eal::init(["a\0b"]),
        Err(EalError::NulInArgument(_))
    ));
}
