//! The IKEv2 message parser on arbitrary datagrams: never a panic, and whatever it reads it
//! can write again and read back to the same payloads (what a responder echoes or logs must
//! not drift from what arrived). The first byte picks the mode: 0 a whole datagram, 1 a
//! payload chain as found inside an opened SK payload (second byte: first payload type).
#![no_main]

use ike::message::{emit_payload_chain, parse_payload_chain, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(m) = Message::parse(rest) {
            let again = Message::parse(&m.emit()).expect("what was read can be written and read");
            assert_eq!(again.payloads, m.payloads);
            assert_eq!(again.header.exchange, m.header.exchange);
        }
    } else if let Some((&first, chain)) = rest.split_first() {
        if let Ok(payloads) = parse_payload_chain(first, chain) {
            let mut out = Vec::new();
            emit_payload_chain(&payloads, &mut out);
            let first = payloads.first().map_or(0, |p| p.kind());
            assert_eq!(parse_payload_chain(first, &out).expect("re-read"), payloads);
        }
    }
});
