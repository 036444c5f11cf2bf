//! SMB1 and SMB2 negotiate responses, including 3.1.1 negotiate contexts.
#![no_main]
use portwatch_proto::smb::{NegotiateResponse, parse_negotiate_response};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match parse_negotiate_response(data) {
        Ok(NegotiateResponse::Smb2(r)) => {
            let _ = (
                r.cipher(),
                r.signing_algorithm(),
                r.preauth_hash(),
                r.capabilities.names(),
            );
        }
        Ok(NegotiateResponse::Smb1(r)) => {
            let _ = (r.signing(), r.capabilities.names());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
