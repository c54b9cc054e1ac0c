//! What the application-layer parsers hand to the worker: an observable and where it was seen.
//! Parsers push these; the worker checks each against the indicator set.

use std::net::IpAddr;

pub use crate::config::feeds::Token;

/// Where in the traffic an observable was seen; the `observable.where` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Where {
    IpSrc,
    IpDst,
    /// Question name of a DNS query or response (also mDNS and LLMNR).
    DnsQuery,
    /// CNAME or DNAME target in a DNS response.
    DnsAnswer,
    /// A or AAAA address in a DNS response.
    DnsAnswerIp,
    TlsSni,
    QuicSni,
    HttpHost,
    /// JA3 of a TLS ClientHello (MD5).
    TlsJa3,
    /// JA4 of a TLS ClientHello.
    TlsJa4,
    /// JA3S of a TLS ServerHello (MD5).
    TlsJa3s,
    /// JA4S of a TLS ServerHello.
    TlsJa4s,
    /// JA3 of the ClientHello in a QUIC Initial (as tshark computes it; JA3 itself is defined
    /// for TLS over TCP only).
    QuicJa3,
    /// JA4 (`q...`) of the ClientHello in a QUIC Initial.
    QuicJa4,
    /// JA3S of the ServerHello in a QUIC Initial.
    QuicJa3s,
    /// JA4S of the ServerHello in a QUIC Initial.
    QuicJa4s,
    /// SHA-1 of a certificate's DER in a TLS Certificate message (either direction).
    TlsCertSha1,
    /// SHA-256 of a certificate's DER.
    TlsCertSha256,
    /// The subject CN or a DNS SAN of a leaf certificate.
    TlsCertName,
    /// The URL of an HTTP/1.x request (any request of a connection).
    HttpUrl,
    /// A digest of an HTTP/1.x message body (a download or an upload), as a browser saves it.
    HttpFile,
    /// The address of an SMTP `MAIL FROM` (or its domain).
    SmtpMailFrom,
    /// The address of an SMTP `RCPT TO` (or its domain).
    SmtpRcptTo,
    /// An address in a message's From, Sender, Reply-To, To or Cc header (or its domain).
    SmtpHeader,
    /// A digest of a MIME attachment of a message sent over plaintext SMTP.
    SmtpAttachment,
}

impl Where {
    pub const ALL: [Where; 25] = [
        Where::IpSrc,
        Where::IpDst,
        Where::DnsQuery,
        Where::DnsAnswer,
        Where::DnsAnswerIp,
        Where::TlsSni,
        Where::QuicSni,
        Where::HttpHost,
        Where::TlsJa3,
        Where::TlsJa4,
        Where::TlsJa3s,
        Where::TlsJa4s,
        Where::QuicJa3,
        Where::QuicJa4,
        Where::QuicJa3s,
        Where::QuicJa4s,
        Where::TlsCertSha1,
        Where::TlsCertSha256,
        Where::TlsCertName,
        Where::HttpUrl,
        Where::HttpFile,
        Where::SmtpMailFrom,
        Where::SmtpRcptTo,
        Where::SmtpHeader,
        Where::SmtpAttachment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Where::IpSrc => "ip.src",
            Where::IpDst => "ip.dst",
            Where::DnsQuery => "dns.query",
            Where::DnsAnswer => "dns.answer",
            Where::DnsAnswerIp => "dns.answer_ip",
            Where::TlsSni => "tls.sni",
            Where::QuicSni => "quic.sni",
            Where::HttpHost => "http.host",
            Where::TlsJa3 => "tls.ja3",
            Where::TlsJa4 => "tls.ja4",
            Where::TlsJa3s => "tls.ja3s",
            Where::TlsJa4s => "tls.ja4s",
            Where::QuicJa3 => "quic.ja3",
            Where::QuicJa4 => "quic.ja4",
            Where::QuicJa3s => "quic.ja3s",
            Where::QuicJa4s => "quic.ja4s",
            Where::TlsCertSha1 => "tls.cert_sha1",
            Where::TlsCertSha256 => "tls.cert_sha256",
            Where::TlsCertName => "tls.cert_name",
            Where::HttpUrl => "http.url",
            Where::HttpFile => "http.file",
            Where::SmtpMailFrom => "smtp.mail_from",
            Where::SmtpRcptTo => "smtp.rcpt_to",
            Where::SmtpHeader => "smtp.header",
            Where::SmtpAttachment => "smtp.attachment",
        }
    }
}

/// A set of [`Token`] kinds: which kinds the loaded indicator set holds, so that parsers compute
/// only the digests and fingerprints something can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wants(pub u32);

impl Wants {
    pub const NONE: Wants = Wants(0);
    pub const ALL: Wants = Wants(u32::MAX);

    #[inline]
    pub fn has(self, t: Token) -> bool {
        self.0 & t.bit() != 0
    }

    #[inline]
    pub fn with(self, t: Token) -> Wants {
        Wants(self.0 | t.bit())
    }

    /// Not a token kind: keep the bytes of every ClientHello whose fingerprints were not
    /// computed ([`Observed::Hello`]), so that an event about the hello can carry them. The
    /// worker asks for it; [`Wants::ALL`] includes it.
    pub const HELLO_BYTES: Wants = Wants(1 << 31);

    #[inline]
    pub fn keeps_hellos(self) -> bool {
        self.0 & Self::HELLO_BYTES.0 != 0
    }

    #[inline]
    pub fn keeping_hellos(self) -> Wants {
        Wants(self.0 | Self::HELLO_BYTES.0)
    }
}

// the HELLO_BYTES bit is no token kind's
const _: () = assert!(Token::ALL.len() < 31);

/// What the protocol said about an observed name besides the name: the offered TLS version of
/// a ClientHello (with its JA3 and JA4 when they were computed), the record type of a DNS
/// question or answer. Copy, at most 54 bytes of payload: it rides along with every observable
/// without allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Info {
    #[default]
    None,
    /// The highest TLS version the ClientHello offered (`0x0304` is TLS 1.3).
    Tls { version: u16 },
    /// The DNS record type (the question's QTYPE, or the answer's TYPE: CNAME, DNAME).
    Dns { rrtype: u16 },
    /// A TLS or QUIC ClientHello's offered version (as [`Info::Tls`]) and its client
    /// fingerprints: JA3 as its MD5, JA4 as its 36 ASCII bytes (computed by the TLS parser).
    TlsHello {
        version: u16,
        ja3: [u8; 16],
        ja4: [u8; 36],
    },
}

impl Info {
    /// The offered TLS version, of either TLS form.
    pub fn tls_version(self) -> Option<u16> {
        match self {
            Info::Tls { version } | Info::TlsHello { version, .. } => Some(version),
            _ => None,
        }
    }
}

/// One observable from an application-layer parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// A normalised name (see [`crate::name`]).
    Domain {
        name: Vec<u8>,
        at: Where,
        /// The ClientHello carried an encrypted_client_hello extension: the name is the outer
        /// (public) one and the real one is hidden.
        ech: bool,
        info: Info,
    },
    Ip {
        ip: IpAddr,
        at: Where,
    },
    /// A hash, fingerprint, e-mail address or URL, as the key of its [`Token`] kind.
    Token {
        kind: Token,
        key: Vec<u8>,
        at: Where,
        info: Info,
        /// For a file's digest: what is known of the file.
        file: Option<Box<FileMeta>>,
    },
    /// A ClientHello whose fingerprints were not computed (the loaded set holds no `ja3` or
    /// `ja4` indicator), pushed before the hello's other observables: the worker computes
    /// JA3 and JA4 from it only when it writes an event for one of them, so that the event
    /// still carries them. `msg`: the hello as the parser read it (TLS records over TCP, the
    /// bare handshake message from QUIC CRYPTO frames when `quic`).
    Hello {
        msg: Box<[u8]>,
        quic: bool,
    },
}

/// What an event tells of a file whose digest matched (`observable.file`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct FileMeta {
    /// Bytes of the file as saved (after removing transfer and content codings).
    pub size: u64,
    /// Its name: Content-Disposition's filename, the URL path's last segment, the MIME part's
    /// filename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its declared MIME type (Content-Type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}
