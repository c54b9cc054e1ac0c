//! `tls::parse_client_hello` (a TCP payload) and `tls::parse_client_hello_message` (a bare
//! handshake message, as QUIC CRYPTO frames carry it) on the same bytes, with the JA3 and JA4
//! fingerprints computed: whenever a hello parses, both are there and JA4 has its shape, and
//! parsing without them gives the same hello.
#![no_main]

use iocd::name::MAX_NAME_LEN;
use iocd::proto::{ja, tls};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for quic in [false, true] {
        let want = ja::Want {
            ja3: true,
            ja4: true,
            quic,
        };
        let (r, plain) = if quic {
            (
                tls::parse_client_hello_message_with(data, want),
                tls::parse_client_hello_message(data),
            )
        } else {
            (
                tls::parse_client_hello_with(data, want),
                tls::parse_client_hello(data),
            )
        };
        assert_eq!(r.is_ok(), plain.is_ok());
        if let Ok(hello) = r {
            let ja4 = hello.fp.ja4.expect("JA4 computed");
            assert!(hello.fp.ja3.is_some());
            assert!(ja::is_ja4_shaped(&ja4), "{ja4:?}");
            assert_eq!(ja4[0], if quic { b'q' } else { b't' });
            assert_eq!(plain.map(|p| p.sni), Ok(hello.sni.clone()));
            if let Some(sni) = hello.sni {
                assert!(!sni.is_empty() && sni.len() <= MAX_NAME_LEN);
            }
        }
    }
});
