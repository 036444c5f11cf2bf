//! First-level decoding of NetBIOS names.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(name) = portwatch_proto::netbios::NetbiosName::decode_first_level(data) {
        assert_eq!(name.encode_first_level().as_slice(), data);
    }
});
