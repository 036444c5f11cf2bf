//! NetBIOS session responses and the SMB frame length.
#![no_main]
use portwatch_proto::netbios::{SessionResponse, session};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = SessionResponse::parse(data);
    let _ = session::frame_len(data);
    let _ = session::unframe(data);
});
