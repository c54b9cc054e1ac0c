//! What the application-layer parsers hand to the worker: an observable and where it was seen.
//! Parsers push these; the worker checks each against the indicator set.

use std::net::IpAddr;

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

/// The indicator types matched by exact key, beyond addresses and names: hashes, fingerprints,
/// e-mail addresses and URLs. An observable of one of these kinds is an [`Observed::Token`];
/// an indicator is a `Value::Token` of the same kind, and the two match when their keys are
/// equal (see [`Token`]'s key forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Token {
    /// JA3 of a ClientHello: key is the 16 MD5 bytes.
    Ja3,
    /// JA3S of a ServerHello: key is the 16 MD5 bytes.
    Ja3s,
    /// JA4 of a ClientHello: key is the 36 ASCII bytes (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
    Ja4,
    /// JA4S of a ServerHello: key is the 25 ASCII bytes (`t130200_1301_234ea6891581`).
    Ja4s,
    /// SHA-1 of a certificate's DER: key is the 20 digest bytes.
    CertSha1,
    /// SHA-256 of a certificate's DER: key is the 32 digest bytes.
    CertSha256,
    /// MD5 of a file: 16 bytes.
    Md5,
    /// SHA-1 of a file: 20 bytes.
    Sha1,
    /// SHA-256 of a file: 32 bytes.
    Sha256,
    /// An e-mail address: key is `local@domain`, lowercased, the domain in punycode.
    Email,
    /// A URL, normalised (see the `url` module: RFC 3986 §6.2.2, shared by feeds and requests).
    Url,
}

impl Token {
    pub const ALL: [Token; 11] = [
        Token::Ja3,
        Token::Ja3s,
        Token::Ja4,
        Token::Ja4s,
        Token::CertSha1,
        Token::CertSha256,
        Token::Md5,
        Token::Sha1,
        Token::Sha256,
        Token::Email,
        Token::Url,
    ];

    /// The indicator type's name, in configs (`type = "ja3"`), events and `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            Token::Ja3 => "ja3",
            Token::Ja3s => "ja3s",
            Token::Ja4 => "ja4",
            Token::Ja4s => "ja4s",
            Token::CertSha1 => "cert_sha1",
            Token::CertSha256 => "cert_sha256",
            Token::Md5 => "md5",
            Token::Sha1 => "sha1",
            Token::Sha256 => "sha256",
            Token::Email => "email",
            Token::Url => "url",
        }
    }

    /// Digest length in bytes for the kinds whose key is a binary digest (shown as lowercase
    /// hex); `None` for the text kinds.
    pub fn digest_len(self) -> Option<usize> {
        match self {
            Token::Ja3 | Token::Ja3s | Token::Md5 => Some(16),
            Token::CertSha1 | Token::Sha1 => Some(20),
            Token::CertSha256 | Token::Sha256 => Some(32),
            Token::Ja4 | Token::Ja4s | Token::Email | Token::Url => None,
        }
    }

    /// The key in presentation form: lowercase hex for digests, the text itself otherwise.
    pub fn text(self, key: &[u8]) -> String {
        if self.digest_len().is_some() {
            use std::fmt::Write as _;
            let mut s = String::with_capacity(key.len() * 2);
            for b in key {
                let _ = write!(s, "{b:02x}");
            }
            s
        } else {
            String::from_utf8_lossy(key).into_owned()
        }
    }

    /// Bit of this kind in a [`Wants`] mask.
    #[inline]
    pub const fn bit(self) -> u32 {
        1 << self as u32
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
}

/// What the protocol said about an observed name besides the name: the offered TLS version of
/// a ClientHello, the record type of a DNS question or answer. Copy, two bytes of payload: it
/// rides along with every observable at no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Info {
    #[default]
    None,
    /// The highest TLS version the ClientHello offered (`0x0304` is TLS 1.3).
    Tls { version: u16 },
    /// The DNS record type (the question's QTYPE, or the answer's TYPE: CNAME, DNAME).
    Dns { rrtype: u16 },
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
