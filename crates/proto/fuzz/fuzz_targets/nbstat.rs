//! NBSTAT answers: names, flags, statistics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(status) = portwatch_proto::netbios::NodeStatus::parse(data) {
        let _ = (status.summary(), status.roles(), status.users());
    }
});
