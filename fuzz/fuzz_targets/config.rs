//! `kes_core::config::load` with arbitrary config text: no input may panic, and a file that
//! loads keeps loading the same way (the function is pure).
//!
//! Input: the file's bytes (lossily UTF-8). `${VAR}` references resolve for variables whose
//! names start with `SET` (to a value that is itself valid in most fields) and fail for all
//! others, so both expansion paths run.

#![no_main]

use libfuzzer_sys::fuzz_target;

fn env(name: &str) -> Option<String> {
    name.starts_with("SET").then(|| match name {
        "SET_EMPTY" => String::new(),
        "SET_NUM" => "30".to_owned(),
        "SET_DURATION" => "5m".to_owned(),
        _ => "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22".to_owned(),
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let first = kes_core::config::load(&text, &env);
    let again = kes_core::config::load(&text, &env);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert!(a == b, "load is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("load is not deterministic"),
    }
    if let Err(e) = first {
        // Every error is an operator-facing message.
        assert!(!e.to_string().is_empty());
    }
});
