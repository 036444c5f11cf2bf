//! Every UDP answer parser: the first byte picks the service.
#![no_main]
use portwatch_proto::udp::{SERVICES, parse_answer};
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (_, service) = SERVICES[usize::from(pick) % SERVICES.len()];
    if let Ok(answer) = parse_answer(service, rest) {
        let _ = (answer.summary(), answer.id());
    }
});
