//! `tls::parse_client_hello` (a TCP payload) and `tls::parse_client_hello_message` (a bare
//! handshake message, as QUIC CRYPTO frames carry it) on the same bytes.
#![no_main]

use iocd::name::MAX_NAME_LEN;
use iocd::proto::tls;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for r in [
        tls::parse_client_hello(data),
        tls::parse_client_hello_message(data),
    ] {
        if let Ok(hello) = r {
            if let Some(sni) = hello.sni {
                assert!(!sni.is_empty() && sni.len() <= MAX_NAME_LEN);
            }
        }
    }
});
