//! Every feed-format parser on arbitrary text (the first byte picks the format, and for plain
//! lists and CSV a declared `type` and `url_https`): no panic, every entry it reports is a value
//! the set accepts, a digest's key has its digest's length, and a URL lookup with path prefixes
//! over what was loaded does not panic. Feeds come from the network (a download
//! that went wrong, a hostile mirror), so they are input like packets are.
#![no_main]

use iocd::config::{
    CsvColumn, CsvColumns, CsvConfig, FeedConfig, FeedFormat, MatchMode, UrlHttps,
};
use iocd::indicators::formats::{self, FeedSink, Location};
use iocd::indicators::{Fields, SetBuilder, Value};
use iocd::observe::Token;
use libfuzzer_sys::fuzz_target;

/// Adds every entry to a real set builder, as the loader does.
struct Sink {
    builder: SetBuilder,
    ctx: u32,
    /// Store URLs in `prefix` mode.
    prefix: bool,
}

/// The feed `type` a byte picks (or none).
const TYPES: [Option<Token>; 12] = [
    None,
    Some(Token::Ja3),
    Some(Token::Ja3s),
    Some(Token::Ja4),
    Some(Token::Ja4s),
    Some(Token::CertSha1),
    Some(Token::CertSha256),
    Some(Token::Md5),
    Some(Token::Sha1),
    Some(Token::Sha256),
    Some(Token::Email),
    Some(Token::Url),
];

impl FeedSink for Sink {
    fn entry(&mut self, _at: Location<'_>, value: Value, fields: Fields) {
        if let Some(c) = fields.confidence {
            assert!(c <= 100, "confidence {c}");
        }
        if let Value::Token(t, key) = &value {
            if let Some(n) = t.digest_len() {
                assert_eq!(key.len(), n, "{t:?}");
            }
        }
        let mode = fields.match_mode.unwrap_or_default();
        // as the loader: a URL may be a prefix, every other token is exact
        let mode = match &value {
            Value::Token(Token::Url, _) if self.prefix => MatchMode::Prefix,
            Value::Token(..) => MatchMode::Exact,
            _ => mode,
        };
        let _ = self.builder.add(value, self.ctx, mode);
    }
    fn bad(&mut self, _at: Location<'_>, reason: &str, _text: &str) {
        assert!(!reason.is_empty());
    }
    fn skipped(&mut self, _at: Location<'_>, what: &str) {
        assert!(!what.is_empty());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut feed = FeedConfig::from_path("fuzz".into());
    let mut builder = SetBuilder::new();
    let ctx = builder.context(iocd::indicators::Context {
        feed: "fuzz".into(),
        confidence: None,
        severity: Default::default(),
        tags: Vec::new(),
        description: None,
        reference: None,
        valid_from: None,
        valid_until: None,
        action: Default::default(),
        id: None,
        port: None,
        port_only: false,
    });
    // the high bits of the first byte: a declared type, url_https, prefix URLs
    let kind = TYPES[usize::from(pick >> 3) % TYPES.len()];
    feed.kind = kind;
    if pick & 0x80 != 0 {
        feed.url_https = UrlHttps::Host;
    }
    let mut sink = Sink {
        builder,
        ctx,
        prefix: pick & 0x40 != 0,
    };
    let _ = match pick % 8 {
        0 | 7 => {
            let opts = formats::plain::Opts {
                kind,
                url_https: feed.url_https,
            };
            formats::plain::parse(&text, 1, opts, &mut sink);
            Ok(())
        }
        1 => {
            feed.format = FeedFormat::Csv;
            feed.csv = Some(CsvConfig {
                columns: CsvColumns {
                    value: Some(CsvColumn::Name("value".into())),
                    kind: Some(CsvColumn::Number(2)),
                    confidence: Some(CsvColumn::Number(3)),
                    tags: Some(CsvColumn::Name("tags".into())),
                    valid_from: Some(CsvColumn::Number(5)),
                    ..CsvColumns::default()
                },
                ..CsvConfig::default()
            });
            formats::csv::parse(&text, &feed, &mut sink)
        }
        2 => formats::zeek::parse(&text, &feed, &mut sink),
        3 => formats::stix::parse(&text, &feed, &mut sink),
        4 => formats::misp::parse(&text, &feed, &mut sink),
        5 => formats::misp_warninglist::parse(&text, &feed, &mut sink),
        6 => formats::misp_csv::parse(&text, &feed, &mut sink),
        _ => unreachable!(),
    };
    let set = sink.builder.build();
    let _ = set.best_domain(b"a.b.example");
    let mut hits = Vec::new();
    set.lookup_token(Token::Url, b"a.example/x/y/?q=/z", &mut hits);
    set.lookup_token(Token::Url, rest.get(..rest.len().min(256)).unwrap_or_default(), &mut hits);
});
