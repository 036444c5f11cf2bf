//! SNMP v1/v2c/v3 messages through the BER decoder.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(a) = portwatch_proto::udp::snmp::SnmpAnswer::parse(data) {
        let _ = (a.summary(), a.sys_descr());
    }
});
