//! The exec command parser and the management socket's request reader: any bytes, no panic;
//! an error's caret stays within the line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match exec::parse(line) {
        Err(exec::ParseError::Invalid { at }) => {
            assert!(at < line.len() && line.is_char_boundary(at));
            let _ = exec::ParseError::Invalid { at }.render(line, 4);
        }
        Err(e) => {
            let _ = e.render(line, 0);
        }
        Ok(_) => {}
    }
    let _ = exec::help(line);
    let _ = exec::complete(line);
    let _ = exec::protocol::Request::from_line(line);
});
