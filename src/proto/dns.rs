//! DNS question names (RFC 1035 §4.1). The header is read with `hickory-proto`; names with a
//! small decoder of our own, because hickory refuses compression pointers that point forward
//! (`PointerNotPriorToLabel`) while resolvers in the field (glibc's `ns_name_unpack`, Unbound)
//! follow any pointer inside the message with a loop bound. A client could hide a query name
//! from a sensor that refuses what the resolver accepts, so we accept what they accept.
//!
//! Input is one DNS message as carried over UDP (RFC 1035 §4.2.1); over TCP the caller strips the
//! two-byte length prefix first (RFC 1035 §4.2.2).
//!
//! Bounds:
//! - at most [`MAX_QUESTIONS`] names are read, whatever QDCOUNT says;
//! - a compression pointer (RFC 1035 §4.1.4) may point anywhere inside the message, but at most
//!   [`MAX_POINTER_JUMPS`] are followed per name, so a pointer loop ends in
//!   [`DnsError::Malformed`] after a bounded number of steps;
//! - a name is at most [`MAX_NAME_WIRE_LEN`] octets in wire form (RFC 1035 §2.3.4), pointers
//!   expanded; decoding stops as soon as it would grow past that.

use hickory_proto::op::{Header, MessageType};

use crate::observe::{Observed, Where};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Length of the fixed message header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;

/// QTYPE and QCLASS, two octets each, after every QNAME (RFC 1035 §4.1.2).
const QTYPE_QCLASS_LEN: usize = 4;

/// Most question names read from one message. QDCOUNT is a 16-bit field, but real resolvers send
/// exactly one question and most servers refuse more (RFC 9619, "In the DNS, QDCOUNT Is
/// (Usually) One"); 32 leaves room for odd clients and tunnels while bounding the names (and
/// allocations) one packet can cause.
pub const MAX_QUESTIONS: usize = 32;

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
/// - The root name is not pushed and not counted in [`DnsInfo::questions`].
/// - Labels are joined with `.` and keep their raw octets (RFC 2181 §11: a label may hold any
///   octet), so a `.` inside a label cannot be told from a separator (see [`crate::name`]).
/// - Compression pointers may point anywhere inside the message (forward ones too, as resolvers
///   accept them); more than [`MAX_POINTER_JUMPS`] in one name (a loop) is
///   [`DnsError::Malformed`], as are names longer than [`MAX_NAME_WIRE_LEN`] octets in wire form
///   and labels with the reserved `01`/`10` prefixes.
pub fn parse_questions(msg: &[u8], names: &mut Vec<Vec<u8>>) -> Result<DnsInfo, DnsError> {
    if msg.len() < HEADER_LEN {
        return Err(DnsError::Truncated);
    }
    let mut decoder = BinDecoder::new(msg);
    // Cannot fail with 12 bytes present; mapped anyway rather than unwrapped.
    let header = Header::read(&mut decoder).map_err(|_| DnsError::Truncated)?;
    let is_response = header.metadata.message_type == MessageType::Response;
    let count = usize::from(header.counts.queries).min(MAX_QUESTIONS);

    let mut pos = HEADER_LEN;
    let mut pushed = 0;
    for _ in 0..count {
        let mut name = Vec::new();
        let end = read_name(msg, pos, &mut name)?;
        pos = end + QTYPE_QCLASS_LEN;
        if pos > msg.len() {
            return Err(DnsError::Malformed);
        }
        if !name.is_empty() {
            crate::name::normalize(&mut name);
            names.push(name);
            pushed += 1;
        }
    }
    Ok(DnsInfo {
        is_response,
        questions: pushed,
    })
}

/// Observables of one DNS message: the question names (`dns.query`) of queries and responses.
/// (Answers — CNAME/DNAME targets as `dns.answer`, A/AAAA as `dns.answer_ip` — are the next
/// step.) What was decoded before an error is kept in `out`.
pub fn observe(msg: &[u8], out: &mut Vec<Observed>) -> Result<DnsInfo, DnsError> {
    let mut names = Vec::new();
    let r = parse_questions(msg, &mut names);
    out.extend(names.into_iter().map(|name| Observed::Domain {
        name,
        at: Where::DnsQuery,
        ech: false,
    }));
    r
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
}
