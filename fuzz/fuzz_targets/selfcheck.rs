//! Not a test of rri: the target scripts/fuzz-selftest runs to prove that scripts/fuzz fails
//! when a target crashes. It panics on every input while RRI_FUZZ_SELFCHECK=crash is set and
//! does nothing otherwise; scripts/fuzz leaves it out of its default list.
#![no_main]

libfuzzer_sys::fuzz_target!(|_data: &[u8]| {
    if std::env::var_os("RRI_FUZZ_SELFCHECK").is_some_and(|v| v == "crash") {
        panic!("selfcheck: a deliberate crash (RRI_FUZZ_SELFCHECK=crash)");
    }
});
