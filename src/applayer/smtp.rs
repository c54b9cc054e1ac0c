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
        state.session = Session::new(input.wants);
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
