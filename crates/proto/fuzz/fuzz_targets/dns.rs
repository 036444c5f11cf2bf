//! DNS/mDNS/LLMNR messages: names with compression pointers, records.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = portwatch_proto::udp::dns::DnsMessage::parse(data) {
        let _ = (
            m.txt_answers(),
            m.ptr_targets(),
            m.addresses(),
            m.flags.rcode_name(),
        );
    }
});
