//! Plaintext SMTP over TCP (RFC 5321) on any port, recognised by the client's first command
//! (`EHLO`/`HELO`/`LHLO`, or `MAIL FROM:` when the session was picked up later): envelope and
//! header addresses (`smtp.mail_from`, `smtp.rcpt_to`, `smtp.header`: the address as an e-mail
//! token when the set holds e-mail indicators, its domain always) and attachment digests
//! (`smtp.attachment`), read by [`crate::proto::smtp`] from the whole client direction as it
//! streams by. After `STARTTLS` the direction is probed again (as a `CONNECT` tunnel is), so
//! the ClientHello's SNI is read as on any TLS flow.
//!
//! The server's greeting (`220 ... ESMTP`) is not used to claim a flow: every client starts with
//! `EHLO` or `HELO` (RFC 5321 §4.1.4), and the server's direction, which no probe claims, stops
//! at its first bytes.

use crate::indicators::model::Value;
use crate::indicators::value::parse_token;
use crate::observe::{Info, Observed, Token, Where};
use crate::proto::smtp::{self, Event, Feed, Session};
use crate::track::tcp::{FlowStats, Step, StreamInput, MAX_STREAM_PREFIX};

use super::{AppProto, Probe, Record};

pub const RECORD: Record = Record {
    proto: AppProto::Smtp,
    tcp_ports: &[],
    udp_ports: &[],
    probe_tcp: Some(probe),
    probe_udp: None,
    // The whole client direction is read, a line or a message piece at a time: its depth is
    // bounded per message (smtp::MAX_MESSAGE_SIZE), not here.
    max_depth: usize::MAX,
};

/// Longest server reply line skipped while waiting for a server's TLS after `STARTTLS`: RFC
/// 5321 §4.5.3.1.5 sets 512 octets; servers' EHLO lines are far shorter. Twice that, for
/// servers that exceed it.
pub const MAX_REPLY_LINE: usize = 1024;

// What the session waits for must fit the reassembly window.
const _: () = assert!(smtp::MAX_COMMAND_LINE < MAX_STREAM_PREFIX);
const _: () = assert!(smtp::MAX_PIECE < MAX_STREAM_PREFIX);

fn probe(data: &[u8]) -> Probe {
    match smtp::may_be_client(data) {
        Some(yes) => Probe::from(yes),
        None => Probe::NeedMore,
    }
}

/// The per-direction state of an SMTP client direction (boxed in `Stream::Smtp`).
#[derive(Debug)]
pub struct State {
    session: Session,
    events: Vec<Event>,
}

impl State {
    pub(super) fn new() -> Box<State> {
        Box::new(State {
            session: Session::new(crate::observe::Wants::NONE),
            events: Vec::new(),
        })
    }
}

/// Two states are the same only when they are one (a session's digests have no equality).
impl PartialEq for State {
    fn eq(&self, other: &State) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for State {}

/// What [`parse_stream`] made of the bytes.
pub(super) enum Parsed {
    Step(Step),
    /// A `STARTTLS` line ended at `used`: the TLS handshake starts there.
    StartTls {
        used: usize,
    },
}

/// Read the client's bytes; `first`: the direction was just probed as SMTP.
pub(super) fn parse_stream(
    state: &mut State,
    input: StreamInput<'_>,
    first: bool,
    out: &mut Vec<Observed>,
    stats: &mut FlowStats,
) -> Parsed {
    if first {
        stats.smtp_sessions += 1;
        state.session = Session::new(input.wants).with_max_file(super::file::max_file_size());
    }
    let feed = state.session.feed(input.data, &mut state.events);
    let s = std::mem::take(&mut state.session.stats);
    stats.smtp_messages += s.messages;
    stats.smtp_data_refused += s.data_refused;
    stats.smtp_starttls += s.starttls;
    stats.smtp_line_cap += s.line_cap;
    stats.smtp_data_cap += s.data_cap;
    stats.smtp_rcpt_cap += s.rcpt_cap;
    stats.mime_attachments += s.mime.attachments;
    stats.mime_head_cap += s.mime.head_cap;
    stats.mime_depth_cap += s.mime.depth_cap;
    stats.mime_base64_broken += s.mime.base64_broken;
    stats.mime_file_cap += s.mime.file_cap;
    for e in state.events.drain(..) {
        match e {
            Event::Address(at, text) => address(&text, at, input.wants.has(Token::Email), out),
            Event::File { digests, meta } => {
                for (kind, key) in digests {
                    out.push(Observed::Token {
                        kind,
                        key,
                        at: Where::SmtpAttachment,
                        info: Info::None,
                        file: Some(Box::new(meta.clone())),
                    });
                }
            }
        }
    }
    match feed {
        Feed::More { used, need } => Parsed::Step(Step::More { used, need }),
        Feed::StartTls { used } => Parsed::StartTls { used },
        Feed::Done => Parsed::Step(Step::Done { client: true }),
    }
}

/// An address as written: its normalised key (as a feed's `email` indicator is read) as a
/// token when `token`, and its domain. One that is no `local@domain` (a bare `postmaster`,
/// an address literal) gives nothing.
fn address(text: &str, at: Where, token: bool, out: &mut Vec<Observed>) {
    let Ok(Value::Token(_, key)) = parse_token(Token::Email, text) else {
        return;
    };
    let Some(i) = key.iter().rposition(|&b| b == b'@') else {
        return;
    };
    out.push(Observed::Domain {
        name: key[i + 1..].to_vec(),
        at,
        ech: false,
        info: Info::None,
    });
    if token {
        out.push(Observed::Token {
            kind: Token::Email,
            key,
            at,
            info: Info::None,
            file: None,
        });
    }
}

/// Reading captures through the flow table, for the tests below.
#[cfg(test)]
mod tests_support {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use serde_json::Value as Json;

    use crate::observe::{Observed, Token, Where};

    /// The public content captures (`../shared/pcaps/content/`, README there), or `None`
    /// after printing SKIP when they are absent.
    pub fn content_dir() -> Option<PathBuf> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps/content");
        if dir.join("truth.jsonl").is_file() {
            Some(dir)
        } else {
            println!("SKIP: no content captures at {}", dir.display());
            None
        }
    }

    pub use crate::applayer::driver::observe_pcap;

    pub fn tokens(out: &[Observed], kind: Token, at: Where) -> BTreeSet<String> {
        out.iter()
            .filter_map(|o| match o {
                Observed::Token {
                    kind: k,
                    key,
                    at: w,
                    ..
                } if *k == kind && *w == at => Some(kind.text(key)),
                _ => None,
            })
            .collect()
    }

    pub fn domains(out: &[Observed], at: Where) -> BTreeSet<String> {
        out.iter()
            .filter_map(|o| match o {
                Observed::Domain { name, at: w, .. } if *w == at => {
                    Some(String::from_utf8_lossy(name).into_owned())
                }
                _ => None,
            })
            .collect()
    }

    pub fn strings(v: &Json) -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value as Json;

    use super::tests_support::*;
    use super::*;
    use crate::applayer::driver::{Driver, CLIENT, SERVER};

    /// sv-smtp-bug3616.pcap has an out-of-order segment and retransmissions; tshark's IMF
    /// export of its message (15156 bytes, longer than the whole client stream of 14705) holds
    /// bytes twice, so its `smtp_attachments` are not the attachment sent. The message as
    /// `tshark -z follow,tcp,raw,0` reassembles it, parsed by Python's `email` (compat32,
    /// `get_payload(decode=True)`) as the README describes, has one attachment, NEWS.txt, of
    /// 10807 bytes and this SHA-256; that is the oracle for this file.
    const BUG3616_NEWS_TXT: &str =
        "ac04c5d2cd8fa9a2670c959806f5181a56b3e9bb1cc7da150af98ba074c86b55";

    #[test]
    fn content_captures_give_every_address_and_attachment_of_the_truth_and_nothing_else() {
        let Some(dir) = content_dir() else { return };
        let truth = std::fs::read_to_string(dir.join("truth.jsonl")).unwrap();
        let mut files = 0;
        for line in truth.lines() {
            let t: Json = serde_json::from_str(line).unwrap();
            let name = t["file"].as_str().unwrap();
            if t["smtp_commands"].as_array().is_none_or(|c| c.is_empty()) {
                continue;
            }
            files += 1;
            let (out, stats) = observe_pcap(&dir.join(name));
            assert!(stats.smtp_sessions >= 1, "{name} {stats:?}");
            let a = &t["smtp_addresses"];
            let mut headers = BTreeSet::new();
            for k in ["hdr_from", "hdr_to", "hdr_cc", "hdr_reply_to", "hdr_sender"] {
                headers.extend(strings(&a[k]));
            }
            for (want, at) in [
                (strings(&a["mail_from"]), Where::SmtpMailFrom),
                (strings(&a["rcpt_to"]), Where::SmtpRcptTo),
                (headers, Where::SmtpHeader),
            ] {
                // recall and precision: exactly the truth's addresses, each with its domain
                assert_eq!(tokens(&out, Token::Email, at), want, "{name} {at:?}");
                let want_domains: BTreeSet<String> = want
                    .iter()
                    .map(|a| a.rsplit_once('@').unwrap().1.to_owned())
                    .collect();
                assert_eq!(domains(&out, at), want_domains, "{name} {at:?}");
            }
            let mut sha256 = strings(
                &t["smtp_attachments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["sha256"].clone())
                    .collect::<Json>(),
            );
            let mut md5 = strings(
                &t["smtp_attachments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["md5"].clone())
                    .collect::<Json>(),
            );
            if name == "sv-smtp-bug3616.pcap" {
                sha256 = BTreeSet::from([BUG3616_NEWS_TXT.to_owned()]);
                md5 = tokens(&out, Token::Md5, Where::SmtpAttachment);
                assert_eq!(md5.len(), 1);
            }
            assert_eq!(
                tokens(&out, Token::Sha256, Where::SmtpAttachment),
                sha256,
                "{name}"
            );
            assert_eq!(
                tokens(&out, Token::Md5, Where::SmtpAttachment),
                md5,
                "{name}"
            );
            // each attachment's name and size come with its digests
            for f in t["smtp_attachments"].as_array().unwrap() {
                let hit = out.iter().find_map(|o| match o {
                    Observed::Token {
                        kind: Token::Sha256,
                        key,
                        file: Some(meta),
                        ..
                    } if Token::Sha256.text(key) == f["sha256"].as_str().unwrap() => Some(meta),
                    _ => None,
                });
                if name != "sv-smtp-bug3616.pcap" {
                    let meta = hit.expect("attachment found");
                    assert_eq!(meta.size, f["size"].as_u64().unwrap(), "{name}");
                    assert_eq!(meta.name.as_deref(), f["filename"].as_str(), "{name}");
                    assert_eq!(meta.mime_type.as_deref(), f["content_type"].as_str());
                }
            }
            if name == "zk-smtp-starttls.pcap" {
                // the ClientHello after STARTTLS is read as on any TLS flow (it has no SNI)
                assert_eq!(stats.smtp_starttls, 1);
                assert_eq!(stats.tls_hellos, 1);
            }
        }
        assert_eq!(files, 5);
    }

    #[test]
    fn no_email_token_unless_the_set_wants_one_but_domains_always() {
        let mut out = Vec::new();
        address("Bob@Example.COM", Where::SmtpRcptTo, false, &mut out);
        assert_eq!(
            out,
            vec![Observed::Domain {
                name: b"example.com".to_vec(),
                at: Where::SmtpRcptTo,
                ech: false,
                info: Info::None,
            }]
        );
        out.clear();
        address("Bob@Bücher.example", Where::SmtpHeader, true, &mut out);
        assert_eq!(
            out[1],
            Observed::Token {
                kind: Token::Email,
                key: b"bob@xn--bcher-kva.example".to_vec(),
                at: Where::SmtpHeader,
                info: Info::None,
                file: None,
            }
        );
        out.clear();
        address("postmaster", Where::SmtpRcptTo, true, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn smtp_on_any_port_then_starttls_gives_the_sni() {
        use crate::testkit::tls::{client_hello, Style};
        let hello = client_hello(Style::Tls13, Some(b"mx.example"), false);
        let plain = b"EHLO me.example\r\nSTARTTLS\r\n";
        let mx = (SERVER.0, 2525);
        let mut d = Driver::new();
        d.seg(CLIENT, mx, 1, "S", b"");
        d.seg(mx, CLIENT, 1, "S", b"");
        assert!(d
            .seg(mx, CLIENT, 2, "", b"220 mx.example ESMTP\r\n")
            .is_empty());
        assert!(d.seg(CLIENT, mx, 2, "", plain).is_empty());
        let got = d.seg(CLIENT, mx, 2 + plain.len() as u32, "", &hello);
        assert!(matches!(
            &got[..],
            [Observed::Domain { name, at: Where::TlsSni, .. }] if name == b"mx.example"
        ));
        assert_eq!(d.t.stats.smtp_sessions, 1);
        assert_eq!(d.t.stats.smtp_starttls, 1);
        // the client reads on after its hello (a second one may follow a HelloRetryRequest)
        // until its next record
        let at = 2 + (plain.len() + hello.len()) as u32;
        assert!(d.seg(CLIENT, mx, at, "", &[23, 3, 3, 0, 1, 0]).is_empty());
        // the server's replies are skipped, and its TLS after them read: a TLS 1.3
        // ServerHello, then ChangeCipherSpec (what follows is encrypted)
        let mut tls = b"220 2.0.0 Ready to start TLS\r\n".to_vec();
        tls.extend([22, 3, 3, 0, 50, 2, 0, 0, 46, 3, 3]);
        tls.extend([7; 32]);
        tls.extend([0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
        tls.extend([20, 3, 3, 0, 1, 1]);
        assert_eq!(d.t.stats.bypassed, 0);
        // (the driver wants every token: the ServerHello's JA3S and JA4S)
        let server = d.seg(mx, CLIENT, 24, "", &tls);
        assert!(
            server.iter().all(|o| matches!(
                o,
                Observed::Token {
                    at: Where::TlsJa3s | Where::TlsJa4s,
                    ..
                }
            )) && server.len() == 2,
            "{server:?}"
        );
        assert_eq!(d.t.stats.tls_server_hellos, 1);
        assert_eq!(d.t.stats.tls13_certs_hidden, 1);
        assert_eq!(d.t.stats.bypassed, 1);
    }

    #[test]
    fn a_session_without_data_end_keeps_its_memory_bounded() {
        let mut d = Driver::new();
        let mx = (SERVER.0, 25);
        d.seg(CLIENT, mx, 1, "S", b"");
        let head = b"EHLO a\r\nMAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nDATA\r\n\
Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; filename=f\r\n\
Content-Transfer-Encoding: base64\r\n\r\n";
        let mut seq = 2u32;
        d.seg(CLIENT, mx, seq, "", head);
        seq += head.len() as u32;
        let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
        let seg: Vec<u8> = line.iter().copied().cycle().take(1400).collect();
        for _ in 0..2000 {
            d.seg(CLIENT, mx, seq, "", &seg);
            seq = seq.wrapping_add(seg.len() as u32);
            assert!(d.t.buffered() < 2 * smtp::MAX_PIECE);
        }
        assert_eq!(d.t.stats.smtp_messages, 0);
        assert_eq!(d.t.stats.bypassed, 0);
    }
}

#[cfg(test)]
mod real {
    use std::collections::BTreeSet;

    use serde_json::Value as Json;

    use super::tests_support::*;
    use crate::observe::{Token, Where};

    /// swaks sending to a local server (pcaps/real/smtp.sh): a base64 attachment on port 25,
    /// a pipelined quoted-printable message on port 2525, STARTTLS on 587. The truth beside
    /// it comes from tshark and Python's `email`.
    #[test]
    fn swaks_capture_gives_its_truth() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pcaps/real");
        let truth: Json = serde_json::from_str(
            &std::fs::read_to_string(dir.join("real-swaks-smtp.json")).unwrap(),
        )
        .unwrap();
        let (out, stats) = observe_pcap(&dir.join("real-swaks-smtp.pcap"));
        let set = |k: &str| -> BTreeSet<String> {
            truth[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            tokens(&out, Token::Email, Where::SmtpMailFrom),
            set("mail_from")
        );
        assert_eq!(
            tokens(&out, Token::Email, Where::SmtpRcptTo),
            set("rcpt_to")
        );
        assert_eq!(tokens(&out, Token::Email, Where::SmtpHeader), set("header"));
        for (kind, k) in [
            (Token::Sha256, "sha256"),
            (Token::Sha1, "sha1"),
            (Token::Md5, "md5"),
        ] {
            let want: BTreeSet<String> = truth["attachments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a[k].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(tokens(&out, kind, Where::SmtpAttachment), want, "{k}");
        }
        assert_eq!(domains(&out, Where::TlsSni), set("tls_sni"));
        assert_eq!(stats.smtp_sessions, 3);
        assert_eq!(stats.smtp_starttls, 1);
        assert_eq!(stats.smtp_messages, 2);
        assert_eq!(stats.mime_attachments, 2);
    }
}

#[cfg(test)]
mod sizes {
    /// What an SMTP direction costs a flow: the seam's per-direction value stays one word and
    /// a tag; the session is boxed (allocated only for SMTP directions).
    #[test]
    fn per_direction_state_is_small() {
        let stream = std::mem::size_of::<crate::applayer::Stream>();
        let state = std::mem::size_of::<super::State>();
        let msg = std::mem::size_of::<crate::proto::mime::Message>();
        println!("Stream {stream} B, smtp::State {state} B, mime::Message {msg} B");
        assert!(stream <= 16);
        assert!(state <= 256);
        assert!(msg <= 256);
    }
}
