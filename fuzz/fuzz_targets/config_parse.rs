//! The configuration reader on arbitrary bytes (as `rrictl check` and rrid read files): no
//! panic, no hang, and whatever it accepts renders to text that parses back to the same model
//! without errors.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (text, checked) = config::check_bytes(data);
    let _ = checked.diagnostics.render("fuzz", &text);
    let rendered = config::render(&checked.config);
    let again = config::parse(&rendered);
    assert!(
        again
            .diagnostics
            .iter()
            .all(|d| d.severity == config::Severity::Warning),
        "rendering does not parse:\n{rendered}\n{:?}",
        again.diagnostics
    );
    assert_eq!(
        again.config, checked.config,
        "round trip differs:\n{rendered}"
    );
});
