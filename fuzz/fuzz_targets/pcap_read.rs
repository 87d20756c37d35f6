//! The pcap reader on arbitrary files: never a panic (a malformed file is an error), and
//! whatever it reads it can write again and read back to the same packets.
#![no_main]

use pcapfile::{Capture, Writer};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(capture) = Capture::parse(data) else {
        return;
    };
    let mut writer = Writer::new(Vec::new(), capture.linktype).expect("writing to memory");
    for record in &capture.records {
        writer
            .write(record)
            .expect("a record that was read fits a pcap file");
    }
    let again = Capture::parse(&writer.finish().expect("flushing memory")).expect("re-read");
    assert_eq!(again.linktype, capture.linktype);
    assert!(again.packets().eq(capture.packets()));
});
