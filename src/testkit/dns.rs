//! DNS messages (RFC 1035 §4.1): queries, responses from a recursive resolver, resource
//! records, and the two-byte length framing of DNS over TCP (RFC 1035 §4.2.2).

// Each target that compiles this module uses a different subset of it.
#![allow(dead_code)]

pub const QTYPE_A: u16 = 1;
pub const QTYPE_CNAME: u16 = 5;
pub const QTYPE_SOA: u16 = 6;
pub const QTYPE_AAAA: u16 = 28;
pub const QTYPE_HTTPS: u16 = 65;
const QTYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Offset of the question name in a message: right after the 12-byte header.
const QNAME_OFFSET: u16 = 12;
const COMPRESSION_POINTER: u16 = 0xc000;
/// Flags of a recursive query (RD) and of a resolver's answer (QR, RD, RA).
const FLAGS_QUERY: u16 = 0x0100;
const FLAGS_RESPONSE: u16 = 0x8180;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Append `name` (dot-separated, no trailing dot) in label form, the root label included.
pub fn name_into(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// `name` in label form.
pub fn name(name: &str) -> Vec<u8> {
    let mut n = Vec::with_capacity(name.len() + 2);
    name_into(&mut n, name);
    n
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    put_u16(out, id);
    put_u16(out, flags);
    for c in counts {
        put_u16(out, c);
    }
}

/// EDNS(0) OPT pseudo-RR (RFC 6891 §6.1.2): 4096-byte UDP payload, no options.
fn opt(out: &mut Vec<u8>) {
    out.push(0);
    put_u16(out, QTYPE_OPT);
    put_u16(out, 4096);
    put_u32(out, 0);
    put_u16(out, 0);
}

/// A recursive query (RD set) for `name`, type A, class IN, no EDNS.
pub fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(name.len() + 18);
    query_into(&mut m, id, name, QTYPE_A, false);
    m
}

/// Append a recursive query with one question of `qtype`, with an EDNS(0) OPT record if `edns`.
pub fn query_into(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16, edns: bool) {
    header(out, id, FLAGS_QUERY, [1, 0, 0, u16::from(edns)]);
    name_into(out, name);
    put_u16(out, qtype);
    put_u16(out, CLASS_IN);
    if edns {
        opt(out);
    }
}

/// A resource record whose owner is the question name (a pointer to offset 12), class IN,
/// TTL 60.
pub fn rr(typ: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = vec![0xc0, 0x0c];
    put_u16(&mut r, typ);
    put_u16(&mut r, CLASS_IN);
    put_u32(&mut r, 60);
    put_u16(&mut r, rdata.len() as u16);
    r.extend_from_slice(rdata);
    r
}

/// A resolver's response (QR, RD, RA, NOERROR) to [`query`]`(id, name)` with these answer
/// records (see [`rr`]).
pub fn response(id: u16, name: &str, answers: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Vec::new();
    header(&mut m, id, FLAGS_RESPONSE, [1, answers.len() as u16, 0, 0]);
    name_into(&mut m, name);
    put_u16(&mut m, QTYPE_A);
    put_u16(&mut m, CLASS_IN);
    for a in answers {
        m.extend_from_slice(a);
    }
    m
}

/// What a response built by [`response_into`] carries besides the echoed question.
pub struct Answer<'a> {
    /// RCODE (0 NOERROR, 3 NXDOMAIN).
    pub rcode: u8,
    pub ttl: u32,
    /// A CNAME for the question name; the addresses then belong to this target.
    pub cname: Option<&'a str>,
    pub v4: &'a [[u8; 4]],
    pub v6: &'a [[u8; 16]],
    /// Name of the zone's primary server for an SOA in the authority section (negative answers).
    pub soa_mname: Option<&'a str>,
}

/// Append a response from a recursive resolver (QR, RD, RA set) to
/// [`query_into`]`(id, name, qtype, edns)`; every owner name is a compression pointer.
pub fn response_into(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16, edns: bool, a: &Answer) {
    let start = out.len();
    let ancount = u16::from(a.cname.is_some()) + (a.v4.len() + a.v6.len()) as u16;
    let nscount = u16::from(a.soa_mname.is_some());
    let flags = FLAGS_RESPONSE | u16::from(a.rcode & 0x0f);
    header(out, id, flags, [1, ancount, nscount, u16::from(edns)]);
    name_into(out, name);
    put_u16(out, qtype);
    put_u16(out, CLASS_IN);
    let mut owner = COMPRESSION_POINTER | QNAME_OFFSET;
    let rr = |out: &mut Vec<u8>, owner: u16, rtype: u16, ttl: u32| {
        put_u16(out, owner);
        put_u16(out, rtype);
        put_u16(out, CLASS_IN);
        put_u32(out, ttl);
    };
    if let Some(target) = a.cname {
        rr(out, owner, QTYPE_CNAME, a.ttl);
        put_u16(out, (target.len() + 2) as u16);
        owner = COMPRESSION_POINTER | (out.len() - start) as u16;
        name_into(out, target);
    }
    for v4 in a.v4 {
        rr(out, owner, QTYPE_A, a.ttl);
        put_u16(out, 4);
        out.extend_from_slice(v4);
    }
    for v6 in a.v6 {
        rr(out, owner, QTYPE_AAAA, a.ttl);
        put_u16(out, 16);
        out.extend_from_slice(v6);
    }
    if let Some(mname) = a.soa_mname {
        rr(out, COMPRESSION_POINTER | QNAME_OFFSET, QTYPE_SOA, a.ttl);
        let len_at = out.len();
        put_u16(out, 0);
        name_into(out, mname);
        name_into(out, "hostmaster.example.net");
        for v in [2_024_011_501u32, 7200, 3600, 1_209_600, 300] {
            put_u32(out, v);
        }
        let rdlen = (out.len() - len_at - 2) as u16;
        out[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
    if edns {
        opt(out);
    }
}

/// Messages as DNS over TCP sends them: each after its two-byte length.
pub fn tcp_framed(msgs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        put_u16(&mut out, m.len() as u16);
        out.extend_from_slice(m);
    }
    out
}
