//! The rest of a TLS handshake after the ClientHello, record by record: the server's
//! ServerHello (JA3S, JA4S) and, up to TLS 1.2, its Certificate message (SHA-1 and SHA-256 of
//! every certificate, the leaf's names); in the client's direction, the client's Certificate
//! message (read only when certificate hashes are wanted). Pure parsing of one message is in
//! [`crate::proto::tls_server`]; this file does the framing over the stream.
//!
//! The reader keeps a few dozen bytes of state per direction, boxed in the direction's
//! [`super::Stream`] and freed when it is done. It consumes every byte as it arrives (a
//! record's fragment is read piece by piece, a handshake message may span records, RFC 5246
//! §6.2.1), so the TCP table buffers at most a record header; certificates are hashed as
//! their bytes pass. Only two things are copied: a ServerHello body (at most
//! [`MAX_SERVER_HELLO_LEN`]) and the leaf certificate's DER for its names (at most
//! [`MAX_LEAF_DER`]).
//!
//! It stops (the direction is done) at the first record that is not a handshake record
//! (ChangeCipherSpec, an alert, application data: what follows is encrypted), after a TLS 1.3
//! ServerHello (the certificate is encrypted: counted as `tls13_certs_hidden`), after
//! ServerHelloDone or the client's ClientKeyExchange, at a cap, or at a length that contradicts
//! its message.

use sha1::Digest as _;
use sha2::Digest as _;

use super::Probe;
use crate::observe::{Info, Observed, Token, Wants, Where};
use crate::proto::tls_server as proto;
use crate::track::tcp::{FlowStats, Step, StreamInput};

/// Record header: type, version, length (RFC 5246 §6.2.1).
const RECORD_HEADER_LEN: usize = 5;
/// Handshake header: type and 24-bit length (RFC 5246 §7.4).
const HANDSHAKE_HEADER_LEN: usize = 4;
/// Longest plaintext record fragment: 2^14 bytes (RFC 5246 §6.2.1, RFC 8446 §5.1).
const MAX_RECORD_LEN: usize = 1 << 14;

const CT_HANDSHAKE: u8 = 22;
const HT_SERVER_HELLO: u8 = 2;
const HT_CERTIFICATE: u8 = 11;
const HT_SERVER_HELLO_DONE: u8 = 14;
const HT_CLIENT_KEY_EXCHANGE: u8 = 16;

/// Longest ServerHello read: one full record. A ServerHello carries one cipher, one version
/// and a few extensions (about 100 bytes; 1.2 KB with a post-quantum key share, ML-KEM-768's
/// 1,088-byte ciphertext): anything longer (a hello with 10,000 extensions) is an anomaly,
/// counted as `tls_server_capped`.
pub const MAX_SERVER_HELLO_LEN: usize = MAX_RECORD_LEN;

/// Longest Certificate message read: 64 KiB. Real chains are 2-3 certificates of 1-2 KB
/// (RSA-2048) to 5 KB (a leaf with a hundred SANs): 3-15 KB; 64 KiB leaves room for long
/// chains with RSA-4096 keys. A longer one is counted (`tls_server_capped`) and not read.
pub const MAX_CERT_MSG: usize = 64 << 10;

/// Most certificates read from one Certificate message: a chain is a leaf and a few CAs; 100
/// is far past any path a client would build (OpenSSL's default verify depth is 100).
pub const MAX_CERTS: u16 = 100;

/// Longest leaf certificate copied to read its names: 16 KiB, three times a leaf with a
/// hundred SANs. A longer leaf is still hashed; its names are skipped (`tls_server_capped`).
pub const MAX_LEAF_DER: usize = 16 << 10;

/// Most handshake bytes read in one direction after the ClientHello: the largest Certificate
/// message ([`MAX_CERT_MSG`]) plus as much again for the ServerHello, ServerKeyExchange and a
/// CertificateRequest with its CA names. Past it the direction is done (`tls_server_capped`).
pub const MAX_HANDSHAKE_DEPTH: usize = 2 * MAX_CERT_MSG;

/// Whether the client's direction is read on after its ClientHello: only when certificate
/// hashes are wanted (a client's Certificate carries no name matched here).
#[inline]
pub fn reads_client(wants: Wants) -> bool {
    wants.has(Token::CertSha1) || wants.has(Token::CertSha256)
}

/// Whether a direction starting with `data` is a server's: a handshake record (version major
/// 3) whose first message is a ServerHello, decided from the first six bytes (fewer that agree
/// so far need more).
#[inline]
pub fn probe_server_hello(data: &[u8]) -> Probe {
    const HEAD: [Option<u8>; 6] = [
        Some(CT_HANDSHAKE),
        Some(3),
        None,
        None,
        None,
        Some(HT_SERVER_HELLO),
    ];
    for (i, want) in HEAD.iter().enumerate() {
        match (data.get(i), want) {
            (None, _) => return Probe::NeedMore,
            (Some(b), Some(w)) if b != w => return Probe::No,
            _ => {}
        }
    }
    Probe::Yes
}

/// Whether a direction starts like an HTTP/1.x response (`HTTP/1.`): on a flow whose client
/// has given no verdict yet, a proxy's answer to `CONNECT`, the tunnelled server's TLS after
/// it. Fewer bytes that agree need more.
#[inline]
pub fn probe_proxy_answer(data: &[u8]) -> Probe {
    const HEAD: &[u8] = b"HTTP/1.";
    let n = data.len().min(HEAD.len());
    if data[..n] != HEAD[..n] {
        Probe::No
    } else if n < HEAD.len() {
        Probe::NeedMore
    } else {
        Probe::Yes
    }
}

/// Whose handshake messages a [`Reader`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

/// Where the reader is inside the Certificate message it reads.
#[derive(Debug, Default)]
struct Certs {
    /// Bytes of the current 3-byte length prefix (the list's, then each certificate's).
    prefix: [u8; 3],
    prefix_len: u8,
    /// The list length has been read.
    list_started: bool,
    /// Bytes of the current certificate still to come (0 between certificates).
    der_left: usize,
    /// Certificates started so far in this message.
    index: u16,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
    /// The leaf's DER, when its names are read (the first certificate of the message).
    leaf: Option<Vec<u8>>,
}

/// The per-direction state: where the stream stands in its records and handshake messages.
#[derive(Debug)]
pub struct Reader {
    side: Side,
    /// Bytes of the current handshake record's fragment still to come (0: a header is next).
    rec_left: usize,
    /// The current handshake message's header, as much as has arrived.
    hdr: [u8; HANDSHAKE_HEADER_LEN],
    hdr_len: u8,
    /// Body bytes of the current message still to come.
    msg_left: usize,
    /// The ServerHello body being collected.
    hello: Vec<u8>,
    /// The Certificate message being read.
    certs: Option<Box<Certs>>,
    /// The negotiated version, once the ServerHello is read (for the observables' `info`).
    version: u16,
    /// A proxy's answer to `CONNECT` comes first: skip one HTTP/1.x response head, read on
    /// after a 2xx (the tunnel is open), stop after anything else.
    proxy_answer: bool,
}

impl PartialEq for Reader {
    /// Two readers are equal at the same point of the framing (hash states are not compared).
    fn eq(&self, o: &Reader) -> bool {
        (
            self.side,
            self.rec_left,
            self.hdr_len,
            self.msg_left,
            self.version,
        ) == (o.side, o.rec_left, o.hdr_len, o.msg_left, o.version)
    }
}

impl Eq for Reader {}

/// What reading a piece of a message decided.
enum Go {
    On,
    Stop,
}

impl Reader {
    pub fn new(side: Side) -> Reader {
        Reader {
            side,
            rec_left: 0,
            hdr: [0; HANDSHAKE_HEADER_LEN],
            hdr_len: 0,
            msg_left: 0,
            hello: Vec::new(),
            certs: None,
            version: 0,
            proxy_answer: false,
        }
    }

    /// A server's direction that starts with an HTTP/1.x response head: a proxy's answer to a
    /// `CONNECT`, the server's TLS after it (see [`probe_proxy_answer`]).
    pub fn after_proxy_answer() -> Reader {
        Reader {
            proxy_answer: true,
            ..Reader::new(Side::Server)
        }
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// Read the direction's bytes: every complete or partial record in `input`.
    pub fn parse(
        &mut self,
        input: StreamInput<'_>,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Step {
        let done = Step::Done {
            client: self.side == Side::Client,
        };
        let data = input.data;
        if input.consumed > MAX_HANDSHAKE_DEPTH {
            stats.tls_server_capped += 1;
            return done;
        }
        let mut pos = 0;
        if self.proxy_answer {
            let Some(end) = memchr::memmem::find(data, b"\r\n\r\n") else {
                if data.len() >= crate::proto::http::MAX_HTTP_HEAD {
                    stats.prefix_cap += 1;
                    return done;
                }
                return Step::More {
                    used: 0,
                    need: data.len() + 1,
                };
            };
            // `HTTP/1.1 200 Connection established`: any 2xx opens the tunnel (RFC 9110 §9.3.6)
            if data.get(8..10) != Some(b" 2") {
                return done;
            }
            self.proxy_answer = false;
            pos = end + 4;
        }
        loop {
            if self.rec_left == 0 {
                let Some(h) = data.get(pos..pos + RECORD_HEADER_LEN) else {
                    return Step::More {
                        used: pos,
                        need: RECORD_HEADER_LEN,
                    };
                };
                let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                if h[0] != CT_HANDSHAKE || h[1] != 3 {
                    // ChangeCipherSpec, alert, application data: the rest is encrypted (or
                    // this is not TLS at all).
                    self.finish(stats);
                    return done;
                }
                if len == 0 || len > MAX_RECORD_LEN {
                    stats.tls_server_malformed += 1;
                    return done;
                }
                self.rec_left = len;
                pos += RECORD_HEADER_LEN;
            }
            let n = self.rec_left.min(data.len() - pos);
            if n == 0 {
                return Step::More { used: pos, need: 1 };
            }
            let go = self.handshake(&data[pos..pos + n], input.wants, out, stats);
            pos += n;
            self.rec_left -= n;
            if let Go::Stop = go {
                return done;
            }
        }
    }

    /// The direction ends (a non-handshake record): a Certificate message cut short is
    /// malformed.
    fn finish(&mut self, stats: &mut FlowStats) {
        if self.certs.is_some() {
            stats.tls_server_malformed += 1;
            self.certs = None;
        }
    }

    /// Handshake bytes of one record fragment.
    fn handshake(
        &mut self,
        mut frag: &[u8],
        wants: Wants,
        out: &mut Vec<Observed>,
        stats: &mut FlowStats,
    ) -> Go {
        while !frag.is_empty() {
            if usize::from(self.hdr_len) < HANDSHAKE_HEADER_LEN {
                self.hdr[usize::from(self.hdr_len)] = frag[0];
                self.hdr_len += 1;
                frag = &frag[1..];
                if usize::from(self.hdr_len) == HANDSHAKE_HEADER_LEN {
                    if let Go::Stop = self.start_message(wants, stats) {
                        return Go::Stop;
                    }
                    if self.msg_left == 0 {
                        if let Go::Stop = self.end_message(wants, out, stats) {
                            return Go::Stop;
                        }
                    }
                }
                continue;
            }
            let n = self.msg_left.min(frag.len());
            let (now, later) = frag.split_at(n);
            frag = later;
            self.msg_left -= n;
            match self.hdr[0] {
                HT_SERVER_HELLO if self.side == Side::Server => self.hello.extend_from_slice(now),
                HT_CERTIFICATE => {
                    let info = self.info();
                    if let Some(c) = self.certs.as_deref_mut() {
                        if let Go::Stop = cert_bytes(c, self.msg_left, info, now, out, stats) {
                            self.certs = None;
                            return Go::Stop;
                        }
                    }
                }
                _ => {}
            }
            if self.msg_left == 0 {
                if let Go::Stop = self.end_message(wants, out, stats) {
                    return Go::Stop;
                }
            }
        }
        Go::On
    }

    /// A handshake header is complete: check the message against its cap.
    fn start_message(&mut self, wants: Wants, stats: &mut FlowStats) -> Go {
        let [t, a, b, c] = self.hdr;
        let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        self.msg_left = len;
        match t {
            HT_SERVER_HELLO if self.side == Side::Server && len > MAX_SERVER_HELLO_LEN => {
                stats.tls_server_capped += 1;
                return Go::Stop;
            }
            HT_CERTIFICATE if len > MAX_CERT_MSG => {
                stats.tls_server_capped += 1;
                return Go::Stop;
            }
            HT_CERTIFICATE => {
                let names = self.side == Side::Server;
                let mut c = Box::<Certs>::default();
                if wants.has(Token::CertSha1) {
                    c.sha1 = Some(sha1::Sha1::new());
                }
                if wants.has(Token::CertSha256) {
                    c.sha256 = Some(sha2::Sha256::new());
                }
                if names {
                    c.leaf = Some(Vec::new());
                }
                self.certs = Some(c);
            }
            _ => {}
        }
        Go::On
    }

    /// The current message is complete.
    fn end_message(&mut self, wants: Wants, out: &mut Vec<Observed>, stats: &mut FlowStats) -> Go {
        self.hdr_len = 0;
        match self.hdr[0] {
            HT_SERVER_HELLO if self.side == Side::Server => {
                let body = std::mem::take(&mut self.hello);
                let Ok(h) = proto::parse_server_hello(&body) else {
                    stats.tls_server_malformed += 1;
                    return Go::Stop;
                };
                stats.tls_server_hellos += 1;
                self.version = h.version;
                let info = self.info();
                if wants.has(Token::Ja3s) {
                    out.push(token(
                        Token::Ja3s,
                        h.ja3s_md5().to_vec(),
                        Where::TlsJa3s,
                        info,
                    ));
                }
                if wants.has(Token::Ja4s) {
                    out.push(token(
                        Token::Ja4s,
                        h.ja4s(false).into_bytes(),
                        Where::TlsJa4s,
                        info,
                    ));
                }
                if h.version == 0x0304 || h.version >> 8 == 0x7f {
                    // TLS 1.3: EncryptedExtensions and the certificate follow encrypted.
                    stats.tls13_certs_hidden += 1;
                    return Go::Stop;
                }
                Go::On
            }
            HT_CERTIFICATE => {
                let c = self.certs.take();
                let whole =
                    c.is_some_and(|c| c.list_started && c.der_left == 0 && c.prefix_len == 0);
                if !whole {
                    stats.tls_server_malformed += 1;
                    return Go::Stop;
                }
                // The client's certificate ends what is read of its direction.
                if self.side == Side::Client {
                    return Go::Stop;
                }
                Go::On
            }
            HT_SERVER_HELLO_DONE if self.side == Side::Server => Go::Stop,
            HT_CLIENT_KEY_EXCHANGE if self.side == Side::Client => Go::Stop,
            _ => Go::On,
        }
    }

    fn info(&self) -> Info {
        Info::Tls {
            version: self.version,
        }
    }
}

/// Body bytes `b` of a Certificate message, `msg_left` bytes of it after `b`:
/// `certificate_list<0..2^24-1>` of `ASN.1Cert<1..2^24-1>` (RFC 5246 §7.4.2), each certificate
/// hashed as it passes.
fn cert_bytes(
    c: &mut Certs,
    msg_left: usize,
    info: Info,
    mut b: &[u8],
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Go {
    while !b.is_empty() {
        if c.der_left == 0 {
            // a 3-byte length: the list's, then each certificate's
            c.prefix[usize::from(c.prefix_len)] = b[0];
            c.prefix_len += 1;
            b = &b[1..];
            if c.prefix_len < 3 {
                continue;
            }
            c.prefix_len = 0;
            let [x, y, z] = c.prefix;
            let len = usize::from(x) << 16 | usize::from(y) << 8 | usize::from(z);
            // bytes of the message after this prefix
            let after = msg_left + b.len();
            if !c.list_started {
                c.list_started = true;
                if len != after {
                    stats.tls_server_malformed += 1;
                    return Go::Stop;
                }
                continue;
            }
            if len == 0 || len > after {
                // a certificate length past its message
                stats.tls_server_malformed += 1;
                return Go::Stop;
            }
            if c.index >= MAX_CERTS {
                stats.tls_server_capped += 1;
                return Go::Stop;
            }
            c.index += 1;
            c.der_left = len;
            if let Some(leaf) = c.leaf.as_mut() {
                if c.index > 1 || len > MAX_LEAF_DER {
                    if c.index == 1 {
                        stats.tls_server_capped += 1;
                    }
                    c.leaf = None;
                } else {
                    leaf.reserve_exact(len);
                }
            }
            continue;
        }
        let n = c.der_left.min(b.len());
        let (now, later) = b.split_at(n);
        b = later;
        c.der_left -= n;
        if let Some(h) = c.sha1.as_mut() {
            h.update(now);
        }
        if let Some(h) = c.sha256.as_mut() {
            h.update(now);
        }
        if c.index == 1 {
            if let Some(leaf) = c.leaf.as_mut() {
                leaf.extend_from_slice(now);
            }
        }
        if c.der_left == 0 {
            stats.tls_certificates += 1;
            if let Some(h) = c.sha1.as_mut() {
                let d = h.finalize_reset().to_vec();
                out.push(token(Token::CertSha1, d, Where::TlsCertSha1, info));
            }
            if let Some(h) = c.sha256.as_mut() {
                let d = h.finalize_reset().to_vec();
                out.push(token(Token::CertSha256, d, Where::TlsCertSha256, info));
            }
            if c.index == 1 {
                if let Some(leaf) = c.leaf.take() {
                    match proto::cert_names(&leaf) {
                        Ok(names) => out.extend(names.into_iter().map(|name| Observed::Domain {
                            name,
                            at: Where::TlsCertName,
                            ech: false,
                            info,
                        })),
                        Err(_) => stats.tls_cert_unparsed += 1,
                    }
                }
            }
        }
    }
    Go::On
}

fn token(kind: Token, key: Vec<u8>, at: Where, info: Info) -> Observed {
    Observed::Token {
        kind,
        key,
        at,
        info,
        file: None,
    }
}

#[cfg(test)]
mod tests {
    use sha1::Digest as _;

    use super::*;
    use crate::applayer::driver::{Driver, CLIENT, SERVER};
    use crate::testkit::tls::{minimal_hello, records, records_of};

    /// The leaf of `pcaps/real/real-tls12-cert-chain.pcap` (CN c2.cert-test.example; SANs
    /// c2., *.wild., alt.cert-test.example and IP 10.77.9.1), from `pcaps/vectors/`.
    fn leaf() -> Vec<u8> {
        let hex: String = include_str!("../../pcaps/vectors/openssl-leaf-certificate.hex")
            .split_whitespace()
            .collect();
        (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn msg(t: u8, body: &[u8]) -> Vec<u8> {
        let l = (body.len() as u32).to_be_bytes();
        let mut m = vec![t, l[1], l[2], l[3]];
        m.extend_from_slice(body);
        m
    }

    fn u24(n: usize) -> [u8; 3] {
        let l = (n as u32).to_be_bytes();
        [l[1], l[2], l[3]]
    }

    /// A TLS 1.2 ServerHello (cipher c02f, extensions ff01, 000b, 0023: JA3S `771,49199,
    /// 65281-11-35`, as in zk-smtp-starttls.pcap) and, unless `version13`, no
    /// supported_versions.
    fn server_hello(version13: bool) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend([1; 32]);
        b.push(0);
        b.extend([0xc0, 0x2f, 0]);
        let mut e = vec![0xff, 1, 0, 1, 0, 0, 0x0b, 0, 2, 1, 0, 0, 0x23, 0, 0];
        if version13 {
            e.extend([0, 43, 0, 2, 3, 4]);
        }
        b.extend((e.len() as u16).to_be_bytes());
        b.extend(e);
        msg(HT_SERVER_HELLO, &b)
    }

    fn certificate(certs: &[&[u8]]) -> Vec<u8> {
        let list: usize = certs.iter().map(|c| 3 + c.len()).sum();
        let mut b = u24(list).to_vec();
        for c in certs {
            b.extend(u24(c.len()));
            b.extend_from_slice(c);
        }
        msg(HT_CERTIFICATE, &b)
    }

    /// The server's first flight: ServerHello, Certificate, ServerHelloDone.
    fn flight(certs: &[&[u8]]) -> Vec<u8> {
        let mut m = server_hello(false);
        m.extend(certificate(certs));
        m.extend(msg(HT_SERVER_HELLO_DONE, &[]));
        m
    }

    fn hex(b: &[u8]) -> String {
        Token::CertSha1.text(b)
    }

    /// A handshake over the seam: the client's hello, then the server's `bytes` in segments of
    /// `seg` bytes; every observable of the server's direction, and the flow's counters.
    fn run(bytes: &[u8], seg: usize) -> (Vec<Observed>, FlowStats) {
        let mut d = Driver::new();
        let hello = records_of(&minimal_hello("c2.example", 10), 1 << 14);
        d.seg(CLIENT, SERVER, 100, "S", &[]);
        d.seg(SERVER, CLIENT, 500, "S", &[]);
        d.seg(CLIENT, SERVER, 101, "", &hello);
        let mut out = Vec::new();
        for (i, c) in bytes.chunks(seg).enumerate() {
            out.extend(d.seg(SERVER, CLIENT, 501 + (i * seg) as u32, "", c));
        }
        // the client's ChangeCipherSpec ends its direction (read on for a client certificate)
        let ccs = [20, 3, 3, 0, 1, 1];
        out.extend(d.seg(CLIENT, SERVER, 101 + hello.len() as u32, "", &ccs));
        (out, d.t.stats.clone())
    }

    fn tokens(out: &[Observed], kind: Token) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Observed::Token { kind: k, key, .. } if *k == kind => Some(kind.text(key)),
                _ => None,
            })
            .collect()
    }

    fn names(out: &[Observed]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Observed::Domain {
                    name,
                    at: Where::TlsCertName,
                    ..
                } => Some(String::from_utf8_lossy(name).into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_chain_split_one_byte_at_a_time_and_over_records_gives_every_hash_and_the_leaf_names() {
        let leaf = leaf();
        let ca = vec![0x30u8; 700];
        let root = vec![0x31u8; 900];
        let m = flight(&[&leaf, &ca, &root]);
        let want_sha1: Vec<String> = [&leaf, &ca, &root]
            .iter()
            .map(|c| hex(&sha1::Sha1::digest(c)))
            .collect();
        assert_eq!(want_sha1[0], "f6722969950a4c8ccb66296a19668213c76ccc06");
        // one record, 1-byte segments; 100-byte records in 7-byte segments; a cut at every
        // certificate boundary
        for (bytes, seg) in [
            (records_of(&m, 1 << 14), 1),
            (records_of(&m, 100), 7),
            (records(&m, &[1, 5, 90, 91, 1000, 2000]), 1500),
        ] {
            let (out, stats) = run(&bytes, seg);
            assert_eq!(tokens(&out, Token::CertSha1), want_sha1);
            assert_eq!(tokens(&out, Token::CertSha256).len(), 3);
            assert_eq!(
                tokens(&out, Token::CertSha256)[0],
                "019536769bbef0ec773c37c44b9b75996cb14234ce58e503bb05c0b7ef3acc0b"
            );
            assert_eq!(
                tokens(&out, Token::Ja3s),
                ["ccc514751b175866924439bdbb5bba34"]
            );
            assert_eq!(tokens(&out, Token::Ja4s), ["t120300_c02f_bec8bdbaef8a"]);
            assert_eq!(
                names(&out),
                [
                    "c2.cert-test.example",
                    "wild.cert-test.example",
                    "alt.cert-test.example"
                ]
            );
            assert_eq!(stats.tls_certificates, 3);
            assert_eq!(stats.tls_server_hellos, 1);
            // ServerHelloDone ends the direction, the client's ChangeCipherSpec its: the flow
            // is bypassed
            assert_eq!(stats.bypassed, 1);
            assert_eq!(stats.tls_server_malformed + stats.tls_server_capped, 0);
        }
    }

    #[test]
    fn tls13_is_counted_and_nothing_is_guessed() {
        let mut m = records_of(&server_hello(true), 1 << 14);
        m.extend([20, 3, 3, 0, 1, 1]);
        m.extend([23, 3, 3, 0, 40]);
        m.extend([0xee; 40]);
        let (out, stats) = run(&m, 3);
        assert_eq!(stats.tls13_certs_hidden, 1);
        // sha256("ff01,000b,0023,002b") = 0da197e45f1d... (python3 hashlib)
        assert_eq!(tokens(&out, Token::Ja4s), ["t130400_c02f_0da197e45f1d"]);
        assert!(tokens(&out, Token::CertSha1).is_empty());
        assert_eq!(stats.bypassed, 1);
    }

    #[test]
    fn only_wanted_digests_are_computed() {
        let leaf = leaf();
        let m = records_of(&flight(&[&leaf]), 1 << 14);
        let mut r = Reader::new(Side::Server);
        let mut out = Vec::new();
        let mut stats = FlowStats::default();
        let input = StreamInput {
            data: &m,
            seen: 0,
            consumed: 0,
            wants: Wants::NONE.with(Token::CertSha256),
        };
        assert_eq!(
            r.parse(input, &mut out, &mut stats),
            Step::Done { client: false }
        );
        assert_eq!(tokens(&out, Token::CertSha256).len(), 1);
        assert!(tokens(&out, Token::CertSha1).is_empty());
        assert!(tokens(&out, Token::Ja3s).is_empty());
        // names match domain indicators: read whatever the token kinds
        assert_eq!(names(&out).len(), 3);
    }

    /// Feed `bytes` to a server reader at once; its counters.
    fn read(bytes: &[u8]) -> (Step, FlowStats, Vec<Observed>) {
        let mut r = Reader::new(Side::Server);
        let mut out = Vec::new();
        let mut stats = FlowStats::default();
        let input = StreamInput {
            data: bytes,
            seen: 0,
            consumed: 0,
            wants: Wants::ALL,
        };
        let step = r.parse(input, &mut out, &mut stats);
        (step, stats, out)
    }

    #[test]
    fn caps_and_lengths_that_lie_are_counted() {
        // a ServerHello with 10,000 extensions (40,000 bytes: over one record's worth)
        let mut b = vec![3, 3];
        b.extend([1; 32]);
        b.extend([0, 0xc0, 0x2f, 0]);
        b.extend([0xff, 0xff]);
        for i in 0..10_000u16 {
            b.extend((i + 100).to_be_bytes());
            b.extend([0, 0]);
        }
        let (step, s, _) = read(&records_of(&msg(HT_SERVER_HELLO, &b), 1 << 14));
        assert_eq!(
            (step, s.tls_server_capped),
            (Step::Done { client: false }, 1)
        );
        // 101 certificates
        let one = [0x30u8; 10];
        let many: Vec<&[u8]> = (0..101).map(|_| &one[..]).collect();
        let (_, s, out) = read(&records_of(&flight(&many), 1 << 14));
        assert_eq!((s.tls_server_capped, s.tls_certificates), (1, 100));
        assert_eq!(tokens(&out, Token::CertSha1).len(), 100);
        // a chain over 64 KiB
        let big = vec![0x30u8; 40_000];
        let (_, s, out) = read(&records_of(&flight(&[&big, &big]), 1 << 14));
        assert_eq!((s.tls_server_capped, s.tls_certificates), (1, 0));
        assert!(tokens(&out, Token::CertSha1).is_empty());
        // a certificate length past its message
        let mut m = server_hello(false);
        m.extend(msg(HT_CERTIFICATE, &[0, 0, 8, 0, 0, 9, 1, 2, 3, 4, 5]));
        let (_, s, _) = read(&records_of(&m, 1 << 14));
        assert_eq!(s.tls_server_malformed, 1);
        // a list length that is not the message's
        let mut m = server_hello(false);
        m.extend(msg(HT_CERTIFICATE, &[0, 0, 9, 0, 0, 1, 7]));
        let (_, s, _) = read(&records_of(&m, 1 << 14));
        assert_eq!(s.tls_server_malformed, 1);
        // a zero-length handshake record
        let (_, s, _) = read(&[22, 3, 3, 0, 0]);
        assert_eq!(s.tls_server_malformed, 1);
        // a Certificate cut by a ChangeCipherSpec
        let mut m = records_of(&server_hello(false), 1 << 14);
        let cert = certificate(&[&[0x30; 50]]);
        m.extend(records(&cert[..20], &[]));
        m.extend([20, 3, 3, 0, 1, 1]);
        let (_, s, out) = read(&m);
        assert_eq!((s.tls_server_malformed, s.tls_certificates), (1, 0));
        assert!(tokens(&out, Token::CertSha1).is_empty());
        // not TLS at all: nothing said, nothing counted
        let (step, s, out) = read(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(step, Step::Done { client: false });
        assert_eq!(s, FlowStats::default());
        assert!(out.is_empty());
    }

    #[test]
    fn a_proxy_answer_is_skipped_before_the_tunnelled_server_hello() {
        let ok = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n";
        let mut bytes = ok.to_vec();
        bytes.extend(records_of(&flight(&[&[0x30; 64]]), 1 << 14));
        assert_eq!(probe_proxy_answer(b"HTTP/1"), Probe::NeedMore);
        assert_eq!(probe_proxy_answer(&bytes), Probe::Yes);
        assert_eq!(probe_proxy_answer(b"GET / HTTP/1.1"), Probe::No);
        // in one piece, and cut inside the head
        for cut in [bytes.len(), 20] {
            let mut r = Reader::after_proxy_answer();
            let (mut out, mut stats) = (Vec::new(), FlowStats::default());
            let input = |data| StreamInput {
                data,
                seen: 0,
                consumed: 0,
                wants: Wants::ALL,
            };
            let step = r.parse(input(&bytes[..cut]), &mut out, &mut stats);
            if cut < bytes.len() {
                assert_eq!(step, Step::More { used: 0, need: 21 });
                r.parse(input(&bytes), &mut out, &mut stats);
            }
            assert_eq!(stats.tls_certificates, 1);
            assert_eq!(tokens(&out, Token::Ja3s).len(), 1);
        }
        // a refused CONNECT: nothing after it is read
        let mut r = Reader::after_proxy_answer();
        let mut refused = b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n".to_vec();
        refused.extend(records_of(&flight(&[&[0x30; 64]]), 1 << 14));
        let (mut out, mut stats) = (Vec::new(), FlowStats::default());
        let input = StreamInput {
            data: &refused,
            seen: 0,
            consumed: 0,
            wants: Wants::ALL,
        };
        assert_eq!(
            r.parse(input, &mut out, &mut stats),
            Step::Done { client: false }
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_client_certificate_is_hashed_in_the_client_direction() {
        let mut d = Driver::new();
        let mut c = records_of(&minimal_hello("c2.example", 10), 1 << 14);
        d.seg(CLIENT, SERVER, 100, "S", &[]);
        d.seg(SERVER, CLIENT, 500, "S", &[]);
        let mut out = d.seg(CLIENT, SERVER, 101, "", &c);
        let s = records_of(&flight(&[&[0x30; 64]]), 1 << 14);
        out.extend(d.seg(SERVER, CLIENT, 501, "", &s));
        let at = c.len();
        let mut second = certificate(&[&[0x42; 80]]);
        second.extend(msg(HT_CLIENT_KEY_EXCHANGE, &[0; 33]));
        c = records_of(&second, 1 << 14);
        out.extend(d.seg(CLIENT, SERVER, 101 + at as u32, "", &c));
        let sha1 = tokens(&out, Token::CertSha1);
        assert_eq!(sha1.len(), 2);
        assert_eq!(sha1[1], hex(&sha1::Sha1::digest([0x42; 80])));
        assert_eq!(d.t.stats.tls_certificates, 2);
        assert_eq!(d.t.stats.bypassed, 1);
    }
}
