//! Every feed-format parser on arbitrary text (the first byte picks the format): no panic, and
//! every entry it reports is a value the set accepts. Feeds come from the network (a download
//! that went wrong, a hostile mirror), so they are input like packets are.
#![no_main]

use iocd::config::{CsvColumn, CsvColumns, CsvConfig, FeedConfig, FeedFormat};
use iocd::indicators::formats::{self, FeedSink, Location};
use iocd::indicators::{Fields, SetBuilder, Value};
use libfuzzer_sys::fuzz_target;

/// Adds every entry to a real set builder, as the loader does.
struct Sink {
    builder: SetBuilder,
    ctx: u32,
}

impl FeedSink for Sink {
    fn entry(&mut self, _at: Location<'_>, value: Value, fields: Fields) {
        if let Some(c) = fields.confidence {
            assert!(c <= 100, "confidence {c}");
        }
        let mode = fields.match_mode.unwrap_or_default();
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
    let mut sink = Sink { builder, ctx };
    let _ = match pick % 7 {
        0 => {
            formats::plain::parse(&text, 1, &mut sink);
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
        _ => formats::misp_csv::parse(&text, &feed, &mut sink),
    };
    let set = sink.builder.build();
    let _ = set.best_domain(b"a.b.example");
});
