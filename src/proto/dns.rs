//! DNS messages (RFC 1035 §4.1): question names, and from the answer section CNAME/DNAME
//! targets and A/AAAA addresses. The 12-byte header is read by hand (`Header::read`); names
//! with a small decoder of our own, because common DNS libraries (hickory among them) refuse
//! compression pointers that point forward while resolvers in the field (glibc's
//! `ns_name_unpack`, Unbound) follow any pointer inside the message with a loop bound. A client
//! could hide a query name from a sensor that refuses what the resolver accepts, so we accept
//! what they accept.
//!
//! Input is one DNS message as carried over UDP (RFC 1035 §4.2.1); over TCP the caller strips the
//! two-byte length prefix first (RFC 1035 §4.2.2). mDNS (RFC 6762) and LLMNR (RFC 4795) use the
//! same message format; the top bit of an mDNS QCLASS (unicast-response, RFC 6762 §18.12) and
//! of an RR CLASS (cache-flush, RFC 6762 §10.2) is ignored.
//!
//! Bounds:
//! - at most [`MAX_QUESTIONS`] names are read, whatever QDCOUNT says;
//! - at most [`MAX_ANSWERS`] answer records are read, whatever ANCOUNT says;
//! - every record's RDATA is checked against the message before it is read;
//! - a compression pointer (RFC 1035 §4.1.4) may point anywhere inside the message, but at most
//!   [`MAX_POINTER_JUMPS`] are followed per name, so a pointer loop ends in
//!   [`DnsError::Malformed`] after a bounded number of steps;
//! - a name is at most [`MAX_NAME_WIRE_LEN`] octets in wire form (RFC 1035 §2.3.4), pointers
//!   expanded; decoding stops as soon as it would grow past that.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::observe::{Info, Observed, Where};

/// Length of the fixed message header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;

/// QTYPE and QCLASS, two octets each, after every QNAME (RFC 1035 §4.1.2).
const QTYPE_QCLASS_LEN: usize = 4;

/// TYPE, CLASS, TTL and RDLENGTH after every resource record's owner name (RFC 1035 §4.1.3).
const RR_FIXED_LEN: usize = 10;

/// RR types read from the answer section (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 6672 §2.1).
pub const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;
const TYPE_DNAME: u16 = 39;

/// A DNS RR TYPE by its mnemonic (IANA "Resource Record (RR) TYPEs"), `TYPE<n>` for the
/// others (RFC 3597 §5).
pub fn rrtype_name(t: u16) -> std::borrow::Cow<'static, str> {
    std::borrow::Cow::Borrowed(match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        n => return std::borrow::Cow::Owned(format!("TYPE{n}")),
    })
}

/// Class IN (RFC 1035 §3.2.4). A and AAAA RDATA formats are defined for IN only, and stub
/// resolvers (glibc `getanswer_r`) skip records of any other class.
const CLASS_IN: u16 = 1;

/// Top bit of an RR CLASS: the mDNS cache-flush bit (RFC 6762 §10.2); ignored.
const CLASS_CACHE_FLUSH: u16 = 0x8000;

/// Most question names read from one message. QDCOUNT is a 16-bit field, but real resolvers send
/// exactly one question and most servers refuse more (RFC 9619, "In the DNS, QDCOUNT Is
/// (Usually) One"); 32 leaves room for odd clients and tunnels while bounding the names (and
/// allocations) one packet can cause.
pub const MAX_QUESTIONS: usize = 32;

/// Most answer records read from one message. A response to one question rarely holds more
/// than a CNAME chain and a dozen addresses (a UDP response without EDNS fits in 512 octets,
/// RFC 1035 §4.2.1: at most 31 A records behind a compressed owner name); 64 covers large
/// EDNS answers and mDNS announcements while bounding the observables one packet can cause.
pub const MAX_ANSWERS: usize = 64;

/// Longest name in wire form, length octets and the root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_WIRE_LEN: usize = 255;

/// Compression pointers followed while decoding one name. A name of at most 255 octets has at
/// most 127 labels, but real encoders emit one pointer per name; Unbound allows 256
/// (`MAX_COMPRESS_PTRS`). 64 is far above any honest message and bounds a loop to 64 steps.
pub const MAX_POINTER_JUMPS: usize = 64;

/// Why a DNS message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// Shorter than the 12-byte header.
    Truncated,
    /// A question name or field could not be decoded (bad label, pointer, or too long).
    Malformed,
}

/// QR bit in the flags word: set in responses (RFC 1035 §4.1.1).
const FLAG_QR: u16 = 0x8000;

/// The fields of the fixed header (RFC 1035 §4.1.1) that are used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    is_response: bool,
    /// QDCOUNT: entries in the question section.
    qdcount: u16,
    /// ANCOUNT: resource records in the answer section.
    ancount: u16,
}

impl Header {
    /// Read the header: ID (2 bytes), flags (2), QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT (2 each),
    /// big-endian. [`DnsError::Truncated`] when `msg` is shorter than [`HEADER_LEN`].
    fn read(msg: &[u8]) -> Result<Header, DnsError> {
        let Some(&[_, _, f0, f1, q0, q1, a0, a1, _, _, _, _]) = msg.get(..HEADER_LEN) else {
            return Err(DnsError::Truncated);
        };
        Ok(Header {
            is_response: u16::from_be_bytes([f0, f1]) & FLAG_QR != 0,
            qdcount: u16::from_be_bytes([q0, q1]),
            ancount: u16::from_be_bytes([a0, a1]),
        })
    }
}

/// What was read from one DNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsInfo {
    /// QR bit: false for a query, true for a response.
    pub is_response: bool,
    /// Question names pushed to `names` by this call.
    pub questions: usize,
}

/// Decode the header and the question section of `msg`, pushing each question name, normalised
/// (see [`crate::name::normalize`]), to `names`. Names decoded before an error stay in `names`.
///
/// - Reads at most [`MAX_QUESTIONS`] questions; a larger QDCOUNT is not an error, the rest of
///   the section is simply not read.
/// - A name is pushed only once its whole question (name, QTYPE, QCLASS) is present.
/// - The root name is not pushed and not counted in [`DnsInfo::questions`], nor is a name that
///   normalises to nothing (a single label holding just `.`).
/// - Labels are joined with `.` and keep their raw octets (RFC 2181 §11: a label may hold any
///   octet), so a `.` inside a label cannot be told from a separator (see [`crate::name`]).
/// - Compression pointers may point anywhere inside the message (forward ones too, as resolvers
///   accept them); more than [`MAX_POINTER_JUMPS`] in one name (a loop) is
///   [`DnsError::Malformed`], as are names longer than [`MAX_NAME_WIRE_LEN`] octets in wire form
///   and labels with the reserved `01`/`10` prefixes.
pub fn parse_questions(msg: &[u8], names: &mut Vec<Vec<u8>>) -> Result<DnsInfo, DnsError> {
    read_questions(msg, &mut |name, _| names.push(name)).map(|q| q.info)
}

/// The question section as read by [`read_questions`], and where the answers start.
struct Questions {
    info: DnsInfo,
    /// ANCOUNT from the header.
    answers: u16,
    /// Offset of the answer section; `None` when QDCOUNT was above [`MAX_QUESTIONS`] and the
    /// section was not read to its end.
    answers_at: Option<usize>,
}

/// `push` gets each question's name and QTYPE.
fn read_questions(msg: &[u8], push: &mut dyn FnMut(Vec<u8>, u16)) -> Result<Questions, DnsError> {
    let header = Header::read(msg)?;
    let is_response = header.is_response;
    let qdcount = usize::from(header.qdcount);
    let count = qdcount.min(MAX_QUESTIONS);

    let mut pos = HEADER_LEN;
    let mut pushed = 0;
    for _ in 0..count {
        let mut name = Vec::new();
        let end = read_name(msg, pos, &mut name)?;
        pos = end + QTYPE_QCLASS_LEN;
        let Some(&[t0, t1, ..]) = msg.get(end..pos) else {
            return Err(DnsError::Malformed);
        };
        // After normalising: a single label holding just "." is empty then, like the root.
        crate::name::normalize(&mut name);
        if !name.is_empty() {
            push(name, u16::from_be_bytes([t0, t1]));
            pushed += 1;
        }
    }
    Ok(Questions {
        info: DnsInfo {
            is_response,
            questions: pushed,
        },
        answers: header.ancount,
        answers_at: (qdcount <= MAX_QUESTIONS).then_some(pos),
    })
}

/// Observables of one DNS (or mDNS, LLMNR) message, appended to `out`:
/// - every question name, as for [`parse_questions`], at [`Where::DnsQuery`];
/// - from the answer section, the target of each CNAME and DNAME record at
///   [`Where::DnsAnswer`] (normalised; compression pointers allowed, as for question names), and
///   the address of each A and AAAA record at [`Where::DnsAnswerIp`].
///
/// The answer section is read whatever the QR bit says: mDNS queries list the answers the
/// querier already holds there (Known-Answer Suppression, RFC 6762 §7.1), and a unicast query
/// normally has ANCOUNT 0. It is read only when the whole question section was (QDCOUNT at
/// most [`MAX_QUESTIONS`]; stub resolvers refuse responses whose QDCOUNT is not 1), and at most
/// [`MAX_ANSWERS`] records of it. Owner names are skipped, not decoded: in a well-formed
/// response they are the question name or a CNAME target already reported. Records of a class
/// other than IN (the mDNS cache-flush bit ignored), of another type, or A/AAAA records whose
/// RDLENGTH is not 4/16 are skipped.
///
/// A record that runs past the end of the message, or a CNAME/DNAME target that cannot be
/// decoded or runs past its RDATA, ends the walk with [`DnsError::Malformed`]; everything pushed
/// before stays in `out`.
pub fn observe(msg: &[u8], out: &mut Vec<Observed>) -> Result<DnsInfo, DnsError> {
    let q = read_questions(msg, &mut |name, rrtype| {
        out.push(Observed::Domain {
            name,
            at: Where::DnsQuery,
            ech: false,
            info: Info::Dns { rrtype },
        })
    })?;
    if let Some(at) = q.answers_at {
        read_answers(msg, at, usize::from(q.answers).min(MAX_ANSWERS), out)?;
    }
    Ok(q.info)
}

/// Walk `count` resource records starting at `pos` (RFC 1035 §4.1.3), pushing CNAME/DNAME
/// targets and A/AAAA addresses to `out` as they are read.
fn read_answers(
    msg: &[u8],
    mut pos: usize,
    count: usize,
    out: &mut Vec<Observed>,
) -> Result<(), DnsError> {
    for _ in 0..count {
        pos = skip_name(msg, pos)?;
        let fixed = msg
            .get(pos..pos + RR_FIXED_LEN)
            .ok_or(DnsError::Malformed)?;
        let typ = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]) & !CLASS_CACHE_FLUSH;
        // fixed[4..8]: TTL, not needed
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata_at = pos + RR_FIXED_LEN;
        let rdata = msg
            .get(rdata_at..rdata_at + rdlength)
            .ok_or(DnsError::Malformed)?;
        pos = rdata_at + rdlength;
        if class != CLASS_IN {
            continue;
        }
        match typ {
            TYPE_A => {
                if let Ok(a) = <[u8; 4]>::try_from(rdata) {
                    out.push(Observed::Ip {
                        ip: IpAddr::V4(Ipv4Addr::from(a)),
                        at: Where::DnsAnswerIp,
                    });
                }
            }
            TYPE_AAAA => {
                if let Ok(a) = <[u8; 16]>::try_from(rdata) {
                    out.push(Observed::Ip {
                        ip: IpAddr::V6(Ipv6Addr::from(a)),
                        at: Where::DnsAnswerIp,
                    });
                }
            }
            // RFC 3597 §4 allows compression in CNAME RDATA only, but DNAME targets are read the
            // same way: accepting more than senders should emit is what a sensor wants.
            TYPE_CNAME | TYPE_DNAME => {
                let mut name = Vec::new();
                let end = read_name(msg, rdata_at, &mut name)?;
                if end > pos {
                    return Err(DnsError::Malformed);
                }
                crate::name::normalize(&mut name);
                if !name.is_empty() {
                    out.push(Observed::Domain {
                        name,
                        at: Where::DnsAnswer,
                        ech: false,
                        info: Info::Dns { rrtype: typ },
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Offset just after the name starting at `start`, without decoding it: labels are stepped over
/// up to the root label or the first compression pointer, which is not followed. Reserved label
/// types and names running past the message are [`DnsError::Malformed`].
fn skip_name(msg: &[u8], start: usize) -> Result<usize, DnsError> {
    let mut pos = start;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Malformed)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            0xc0 if pos + 2 <= msg.len() => return Ok(pos + 2),
            _ => return Err(DnsError::Malformed),
        }
    }
}

/// Decode the name starting at `start` into `out` (labels joined by `.`, raw octets kept; empty
/// for the root name). Returns the offset just after the name's own bytes in the message (after
/// its first pointer, if it has one), where the next field starts.
fn read_name(msg: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, DnsError> {
    let mut pos = start;
    let mut end = None;
    let mut jumps = 0;
    // Wire length so far: the root's zero octet plus one length octet and the bytes per label.
    let mut wire_len = 1;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Malformed)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(end.unwrap_or(pos + 1)),
            0x00 => {
                let len = usize::from(len);
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(DnsError::Malformed)?;
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return Err(DnsError::Malformed);
                }
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(label);
                pos += 1 + len;
            }
            0xc0 => {
                let low = *msg.get(pos + 1).ok_or(DnsError::Malformed)?;
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::Malformed);
                }
                end.get_or_insert(pos + 2);
                pos = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            // 0x40 and 0x80: reserved label types (RFC 1035 §4.1.4; RFC 6891 §5 retired the
            // extended label types).
            _ => return Err(DnsError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::MAX_NAME_LEN;

    const FLAGS_QUERY_RD: u16 = 0x0100;
    const FLAGS_RESPONSE: u16 = 0x8180;

    /// A header with the given flags and QDCOUNT, followed by `body`.
    fn message(flags: u16, qdcount: u16, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34];
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&qdcount.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(body);
        m
    }

    /// Uncompressed wire form of `labels`, root label included.
    fn qname(labels: &[&[u8]]) -> Vec<u8> {
        let mut n = Vec::new();
        for l in labels {
            n.push(u8::try_from(l.len()).unwrap());
            n.extend_from_slice(l);
        }
        n.push(0);
        n
    }

    /// A question: `name_wire` then QTYPE A, QCLASS IN.
    fn question(name_wire: &[u8]) -> Vec<u8> {
        let mut q = name_wire.to_vec();
        q.extend_from_slice(&[0, 1, 0, 1]);
        q
    }

    fn parse(msg: &[u8]) -> (Result<DnsInfo, DnsError>, Vec<Vec<u8>>) {
        let mut names = Vec::new();
        let r = parse_questions(msg, &mut names);
        (r, names)
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// xorshift64: deterministic, no dependency.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn example_query() -> Vec<u8> {
        message(
            FLAGS_QUERY_RD,
            1,
            &question(&qname(&[b"www", b"example", b"com"])),
        )
    }

    #[test]
    fn normal_query_yields_its_question_name() {
        let (r, names) = parse(&example_query());
        assert_eq!(
            r,
            Ok(DnsInfo {
                is_response: false,
                questions: 1
            })
        );
        assert_eq!(names, vec![b"www.example.com".to_vec()]);
    }

    #[test]
    fn response_sets_is_response() {
        let mut body = question(&qname(&[b"example", b"com"]));
        // one answer, compressed to the question name; not read, must not disturb anything
        body.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let mut msg = message(FLAGS_RESPONSE, 1, &body);
        msg[7] = 1; // ANCOUNT
        let (r, names) = parse(&msg);
        assert_eq!(
            r,
            Ok(DnsInfo {
                is_response: true,
                questions: 1
            })
        );
        assert_eq!(names, vec![b"example.com".to_vec()]);
    }

    #[test]
    fn mixed_case_name_is_normalised() {
        let msg = message(
            FLAGS_QUERY_RD,
            1,
            &question(&qname(&[b"WwW", b"ExAmPlE", b"COM"])),
        );
        let (_, names) = parse(&msg);
        assert_eq!(names, vec![b"www.example.com".to_vec()]);
    }

    #[test]
    fn two_questions_are_both_read() {
        let mut body = question(&qname(&[b"a", b"example"]));
        body.extend(question(&qname(&[b"b", b"example", b"net"])));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(2));
        assert_eq!(
            names,
            vec![b"a.example".to_vec(), b"b.example.net".to_vec()]
        );
    }

    #[test]
    fn names_are_appended_to_existing_ones() {
        let mut names = vec![b"earlier.name".to_vec()];
        let r = parse_questions(&example_query(), &mut names);
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(names.len(), 2);
        assert_eq!(names[1], b"www.example.com");
    }

    #[test]
    fn root_name_is_skipped() {
        let mut body = question(&[0]);
        body.extend(question(&qname(&[b"after", b"root"])));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(names, vec![b"after.root".to_vec()]);
    }

    #[test]
    fn name_of_a_single_dot_label_is_not_pushed_as_an_empty_name() {
        // Found by `cargo fuzz run dns`: the label "." normalised (trailing dot stripped) to an
        // empty name, which was pushed. Now treated like the root name.
        let mut body = question(&qname(&[b"."]));
        body.extend(question(&qname(&[b"x."])));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(names, vec![b"x".to_vec()]);
        let mut body = question(&qname(&[b"www", b"example"]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_CNAME, CLASS_IN, &qname(&[b"."])));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 1, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(out, vec![query_name("www.example")]);
    }

    #[test]
    fn fuzz_input_with_a_single_dot_label_yields_no_empty_name() {
        // the crash input `cargo fuzz run dns` found (QDCOUNT 0x6a6a; questions "\x00", root,
        // ".", then truncated)
        let msg = unhex("0a80406a6a6a6a6a6a6a6a0001000000004000012e000000000000");
        let (r, out) = observed(&msg);
        assert_eq!(r, Err(DnsError::Malformed));
        // Its QTYPE is 0 (reserved): reported as it is.
        assert_eq!(out, vec![query_typed("\x00", 0)]);
    }

    #[test]
    fn zero_questions_is_not_an_error() {
        let (r, names) = parse(&message(FLAGS_RESPONSE, 0, &[]));
        assert_eq!(
            r,
            Ok(DnsInfo {
                is_response: true,
                questions: 0
            })
        );
        assert!(names.is_empty());
    }

    #[test]
    fn header_shorter_than_12_bytes_is_truncated() {
        let msg = example_query();
        for len in 0..HEADER_LEN {
            assert_eq!(parse(&msg[..len]).0, Err(DnsError::Truncated), "len {len}");
        }
    }

    #[test]
    fn header_fields_are_read_big_endian_from_their_offsets() {
        // ID 0xabcd, flags QR|RD, QDCOUNT 0x0102, ANCOUNT 0x0304, NSCOUNT, ARCOUNT 0xffff
        let msg = [0xab, 0xcd, 0x81, 0x00, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            Header::read(&msg),
            Ok(Header {
                is_response: true,
                qdcount: 0x0102,
                ancount: 0x0304,
            })
        );
        // QR clear, every other flag set: a query
        let msg = [0, 0, 0x7f, 0xff, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(Header::read(&msg).map(|h| h.is_response), Ok(false));
    }

    #[test]
    fn truncated_at_every_length_never_panics_and_keeps_complete_questions() {
        let first = question(&qname(&[b"first", b"example"]));
        let mut body = first.clone();
        // second name compressed: "second" + pointer to the first name at offset 12
        body.extend(question(&[
            6, b's', b'e', b'c', b'o', b'n', b'd', 0xc0, 0x0c,
        ]));
        let msg = message(FLAGS_QUERY_RD, 2, &body);
        assert_eq!(parse(&msg).0.map(|i| i.questions), Ok(2));
        for len in 0..msg.len() {
            let (r, names) = parse(&msg[..len]);
            let want = if len < HEADER_LEN {
                DnsError::Truncated
            } else {
                DnsError::Malformed
            };
            assert_eq!(r, Err(want), "len {len}");
            if len >= HEADER_LEN + first.len() {
                assert_eq!(names, vec![b"first.example".to_vec()], "len {len}");
            } else {
                assert!(names.is_empty(), "len {len}");
            }
        }
    }

    #[test]
    fn question_without_type_and_class_is_malformed_and_not_pushed() {
        let mut msg = example_query();
        msg.truncate(msg.len() - 1);
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
    }

    #[test]
    fn backward_pointer_is_followed() {
        let mut body = question(&qname(&[b"example", b"com"]));
        body.extend(question(&[3, b'w', b'w', b'w', 0xc0, 0x0c]));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(2));
        assert_eq!(
            names,
            vec![b"example.com".to_vec(), b"www.example.com".to_vec()]
        );
    }

    #[test]
    fn pointer_to_itself_is_rejected() {
        let msg = message(FLAGS_QUERY_RD, 1, &question(&[0xc0, 0x0c]));
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
    }

    #[test]
    fn compression_pointer_loop_is_rejected() {
        // Question 1 at offset 12: "a" then a pointer to question 2's name (offset 20);
        // question 2: "b" then a pointer back to offset 12. Followed naively: a.b.a.b...
        let mut body = question(&[1, b'a', 0xc0, 20]);
        assert_eq!(HEADER_LEN + body.len(), 20);
        body.extend(question(&[1, b'b', 0xc0, 0x0c]));
        let msg = message(FLAGS_QUERY_RD, 2, &body);
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
        // A loop hidden inside a label, entered through a valid backward pointer: question 1 is
        // the single label "\x01b\xc0\x0d"; read from offset 13 it is "b" + pointer to 13.
        let mut hidden = question(&[4, 1, b'b', 0xc0, 13, 0]);
        hidden.extend(question(&[0xc0, 13]));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &hidden));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(names, vec![b"\x01b\xc0\x0d".to_vec()]);
    }

    #[test]
    fn forward_pointer_is_followed_as_resolvers_do() {
        let mut body = question(&[0xc0, 18]);
        assert_eq!(HEADER_LEN + body.len(), 18);
        body.extend(question(&qname(&[b"later", b"example"])));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(2));
        assert_eq!(
            names,
            vec![b"later.example".to_vec(), b"later.example".to_vec()]
        );
    }

    #[test]
    fn pointer_past_the_end_is_rejected() {
        let msg = message(FLAGS_QUERY_RD, 1, &question(&[0xc0, 0xff]));
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
    }

    #[test]
    fn forward_pointer_from_a_real_capture_is_followed() {
        // sv-dns-forward-compression-pointer.pcap frame 1 (OISF/suricata-verify
        // tests/dns/dns-forward-pointer): QDCOUNT 2, the first QNAME points forward to offset 18.
        // tshark shows codemonkey.net for both questions.
        let msg =
            unhex("8e0401000002000000000000c012000100010a636f64656d6f6e6b6579036e65740000010001");
        let (r, names) = parse(&msg);
        assert_eq!(r.map(|i| i.questions), Ok(2));
        assert_eq!(names, vec![b"codemonkey.net".to_vec(); 2]);
    }

    #[test]
    fn name_of_256_one_byte_labels_is_rejected() {
        let labels: Vec<&[u8]> = vec![b"a"; 256];
        let msg = message(FLAGS_QUERY_RD, 1, &question(&qname(&labels)));
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
    }

    #[test]
    fn name_longer_than_255_wire_bytes_is_rejected() {
        let l63 = [b'x'; 63];
        // 4 × (1 + 63) + 1 = 257 octets
        let msg = message(FLAGS_QUERY_RD, 1, &question(&qname(&[&l63[..]; 4])));
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
        // 3 × 64 + (1 + 62) + 1 = 256 octets
        let msg = message(
            FLAGS_QUERY_RD,
            1,
            &question(&qname(&[&l63, &l63, &l63, &[b'y'; 62]])),
        );
        assert_eq!(parse(&msg), (Err(DnsError::Malformed), vec![]));
    }

    #[test]
    fn name_of_exactly_255_wire_bytes_is_accepted() {
        let l63 = [b'x'; 63];
        // 3 × 64 + (1 + 61) + 1 = 255 octets; 253 in presentation form
        let msg = message(
            FLAGS_QUERY_RD,
            1,
            &question(&qname(&[&l63, &l63, &l63, &[b'y'; 61]])),
        );
        let (r, names) = parse(&msg);
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(names[0].len(), MAX_NAME_LEN);
    }

    #[test]
    fn name_made_too_long_by_a_pointer_is_rejected() {
        let l63 = [b'x'; 63];
        // question 1: 3 × 64 + 1 = 193 octets, fine
        let mut body = question(&qname(&[&l63, &l63, &l63]));
        // question 2: a 63-octet label + pointer to question 1 = 64 + 193 = 257 octets expanded
        let mut second = vec![63];
        second.extend_from_slice(&l63);
        second.extend_from_slice(&[0xc0, 0x0c]);
        body.extend(question(&second));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, 2, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(names.len(), 1, "the first, valid, name stays");
    }

    #[test]
    fn reserved_label_type_is_rejected() {
        // 0x40 and 0x80 prefixes are reserved (RFC 1035 §4.1.4; EDNS extended labels are dead)
        for first in [0x41, 0x81] {
            let msg = message(FLAGS_QUERY_RD, 1, &question(&[first, b'a', 0]));
            assert_eq!(parse(&msg).0, Err(DnsError::Malformed), "{first:#x}");
        }
    }

    #[test]
    fn non_printable_label_bytes_are_kept_raw() {
        let msg = message(
            FLAGS_QUERY_RD,
            1,
            &question(&qname(&[
                b"www",
                b"allyourba\x04\x05\x06arebelongto",
                b"cn",
            ])),
        );
        let (_, names) = parse(&msg);
        assert_eq!(
            names,
            vec![b"www.allyourba\x04\x05\x06arebelongto.cn".to_vec()]
        );
        // any octet, including 0x00, 0xff and ESC, survives; only ASCII letters are lowercased
        let msg = message(
            FLAGS_QUERY_RD,
            1,
            &question(&qname(&[b"\x00\xff\x1b[31mA", b"COM"])),
        );
        let (_, names) = parse(&msg);
        assert_eq!(names, vec![b"\x00\xff\x1b[31ma.com".to_vec()]);
    }

    #[test]
    fn non_printable_label_bytes_from_a_real_capture_are_kept_raw() {
        // nd-dns-nonprintable-label-bytes.pcap frame 1 (ntop/nDPI dns-invalid-chars.pcap)
        let msg = unhex(concat!(
            "9f6c010000010000000000000377777717616c6c796f7572626104050661726562656c6f6e67746f",
            "02636e0000010001"
        ));
        let (r, names) = parse(&msg);
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(
            names,
            vec![b"www.allyourba\x04\x05\x06arebelongto.cn".to_vec()]
        );
    }

    #[test]
    fn qdcount_above_max_questions_reads_only_max_questions() {
        let mut body = Vec::new();
        for i in 0..MAX_QUESTIONS + 8 {
            let label = format!("q{i}");
            body.extend(question(&qname(&[label.as_bytes(), b"example"])));
        }
        let count = u16::try_from(MAX_QUESTIONS + 8).unwrap();
        let (r, names) = parse(&message(FLAGS_QUERY_RD, count, &body));
        assert_eq!(r.map(|i| i.questions), Ok(MAX_QUESTIONS));
        assert_eq!(names.len(), MAX_QUESTIONS);
        assert_eq!(
            names[MAX_QUESTIONS - 1],
            format!("q{}.example", MAX_QUESTIONS - 1).as_bytes()
        );
    }

    #[test]
    fn qdcount_larger_than_the_questions_present_is_malformed_but_keeps_names() {
        let body = question(&qname(&[b"only", b"one"]));
        let (r, names) = parse(&message(FLAGS_QUERY_RD, u16::MAX, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(names, vec![b"only.one".to_vec()]);
    }

    #[test]
    fn random_byte_flips_never_panic() {
        let mut body = question(&qname(&[b"www", b"Example", b"com"]));
        body.extend(question(&[3, b'f', b't', b'p', 0xc0, 0x10]));
        body.extend(question(&[0]));
        let base = message(FLAGS_QUERY_RD, 3, &body);
        assert_eq!(parse(&base).0.map(|i| i.questions), Ok(2));
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut msg = base.clone();
            let flips = 1 + xorshift(&mut seed) % 4;
            for _ in 0..flips {
                let at = (xorshift(&mut seed) % msg.len() as u64) as usize;
                msg[at] = xorshift(&mut seed) as u8;
            }
            let cut = (xorshift(&mut seed) % (msg.len() as u64 + 1)) as usize;
            let msg = if seed.is_multiple_of(4) {
                &msg[..cut]
            } else {
                &msg[..]
            };
            let (r, names) = parse(msg);
            if let Ok(info) = r {
                assert!(info.questions <= MAX_QUESTIONS);
                assert_eq!(info.questions, names.len());
            }
            assert!(names
                .iter()
                .all(|n| !n.is_empty() && n.len() <= MAX_NAME_LEN));
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x0123_4567_89ab_cdef_u64;
        for _ in 0..5_000 {
            let len = (xorshift(&mut seed) % 300) as usize;
            let mut msg: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            if msg.len() >= 6 {
                msg[4] = 0;
                msg[5] = (xorshift(&mut seed) % 4) as u8; // a plausible QDCOUNT
            }
            let (_, names) = parse(&msg);
            assert!(names.iter().all(|n| n.len() <= MAX_NAME_LEN));
        }
    }

    // ---- answer section (observe) ----

    const FLAGS_MDNS_RESPONSE: u16 = 0x8400;
    const CLASS_IN_CACHE_FLUSH: u16 = 0x8001;

    /// `message` with ANCOUNT set too.
    fn message_with_answers(flags: u16, qdcount: u16, ancount: u16, body: &[u8]) -> Vec<u8> {
        let mut m = message(flags, qdcount, body);
        m[6..8].copy_from_slice(&ancount.to_be_bytes());
        m
    }

    /// A resource record: owner name (wire form), TYPE, CLASS, TTL 60, RDLENGTH, RDATA.
    fn rr(owner: &[u8], typ: u16, class: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = owner.to_vec();
        r.extend_from_slice(&typ.to_be_bytes());
        r.extend_from_slice(&class.to_be_bytes());
        r.extend_from_slice(&60u32.to_be_bytes());
        r.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    fn observed(msg: &[u8]) -> (Result<DnsInfo, DnsError>, Vec<Observed>) {
        let mut out = Vec::new();
        let r = observe(msg, &mut out);
        (r, out)
    }

    #[test]
    fn rrtypes_have_their_mnemonic_else_the_rfc_3597_form() {
        assert_eq!(rrtype_name(1), "A");
        assert_eq!(rrtype_name(65), "HTTPS");
        assert_eq!(rrtype_name(0), "TYPE0");
        assert_eq!(rrtype_name(65280), "TYPE65280");
    }

    #[test]
    fn question_types_are_reported_with_their_names() {
        let mut body = qname(&[b"www", b"example", b"com"]);
        body.extend_from_slice(&[0, 65, 0, 1]); // HTTPS, IN
        let (r, out) = observed(&message_with_answers(0, 1, 0, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(
            out,
            vec![Observed::Domain {
                name: b"www.example.com".to_vec(),
                at: Where::DnsQuery,
                ech: false,
                info: Info::Dns { rrtype: 65 },
            }]
        );
    }

    /// A question name as [`question`] writes it: QTYPE A.
    fn query_name(name: &str) -> Observed {
        query_typed(name, TYPE_A)
    }

    fn query_typed(name: &str, rrtype: u16) -> Observed {
        Observed::Domain {
            name: name.as_bytes().to_vec(),
            at: Where::DnsQuery,
            ech: false,
            info: Info::Dns { rrtype },
        }
    }

    /// A CNAME target.
    fn answer_name(name: &str) -> Observed {
        answer_of(name, TYPE_CNAME)
    }

    fn answer_of(name: &str, rrtype: u16) -> Observed {
        Observed::Domain {
            name: name.as_bytes().to_vec(),
            at: Where::DnsAnswer,
            ech: false,
            info: Info::Dns { rrtype },
        }
    }

    fn answer_ip(ip: &str) -> Observed {
        Observed::Ip {
            ip: ip.parse().unwrap(),
            at: Where::DnsAnswerIp,
        }
    }

    /// A response for www.example.com: a CNAME chain to B.Edge.Example.ORG (mixed case), then
    /// an A and an AAAA record for it. Owner names are pointers to the question (offset 12) or
    /// uncompressed.
    fn cname_chain_response() -> Vec<u8> {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(
            &[0xc0, 0x0c],
            TYPE_CNAME,
            CLASS_IN,
            &qname(&[b"a", b"cdn", b"example", b"net"]),
        ));
        body.extend(rr(
            &qname(&[b"a", b"cdn", b"example", b"net"]),
            TYPE_CNAME,
            CLASS_IN,
            &qname(&[b"B", b"Edge", b"Example", b"ORG"]),
        ));
        let owner = qname(&[b"b", b"edge", b"example", b"org"]);
        body.extend(rr(&owner, TYPE_A, CLASS_IN, &[192, 0, 2, 1]));
        let v6: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        body.extend(rr(&owner, TYPE_AAAA, CLASS_IN, &v6.octets()));
        message_with_answers(FLAGS_RESPONSE, 1, 4, &body)
    }

    #[test]
    fn response_with_cname_chain_a_and_aaaa_yields_query_targets_and_addresses() {
        let (r, out) = observed(&cname_chain_response());
        assert_eq!(
            r,
            Ok(DnsInfo {
                is_response: true,
                questions: 1
            })
        );
        assert_eq!(
            out,
            vec![
                query_name("www.example.com"),
                answer_name("a.cdn.example.net"),
                answer_name("b.edge.example.org"),
                answer_ip("192.0.2.1"),
                answer_ip("2001:db8::1"),
            ]
        );
    }

    #[test]
    fn observe_of_a_query_yields_only_its_question_name() {
        let (r, out) = observed(&example_query());
        assert_eq!(r.map(|i| i.is_response), Ok(false));
        assert_eq!(out, vec![query_name("www.example.com")]);
    }

    #[test]
    fn dname_target_is_an_answer_name() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(
            &qname(&[b"example", b"com"]),
            TYPE_DNAME,
            CLASS_IN,
            &qname(&[b"example", b"net"]),
        ));
        // the synthesised CNAME (RFC 6672 §3.4), its target compressed into the DNAME's RDATA
        let dname_rdata_at = u8::try_from(HEADER_LEN + body.len() - 13).unwrap();
        body.extend(rr(
            &[0xc0, 0x0c],
            TYPE_CNAME,
            CLASS_IN,
            &[3, b'w', b'w', b'w', 0xc0, dname_rdata_at],
        ));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(
            out,
            vec![
                query_name("www.example.com"),
                answer_of("example.net", TYPE_DNAME),
                answer_name("www.example.net"),
            ]
        );
    }

    #[test]
    fn compressed_cname_target_is_followed() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        // "cdn" + pointer to the question name; then a target that is only a pointer
        body.extend(rr(
            &[0xc0, 0x0c],
            TYPE_CNAME,
            CLASS_IN,
            &[3, b'c', b'd', b'n', 0xc0, 0x0c],
        ));
        body.extend(rr(&[0xc0, 0x0c], TYPE_CNAME, CLASS_IN, &[0xc0, 0x10]));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 2, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(
            out,
            vec![
                query_name("www.example.com"),
                answer_name("cdn.www.example.com"),
                answer_name("example.com"),
            ]
        );
    }

    #[test]
    fn cname_target_pointer_loop_is_malformed_and_keeps_earlier_answers() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 7]));
        let here = u8::try_from(HEADER_LEN + body.len() + 2 + RR_FIXED_LEN).unwrap();
        body.extend(rr(&[0xc0, 0x0c], TYPE_CNAME, CLASS_IN, &[0xc0, here]));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 2, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(
            out,
            vec![query_name("www.example.com"), answer_ip("192.0.2.7")]
        );
    }

    #[test]
    fn cname_target_running_past_its_rdata_is_malformed() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        let mut rec = rr(
            &[0xc0, 0x0c],
            TYPE_CNAME,
            CLASS_IN,
            &qname(&[b"t", b"example"]),
        );
        // RDLENGTH 3 covers "\x01t" and one octet of "\x07example": the name runs past it
        let len_at = 2 + RR_FIXED_LEN - 2;
        rec[len_at..len_at + 2].copy_from_slice(&3u16.to_be_bytes());
        body.extend(rec);
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 1, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(out, vec![query_name("www.example.com")]);
    }

    #[test]
    fn rdlength_past_the_end_is_malformed_and_keeps_earlier_answers() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 1]));
        let mut second = rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 2]);
        second.truncate(second.len() - 2); // RDLENGTH 4, two octets present
        body.extend(second);
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 2, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(
            out,
            vec![query_name("www.example.com"), answer_ip("192.0.2.1")]
        );
        // RDLENGTH 0xffff on the last record of a message
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        let mut rec = rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 1]);
        let len_at = 2 + RR_FIXED_LEN - 2;
        rec[len_at..len_at + 2].copy_from_slice(&u16::MAX.to_be_bytes());
        body.extend(rec);
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 1, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(out, vec![query_name("www.example.com")]);
    }

    #[test]
    fn address_record_of_the_wrong_length_is_skipped() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 1, 9]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_AAAA, CLASS_IN, &[192, 0, 2, 2]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 3]));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 3, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(
            out,
            vec![query_name("www.example.com"), answer_ip("192.0.2.3")]
        );
    }

    #[test]
    fn records_of_other_classes_and_types_are_skipped() {
        const CLASS_CH: u16 = 3;
        const TYPE_TXT: u16 = 16;
        const TYPE_NS: u16 = 2;
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_CH, &[192, 0, 2, 1]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_CNAME, CLASS_CH, &qname(&[b"ch"])));
        body.extend(rr(&[0xc0, 0x0c], TYPE_TXT, CLASS_IN, b"\x04text"));
        body.extend(rr(&[0xc0, 0x0c], TYPE_NS, CLASS_IN, &qname(&[b"ns", b"x"])));
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 4]));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 5, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(
            out,
            vec![query_name("www.example.com"), answer_ip("192.0.2.4")]
        );
    }

    #[test]
    fn root_cname_target_is_not_pushed() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(&[0xc0, 0x0c], TYPE_CNAME, CLASS_IN, &[0]));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 1, &body));
        assert_eq!(r.map(|i| i.questions), Ok(1));
        assert_eq!(out, vec![query_name("www.example.com")]);
    }

    #[test]
    fn bad_owner_name_is_malformed() {
        let mut body = question(&qname(&[b"www", b"example", b"com"]));
        body.extend(rr(&[0x41, b'a', 0], TYPE_A, CLASS_IN, &[192, 0, 2, 1]));
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, 1, &body));
        assert_eq!(r, Err(DnsError::Malformed));
        assert_eq!(out, vec![query_name("www.example.com")]);
    }

    #[test]
    fn ancount_above_max_answers_reads_only_max_answers() {
        let mut body = question(&qname(&[b"many", b"example"]));
        for i in 0..MAX_ANSWERS + 6 {
            let last = u8::try_from(i % 256).unwrap();
            body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[10, 0, 0, last]));
        }
        for ancount in [u16::try_from(MAX_ANSWERS + 6).unwrap(), u16::MAX] {
            let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, ancount, &body));
            assert_eq!(r.map(|i| i.questions), Ok(1), "ANCOUNT {ancount}");
            assert_eq!(out.len(), 1 + MAX_ANSWERS, "ANCOUNT {ancount}");
            assert_eq!(
                out[MAX_ANSWERS],
                answer_ip(&format!("10.0.0.{}", MAX_ANSWERS - 1))
            );
        }
    }

    #[test]
    fn answers_are_not_read_when_qdcount_is_above_max_questions() {
        let mut body = Vec::new();
        for i in 0..=MAX_QUESTIONS {
            body.extend(question(&qname(&[format!("q{i}").as_bytes(), b"example"])));
        }
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 0, 2, 1]));
        let qdcount = u16::try_from(MAX_QUESTIONS + 1).unwrap();
        let (r, out) = observed(&message_with_answers(FLAGS_RESPONSE, qdcount, 1, &body));
        assert_eq!(r.map(|i| i.questions), Ok(MAX_QUESTIONS));
        assert!(out.iter().all(|o| matches!(
            o,
            Observed::Domain {
                at: Where::DnsQuery,
                ..
            }
        )));
    }

    #[test]
    fn mdns_response_with_cache_flush_bit_is_read() {
        // RFC 6762 §6: QDCOUNT 0, owner names are the records announced, CLASS has the
        // cache-flush bit set (§10.2)
        let owner = qname(&[b"printer", b"local"]);
        let mut body = rr(&owner, TYPE_A, CLASS_IN_CACHE_FLUSH, &[192, 168, 1, 20]);
        let v6: std::net::Ipv6Addr = "fe80::1".parse().unwrap();
        body.extend(rr(
            &[0xc0, 0x0c],
            TYPE_AAAA,
            CLASS_IN_CACHE_FLUSH,
            &v6.octets(),
        ));
        body.extend(rr(
            &[0xc0, 0x0c],
            TYPE_CNAME,
            CLASS_IN_CACHE_FLUSH,
            &qname(&[b"Alias", b"local"]),
        ));
        let (r, out) = observed(&message_with_answers(FLAGS_MDNS_RESPONSE, 0, 3, &body));
        assert_eq!(
            r,
            Ok(DnsInfo {
                is_response: true,
                questions: 0
            })
        );
        assert_eq!(
            out,
            vec![
                answer_ip("192.168.1.20"),
                answer_ip("fe80::1"),
                answer_name("alias.local"),
            ]
        );
    }

    #[test]
    fn mdns_query_with_unicast_response_bit_and_known_answer_is_read() {
        // QU bit in QCLASS (RFC 6762 §5.4) and a Known-Answer record (§7.1)
        let mut body = qname(&[b"_ipp", b"_tcp", b"local"]);
        body.extend_from_slice(&[0, 12, 0x80, 0x01]); // PTR, QU|IN
        body.extend(rr(&[0xc0, 0x0c], TYPE_A, CLASS_IN, &[192, 168, 1, 30]));
        let (r, out) = observed(&message_with_answers(0, 1, 1, &body));
        assert_eq!(r.map(|i| i.is_response), Ok(false));
        assert_eq!(
            out,
            vec![
                query_typed("_ipp._tcp.local", 12),
                answer_ip("192.168.1.30")
            ]
        );
    }

    #[test]
    fn response_truncated_at_every_length_never_panics_and_keeps_complete_records() {
        let msg = cname_chain_response();
        let (r, full) = observed(&msg);
        assert!(r.is_ok());
        for len in 0..msg.len() {
            let (r, out) = observed(&msg[..len]);
            assert!(r.is_err(), "len {len}");
            assert!(out.len() < full.len(), "len {len}");
            assert_eq!(out[..], full[..out.len()], "len {len}");
        }
    }

    #[test]
    fn response_with_random_byte_flips_never_panics() {
        let base = cname_chain_response();
        let mut seed = 0x5851_f42d_4c95_7f2d_u64;
        for _ in 0..20_000 {
            let mut msg = base.clone();
            let flips = 1 + xorshift(&mut seed) % 4;
            for _ in 0..flips {
                let at = (xorshift(&mut seed) % msg.len() as u64) as usize;
                msg[at] = xorshift(&mut seed) as u8;
            }
            let cut = (xorshift(&mut seed) % (msg.len() as u64 + 1)) as usize;
            let msg = if seed.is_multiple_of(4) {
                &msg[..cut]
            } else {
                &msg[..]
            };
            let (_, out) = observed(msg);
            assert!(out.len() <= MAX_QUESTIONS + MAX_ANSWERS);
            for o in &out {
                if let Observed::Domain { name, .. } = o {
                    assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
                }
            }
        }
    }

    #[test]
    fn random_records_never_panic() {
        // a valid header and question, then random bytes with a plausible ANCOUNT
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            let mut body = question(&qname(&[b"r", b"example"]));
            let len = (xorshift(&mut seed) % 200) as usize;
            body.extend((0..len).map(|_| xorshift(&mut seed) as u8));
            let ancount = (xorshift(&mut seed) % 8) as u16;
            let (_, out) = observed(&message_with_answers(FLAGS_RESPONSE, 1, ancount, &body));
            assert!(out.len() <= 1 + MAX_ANSWERS);
        }
    }
}
