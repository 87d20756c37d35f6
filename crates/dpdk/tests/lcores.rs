//! Worker functions on EAL lcores: two workers, each polling its own queue pair of one port,
//! with per-worker counts checked; launch rules; a panicking worker; cleanup afterwards.

mod common;

use dpdk::{Eal, MbufBurst, Mempool, MempoolConfig, Port, PortConfig};
use pktbuf::PacketBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const PER_WORKER: u32 = 20_000;

#[test]
fn two_workers_poll_their_own_queues() {
    // Three lcores: main plus two workers, free to run on either CPU of this machine.
    let eal = Eal::init(common::eal_args(
        "lcores",
        "0@0,1@(0-1),2@(0-1)",
        &["net_ring0".into()],
    ))
    .expect("EAL starts");
    let runtime_dir = eal.runtime_dir().unwrap().to_path_buf();
    let workers = eal.worker_lcores();
    assert_eq!(workers, vec![1, 2]);
    assert_eq!(dpdk::current_lcore(), Some(eal.main_lcore()));
    assert!(dpdk::tsc_hz() > 0);

    let pool = Mempool::new(&eal, &MempoolConfig::default()).unwrap();
    let config = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        ..PortConfig::default()
    };
    let port = Port::start(&eal, 0, &config, &pool).unwrap();
    port.reset_stats().unwrap();

    // The workers stay busy until the main lcore has tried to launch on one of them (on a
    // fast machine they finished their packets before it got there).
    let launch_tried = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (queue, &lcore) in workers.iter().enumerate() {
        let launch_tried = Arc::clone(&launch_tried);
        let queue = u16::try_from(queue).unwrap();
        let (mut rx, mut tx) = (port.rx_queue(queue).unwrap(), port.tx_queue(queue).unwrap());
        let pool = pool.clone();
        let handle = eal
            .launch(lcore, move || {
                let me = dpdk::current_lcore();
                let tag = u32::from(queue) << 24;
                let (mut sent, mut received, mut foreign) = (0u32, 0u32, 0u32);
                while received < PER_WORKER {
                    if sent < PER_WORKER {
                        let mut out = MbufBurst::<32>::new();
                        while out.spare() > 0 && sent + (out.len() as u32) < PER_WORKER {
                            let mut m = pool.alloc().expect("pool has room");
                            let frame = common::udp_frame(tag | (sent + out.len() as u32), 64);
                            m.append(64).unwrap().copy_from_slice(&frame);
                            out.push(m).unwrap();
                        }
                        sent += tx.tx_burst(&mut out) as u32;
                        // Unsent ones are freed and rebuilt next round with the same numbers.
                    }
                    let mut inb = MbufBurst::<32>::new();
                    rx.rx_burst(&mut inb);
                    for m in inb.iter() {
                        let seq = common::frame_seq(m.data());
                        if seq >> 24 == u32::from(queue) && seq & 0xff_ffff == received {
                            received += 1;
                        } else {
                            foreign += 1;
                        }
                    }
                }
                while !launch_tried.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                (me, sent, received, foreign)
            })
            .unwrap();
        handles.push(handle);
    }

    // A busy lcore cannot take a second function.
    assert!(eal
        .launch(workers[0], || ())
        .is_err_and(|e| e.errno == libc::EBUSY));
    launch_tried.store(true, Ordering::Release);

    for (handle, &lcore) in handles.into_iter().zip(&workers) {
        assert_eq!(handle.lcore(), lcore);
        let (ran_on, sent, received, foreign) = handle.join().expect("worker did not panic");
        assert_eq!(ran_on, Some(lcore), "the function ran on its lcore");
        assert_eq!((sent, received, foreign), (PER_WORKER, PER_WORKER, 0));
    }
    let stats = port.stats().unwrap();
    assert_eq!(stats.opackets, 2 * u64::from(PER_WORKER));
    assert_eq!(stats.ipackets, 2 * u64::from(PER_WORKER));

    launch_rules(&eal);

    drop(port);
    assert_eq!(pool.in_use(), 0);
    drop(pool);
    drop(eal);
    assert!(!runtime_dir.exists());
}

fn launch_rules(eal: &Eal) {
    // The main lcore is not a worker.
    assert!(eal.launch(eal.main_lcore(), || ()).is_err());
    // Launching from another thread is refused (DPDK allows it from the main lcore only).
    let eal2 = eal.clone();
    let from_other_thread = std::thread::spawn(move || eal2.launch(1, || ()).map(|_| ()))
        .join()
        .unwrap();
    assert!(from_other_thread.is_err_and(|e| e.errno == libc::EPERM));
    // A panic on a worker comes back through join, and the lcore is usable again.
    let handle = eal
        .launch(1, || -> u32 { panic!("worker failure") })
        .unwrap();
    let payload = handle.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker failure"));
    assert_eq!(eal.launch(1, || 7).unwrap().join().unwrap(), 7);
    // Dropping a handle without joining waits for the function.
    drop(
        eal.launch(2, || {
            std::thread::sleep(std::time::Duration::from_millis(20))
        })
        .unwrap(),
    );
    assert_eq!(eal.launch(2, || 8).unwrap().join().unwrap(), 8);
}
