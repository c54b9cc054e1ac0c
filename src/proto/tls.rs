//! TLS ClientHello server name (RFC 8446 §4.1.2, RFC 6066 §3).

/// Why no ClientHello could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsError {
    /// The bytes are not a TLS handshake record carrying a ClientHello.
    NotClientHello,
    /// A ClientHello starts here but the bytes end before it does (more segments needed).
    Incomplete,
    /// A length field contradicts the data.
    Malformed,
}

/// What a ClientHello tells us.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The first host_name of the server_name extension, normalised.
    pub sni: Option<Vec<u8>>,
    /// The hello carries an encrypted_client_hello extension (0xfe0d): `sni` is the outer name.
    pub ech: bool,
}

/// Parse a ClientHello at the start of `data` (a TCP payload: TLS records).
pub fn parse_client_hello(data: &[u8]) -> Result<ClientHello, TlsError> {
    let _ = data;
    todo!("proto helper")
}
