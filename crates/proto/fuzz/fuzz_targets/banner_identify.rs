//! TCP banner identification; returned strings must stay printable.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(m) = portwatch_proto::banner::identify(data) {
        let line = m.summary();
        assert!(!line.chars().any(char::is_control));
        assert!(portwatch_proto::banner::SERVICE_NAMES.contains(&m.service));
    }
});
