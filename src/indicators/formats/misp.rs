//! MISP feeds (`format = "misp"`): the event JSON files a MISP instance publishes as a feed
//! (`<uuid>.json` beside `manifest.json` and `hashes.csv`), read from the feed's directory
//! ([`parse_dir`]) or from one file ([`parse`]). An event file is `{"Event": {...}}`; a
//! REST search answer `{"response": [{"Event": ...}, ...]}` and an array of `{"Event": ...}`
//! are read too.
//!
//! In a directory, every `*.json` file except `manifest.json` is an event, read in file-name
//! order; `hashes.csv` and other files are ignored. A file that cannot be read, is larger than
//! [`MAX_EVENT_FILE_BYTES`], or is not a MISP event is a bad entry located by its file name;
//! the other files still load. The directory is unusable (`Err`) only when it cannot be listed
//! or holds neither `manifest.json` nor any event file.
//!
//! **What maps to what.** Attributes of the event (`Event.Attribute`) and of its objects
//! (`Event.Object[].Attribute`) are read:
//!
//! | MISP attribute `type`            | iocd                                              |
//! |----------------------------------|---------------------------------------------------|
//! | `ip-src`, `ip-dst`               | an address or a CIDR (MISP allows both)           |
//! | `ip-src\|port`, `ip-dst\|port`   | the address before the `\|`                        |
//! | `domain`, `hostname`             | a domain                                          |
//! | `hostname\|port`                 | the domain before the `\|`                         |
//! | `domain\|ip`                     | two entries: the domain and the address           |
//! | `url`                            | a URL (see [`crate::url`]; `https://` per the feed's `url_https`) |
//! | `md5`, `sha1`, `sha256`          | a file hash                                       |
//! | `filename\|md5`, `filename\|sha1`, `filename\|sha256` | the file hash; the file name as a tag `filename:<name>` |
//! | `email`, `email-src`, `email-dst`, `email-reply-to` | an e-mail address              |
//! | `x509-fingerprint-sha1`, `x509-fingerprint-sha256` | a certificate hash               |
//! | `ja3-fingerprint-md5`            | a JA3                                             |
//!
//! | MISP                             | field                                             |
//! |----------------------------------|---------------------------------------------------|
//! | event `Tag` + attribute `Tag` names | tags, as is (`tlp:amber`, `misp-galaxy:...`)   |
//! | event `threat_level_id` 1, 2, 3, 4 | severity high, medium, low, info               |
//! | attribute `comment`, else event `info` | description                                |
//! | attribute `first_seen`, `last_seen` | valid_from, valid_until                       |
//! | attribute `uuid`                 | id, and the location in messages (else the file name) |
//!
//! Skipped: `to_ids` false (a bool, or `"0"`/`"1"` as older MISP writes it; absent counts as
//! true) → `misp to_ids=false`; `deleted: true` (the attribute or its object) →
//! `misp deleted`; `x509-fingerprint-md5`, `jarm-fingerprint`, `hassh-md5` with the reason they
//! cannot match (`misp type jarm-fingerprint (JARM needs active scanning)`); other types →
//! `misp type <type>` (`misp type uri`, `misp type regkey`...).

use std::io::Read;
use std::path::Path;

use super::{push_tag, token_type, unmatched_type, url_entry, what_name, FeedSink, Location};
use crate::config::{FeedConfig, UrlHttps};
use crate::indicators::{parse_time, value, Fields, MatchMode, Severity, Value};
use crate::observe::Token;

/// Largest event file read, in bytes. Events in the public CIRCL and Botvrij OSINT feeds run to
/// a few MiB; 64 MiB leaves room for large private events while bounding memory per file
/// (the text, and the attributes read from it as small borrowing structs).
pub const MAX_EVENT_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Parse one MISP event file's text.
pub fn parse(text: &str, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let name = feed.path.file_name().map_or_else(
        || feed.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    parse_events(text, &name, feed.url_https, out)
}

/// Parse a MISP feed directory: each `*.json` event file but `manifest.json`, in name order.
pub fn parse_dir(dir: &Path, feed: &FeedConfig, out: &mut dyn FeedSink) -> Result<(), String> {
    let listing = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list MISP feed directory {}: {e}", dir.display()))?;
    let mut manifest = false;
    let mut files = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "manifest.json" {
            manifest = true;
        } else if name.ends_with(".json") {
            files.push(name);
        }
    }
    if files.is_empty() && !manifest {
        return Err(format!(
            "{} holds no manifest.json and no event files (*.json)",
            dir.display()
        ));
    }
    files.sort();
    for name in files {
        let at = Location::Object(&name);
        match read_capped(&dir.join(&name)) {
            Ok(text) => {
                if let Err(reason) = parse_events(&text, &name, feed.url_https, out) {
                    out.bad(at, &reason, "");
                }
            }
            Err(reason) => out.bad(at, &reason, ""),
        }
    }
    Ok(())
}

fn read_capped(path: &Path) -> Result<String, String> {
    let file = crate::indicators::feeds::open_regular(path)?;
    let mut buf = Vec::new();
    // read one byte past the cap to tell "exactly the cap" from "larger"
    file.take(MAX_EVENT_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() as u64 > MAX_EVENT_FILE_BYTES {
        return Err(format!("larger than {MAX_EVENT_FILE_BYTES} bytes"));
    }
    String::from_utf8(buf).map_err(|_| "not valid UTF-8".to_owned())
}

fn parse_events(
    text: &str,
    file: &str,
    url_https: UrlHttps,
    out: &mut dyn FeedSink,
) -> Result<(), String> {
    // Two streaming passes, no `serde_json::Value` tree (18 times the text for 1M attributes):
    // the first reads each event's own fields (tags, threat level, info), which may come after
    // its attributes, skipping the attribute arrays; the second hands each attribute to `out`
    // as it is read, with its event's context, and keeps none. The strings borrow from `text`
    // unless they hold escapes. A text that is not JSON fails the first pass, before any entry.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut heads = Vec::new();
    walk::run(text, file, walk::Mode::Heads(&mut heads))?;
    let ctxs: Vec<Option<EventContext<'_>>> = heads
        .iter()
        .map(|h| h.as_ref().map(|h| EventContext::of(h, file, url_https)))
        .collect();
    walk::run(text, file, walk::Mode::Attributes(&ctxs, out))
}

/// The two passes of [`parse_events`] over the file's shape: `{"Event": {...}}`, a REST answer
/// `{"response": [{"Event": ...}, ...]}`, or an array of `{"Event": ...}`.
mod walk {
    use serde::de::value::MapAccessDeserializer;
    use serde::de::{
        Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
    };

    use super::shape::{EventHead, Obj, Object};
    use super::{attribute, EventContext, FeedSink, Location};

    const NOT_MISP: &str = "not a MISP event: no \"Event\" object";

    pub enum Mode<'m, 'a> {
        /// Collect each event's head, `None` for an "Event" that is not an object.
        Heads(&'m mut Vec<Option<EventHead<'a>>>),
        /// Hand each attribute to the sink with the context of its event (by event order).
        Attributes(&'m [Option<EventContext<'a>>], &'m mut dyn FeedSink),
    }

    struct State<'m, 'a> {
        mode: Mode<'m, 'a>,
        /// The file name, the location of a bad event.
        file: &'m str,
        /// Events seen so far, in file order: the same in both passes.
        events: usize,
    }

    impl State<'_, '_> {
        fn not_an_event(&mut self) {
            if let Mode::Attributes(_, out) = &mut self.mode {
                out.bad(Location::Object(self.file), NOT_MISP, "");
            }
        }
    }

    pub fn run<'m, 'a>(text: &'a str, file: &'m str, mode: Mode<'m, 'a>) -> Result<(), String> {
        let mut state = State {
            mode,
            file,
            events: 0,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let shape = Top(&mut state)
            .deserialize(&mut de)
            .and_then(|shape| de.end().map(|()| shape))
            .map_err(|e| format!("not JSON: {e}"))?;
        shape
    }

    /// Skip what is left of a map or a sequence.
    fn drain_map<'de, A: MapAccess<'de>>(mut a: A) -> Result<(), A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn drain_seq<'de, A: SeqAccess<'de>>(mut a: A) -> Result<(), A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    macro_rules! scalars {
        ($v:expr) => {
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok($v(self))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok($v(self))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok($v(self))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok($v(self))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok($v(self))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok($v(self))
            }
        };
    }

    /// The whole file; `Err` when it is JSON but no MISP shape.
    struct Top<'s, 'm, 'a>(&'s mut State<'m, 'a>);

    impl<'de: 'a, 'a> DeserializeSeed<'de> for Top<'_, '_, 'a> {
        type Value = Result<(), String>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for Top<'_, '_, 'a> {
        type Value = Result<(), String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a MISP event")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let (mut event, mut list) = (false, None);
            while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                match &*key {
                    "Event" if !event => {
                        event = true;
                        a.next_value_seed(EventSeed(&mut *self.0))?;
                    }
                    // a REST answer's list; only used when there is no "Event"
                    "response" if list.is_none() && !event => {
                        list = Some(a.next_value_seed(List(&mut *self.0))?);
                    }
                    _ => {
                        a.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(if event || list == Some(true) {
                Ok(())
            } else {
                Err(NOT_MISP.to_owned())
            })
        }
        fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
            List(self.0).visit_seq(a).map(|_| Ok(()))
        }
        scalars!(|_| Err(NOT_MISP.to_owned()));
    }

    /// An array of `{"Event": ...}` items; `false` when it is not an array.
    struct List<'s, 'm, 'a>(&'s mut State<'m, 'a>);

    impl<'de: 'a, 'a> DeserializeSeed<'de> for List<'_, '_, 'a> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for List<'_, '_, 'a> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of MISP events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
            while a.next_element_seed(ItemSeed(&mut *self.0))?.is_some() {}
            Ok(true)
        }
        fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<bool, A::Error> {
            drain_map(a).map(|()| false)
        }
        scalars!(|_| false);
    }

    /// One `{"Event": ...}` item of a list.
    struct ItemSeed<'s, 'm, 'a>(&'s mut State<'m, 'a>);

    impl<'de: 'a, 'a> DeserializeSeed<'de> for ItemSeed<'_, '_, 'a> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for ItemSeed<'_, '_, 'a> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a MISP event item")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            let mut event = false;
            while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                if &*key == "Event" && !event {
                    event = true;
                    a.next_value_seed(EventSeed(&mut *self.0))?;
                } else {
                    a.next_value::<IgnoredAny>()?;
                }
            }
            if !event {
                self.0.not_an_event();
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<(), A::Error> {
            self.0.not_an_event();
            drain_seq(a)
        }
        scalars!(|s: Self| s.0.not_an_event());
    }

    /// The value of an "Event" key: an event, or else a bad entry.
    struct EventSeed<'s, 'm, 'a>(&'s mut State<'m, 'a>);

    impl<'de: 'a, 'a> DeserializeSeed<'de> for EventSeed<'_, '_, 'a> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl EventSeed<'_, '_, '_> {
        fn not_an_object(self) {
            if let Mode::Heads(heads) = &mut self.0.mode {
                heads.push(None);
            }
            self.0.events += 1;
            self.0.not_an_event();
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for EventSeed<'_, '_, 'a> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a MISP event object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            let state = self.0;
            let i = state.events;
            state.events += 1;
            match &mut state.mode {
                Mode::Heads(heads) => {
                    heads.push(Some(EventHead::deserialize(MapAccessDeserializer::new(a))?));
                }
                Mode::Attributes(ctxs, out) => {
                    let Some(Some(ctx)) = ctxs.get(i) else {
                        return drain_map(a);
                    };
                    while let Some(key) = a.next_key::<std::borrow::Cow<'de, str>>()? {
                        match &*key {
                            "Attribute" => a.next_value_seed(Attributes {
                                ctx,
                                out: &mut **out,
                                object_deleted: false,
                            })?,
                            "Object" => a.next_value_seed(Objects {
                                ctx,
                                out: &mut **out,
                            })?,
                            _ => {
                                a.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                }
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<(), A::Error> {
            self.not_an_object();
            drain_seq(a)
        }
        scalars!(|s: Self| s.not_an_object());
    }

    /// An "Attribute" array: each attribute handled as it is read, then dropped.
    struct Attributes<'c, 'o, 'a> {
        ctx: &'c EventContext<'a>,
        out: &'o mut dyn FeedSink,
        object_deleted: bool,
    }

    impl<'de: 'a, 'a> DeserializeSeed<'de> for Attributes<'_, '_, 'a> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for Attributes<'_, '_, 'a> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("MISP attributes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            while let Some(attr) = a.next_element::<Obj<super::shape::Attribute<'de>>>()? {
                if let Some(attr) = &attr.0 {
                    attribute(attr, self.ctx, self.object_deleted, &mut *self.out);
                }
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<(), A::Error> {
            drain_map(a)
        }
        scalars!(|_| ());
    }

    /// An "Object" array: each object read whole (its "deleted" may follow its attributes;
    /// objects are small), handled, then dropped.
    struct Objects<'c, 'o, 'a> {
        ctx: &'c EventContext<'a>,
        out: &'o mut dyn FeedSink,
    }

    impl<'de: 'a, 'a> DeserializeSeed<'de> for Objects<'_, '_, 'a> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de: 'a, 'a> Visitor<'de> for Objects<'_, '_, 'a> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("MISP objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            while let Some(o) = a.next_element::<Obj<Object<'de>>>()? {
                let Some(o) = &o.0 else { continue };
                let deleted = super::truthy(&o.deleted);
                for attr in o.attributes.iter().filter_map(|a| a.0.as_ref()) {
                    attribute(attr, self.ctx, deleted, &mut *self.out);
                }
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<(), A::Error> {
            drain_map(a)
        }
        scalars!(|_| ());
    }
}

/// The parts of a MISP event file iocd reads, deserialised leniently: a field of an unexpected
/// JSON type reads as absent (as `Value::get(..).and_then(as_str)` did), never as an error.
mod shape {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::value::MapAccessDeserializer;
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// An event's own fields (its attribute arrays are skipped: see `walk`).
    #[derive(serde::Deserialize, Default)]
    pub struct EventHead<'a> {
        #[serde(rename = "Tag", default, borrow)]
        pub tags: Seq<Obj<Tag<'a>>>,
        #[serde(default, borrow)]
        pub threat_level_id: Loose<'a>,
        #[serde(default, borrow)]
        pub info: Loose<'a>,
    }

    #[derive(serde::Deserialize, Default)]
    pub struct Object<'a> {
        #[serde(default, borrow)]
        pub deleted: Loose<'a>,
        #[serde(rename = "Attribute", default, borrow)]
        pub attributes: Seq<Obj<Attribute<'a>>>,
    }

    #[derive(serde::Deserialize, Default)]
    pub struct Tag<'a> {
        #[serde(default, borrow)]
        pub name: Loose<'a>,
    }

    #[derive(serde::Deserialize, Default)]
    pub struct Attribute<'a> {
        #[serde(default, borrow)]
        pub uuid: Loose<'a>,
        #[serde(default, borrow)]
        pub deleted: Loose<'a>,
        #[serde(rename = "type", default, borrow)]
        pub kind: Loose<'a>,
        #[serde(default, borrow)]
        pub value: Loose<'a>,
        #[serde(default, borrow)]
        pub to_ids: Loose<'a>,
        #[serde(default, borrow)]
        pub first_seen: Loose<'a>,
        #[serde(default, borrow)]
        pub last_seen: Loose<'a>,
        #[serde(rename = "Tag", default, borrow)]
        pub tags: Seq<Obj<Tag<'a>>>,
        #[serde(default, borrow)]
        pub comment: Loose<'a>,
    }

    /// Any JSON value, kept only when it is a scalar.
    #[derive(Debug, Default, Clone, PartialEq)]
    pub enum Loose<'a> {
        Str(Cow<'a, str>),
        Bool(bool),
        Num(serde_json::Number),
        /// `null`, absent, an array or an object.
        #[default]
        Other,
    }

    impl Loose<'_> {
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Loose::Str(s) => Some(s),
                _ => None,
            }
        }
    }

    /// An array's elements, `None` when the value was not an array.
    #[derive(Default)]
    pub struct Seq<T>(pub Option<Vec<T>>);

    impl<T> Seq<T> {
        pub fn iter(&self) -> std::slice::Iter<'_, T> {
            self.0.as_deref().unwrap_or_default().iter()
        }
    }

    /// An object read as `T`, `None` when the value was not an object.
    #[derive(Default)]
    pub struct Obj<T>(pub Option<T>);

    impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Loose<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(Loose::Str(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(Loose::Str(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                    Ok(Loose::Str(Cow::Owned(v)))
                }
                fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                    Ok(Loose::Bool(v))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                    Ok(Loose::Num(v.into()))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                    Ok(Loose::Num(v.into()))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                    Ok(serde_json::Number::from_f64(v).map_or(Loose::Other, Loose::Num))
                }
                fn visit_unit<E>(self) -> Result<Self::Value, E> {
                    Ok(Loose::Other)
                }
                fn visit_none<E>(self) -> Result<Self::Value, E> {
                    Ok(Loose::Other)
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                    while a.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Loose::Other)
                }
                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                    while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Loose::Other)
                }
            }
            d.deserialize_any(V)
        }
    }

    /// A visitor for anything but the one shape wanted: each other value is skipped, giving `empty`.
    macro_rules! skip_others {
        ($empty:expr) => {
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok($empty)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok($empty)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok($empty)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok($empty)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok($empty)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok($empty)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok($empty)
            }
        };
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Seq<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = Seq<T>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                    let mut v = Vec::new();
                    while let Some(x) = a.next_element()? {
                        v.push(x);
                    }
                    Ok(Seq(Some(v)))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                    while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Seq(None))
                }
                skip_others!(Seq(None));
            }
            d.deserialize_any(V(std::marker::PhantomData))
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = Obj<T>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(a)).map(|t| Obj(Some(t)))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                    while a.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Obj(None))
                }
                skip_others!(Obj(None));
            }
            d.deserialize_any(V(std::marker::PhantomData))
        }
    }
}

/// What an event gives each of its attributes.
struct EventContext<'a> {
    tags: Vec<String>,
    severity: Option<Severity>,
    info: Option<&'a str>,
    file: &'a str,
    url_https: UrlHttps,
}

impl<'a> EventContext<'a> {
    fn of(ev: &'a shape::EventHead<'a>, file: &'a str, url_https: UrlHttps) -> Self {
        let mut tags = Vec::new();
        tag_names(&ev.tags, &mut tags);
        EventContext {
            tags,
            severity: threat_level(&ev.threat_level_id),
            info: ev.info.as_str().map(str::trim).filter(|s| !s.is_empty()),
            url_https,
            file,
        }
    }
}

fn tag_names(v: &shape::Seq<shape::Obj<shape::Tag<'_>>>, tags: &mut Vec<String>) {
    for t in v.iter().filter_map(|t| t.0.as_ref()) {
        if let Some(name) = t.name.as_str().map(str::trim) {
            if !name.is_empty() {
                push_tag(tags, name);
            }
        }
    }
}

/// MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined (taken as info).
fn threat_level(v: &shape::Loose<'_>) -> Option<Severity> {
    let n: u64 = match v {
        shape::Loose::Str(s) => s.trim().parse().ok()?,
        shape::Loose::Num(n) => n.as_u64()?,
        _ => return None,
    };
    match n {
        1 => Some(Severity::High),
        2 => Some(Severity::Medium),
        3 => Some(Severity::Low),
        4 => Some(Severity::Info),
        _ => None,
    }
}

/// `true`, `1`, `"1"`, `"true"`.
fn truthy(v: &shape::Loose<'_>) -> bool {
    match v {
        shape::Loose::Bool(b) => *b,
        shape::Loose::Num(n) => n.as_u64() == Some(1),
        shape::Loose::Str(s) => matches!(s.trim(), "1" | "true" | "True"),
        shape::Loose::Other => false,
    }
}

/// `to_ids` as MISP writes it: a bool, `0`/`1`, or `"0"`/`"1"`; absent is true.
pub(super) fn to_ids(v: Option<&str>) -> Result<bool, String> {
    match v.map(str::trim) {
        None | Some("1" | "true" | "True") => Ok(true),
        Some("0" | "false" | "False") => Ok(false),
        Some(other) => Err(format!(
            "bad to_ids \"{}\": true, false, 1 or 0",
            value::cut(other)
        )),
    }
}

fn attribute(
    a: &shape::Attribute<'_>,
    ctx: &EventContext<'_>,
    object_deleted: bool,
    out: &mut dyn FeedSink,
) {
    let uuid = a.uuid.as_str();
    let at = Location::Object(uuid.unwrap_or(ctx.file));
    if object_deleted || truthy(&a.deleted) {
        return out.skipped(at, "misp deleted");
    }
    let (Some(kind), Some(text)) = (a.kind.as_str(), a.value.as_str()) else {
        return out.bad(at, "attribute without a type and value string", "");
    };
    let Some(values) = values(kind, text, ctx.url_https) else {
        return out.skipped(at, &skip_reason(kind));
    };
    let flag = match &a.to_ids {
        shape::Loose::Bool(b) => Ok(*b),
        shape::Loose::Num(n) => to_ids(Some(&n.to_string())),
        shape::Loose::Str(s) => to_ids(Some(s)),
        shape::Loose::Other => Ok(true),
    };
    match flag {
        Ok(true) => {}
        Ok(false) => return out.skipped(at, "misp to_ids=false"),
        Err(reason) => return out.bad(at, &reason, text),
    }
    let values = match values {
        Ok(v) => v,
        Err(reason) => return out.bad(at, &reason, text),
    };
    let time = |v: &shape::Loose<'_>, k: &str| {
        v.as_str()
            .filter(|s| !s.trim().is_empty())
            .map(parse_time)
            .transpose()
            .map_err(|e| format!("{k}: {e}"))
    };
    let (valid_from, valid_until) = match (
        time(&a.first_seen, "first_seen"),
        time(&a.last_seen, "last_seen"),
    ) {
        (Ok(f), Ok(u)) => (f, u),
        (Err(reason), _) | (_, Err(reason)) => return out.bad(at, &reason, text),
    };
    let mut tags = ctx.tags.clone();
    tag_names(&a.tags, &mut tags);
    if let Some(name) = values.filename {
        push_tag(&mut tags, &format!("filename:{name}"));
    }
    let comment = a.comment.as_str().map(str::trim).filter(|s| !s.is_empty());
    let fields = Fields {
        severity: ctx.severity,
        tags,
        description: comment.or(ctx.info).map(str::to_owned),
        valid_from,
        valid_until,
        id: uuid.map(str::to_owned),
        match_mode: values.mode,
        ..Fields::default()
    };
    values.emit(at, fields, out);
}

/// Why an attribute of type `kind` is skipped.
pub(super) fn skip_reason(kind: &str) -> String {
    match unmatched_type(kind) {
        Some(why) => format!("misp type {why}"),
        None => format!("misp type {}", what_name(kind)),
    }
}

/// The values of one attribute and what they carry beyond the value.
pub(super) struct Attr<'t> {
    pub values: Vec<Value>,
    /// The match mode the values take (a URL's host with `url_https = "host"`: exact).
    pub mode: Option<MatchMode>,
    /// The attribute was an `https://` URL.
    pub https: bool,
    /// The file name of a `filename|<hash>` attribute.
    pub filename: Option<&'t str>,
}

impl Attr<'_> {
    fn of(values: Vec<Value>) -> Self {
        Attr {
            values,
            mode: None,
            https: false,
            filename: None,
        }
    }

    /// Every value to `out` with `fields`.
    pub(super) fn emit(self, at: Location<'_>, fields: Fields, out: &mut dyn FeedSink) {
        for v in self.values {
            out.entry(at, v, fields.clone());
        }
        if self.https {
            out.https_url();
        }
    }
}

/// The values of an attribute of a type iocd uses (`None` for other types); an `Err` when the
/// value does not parse as its type says.
pub(super) fn values<'t>(
    kind: &str,
    text: &'t str,
    url_https: UrlHttps,
) -> Option<Result<Attr<'t>, String>> {
    let left = || {
        text.split_once('|')
            .map(|(l, _)| l)
            .ok_or_else(|| format!("{kind}: no '|' in \"{}\"", value::cut(text)))
    };
    if let Some(hash) = kind.strip_prefix("filename|") {
        let t =
            token_type(hash).filter(|t| matches!(t, Token::Md5 | Token::Sha1 | Token::Sha256))?;
        return Some(match text.rsplit_once('|') {
            Some((name, digest)) => value::parse_token(t, digest).map(|v| Attr {
                filename: Some(name.trim()).filter(|n| !n.is_empty()),
                ..Attr::of(vec![v])
            }),
            None => Err(format!("{kind}: no '|' in \"{}\"", value::cut(text))),
        });
    }
    if kind == "url" {
        return Some(url_entry(text, url_https).map(|(v, mode, https)| Attr {
            mode,
            https,
            ..Attr::of(vec![v])
        }));
    }
    if let Some(t) = token_type(kind) {
        return Some(value::parse_token(t, text).map(|v| Attr::of(vec![v])));
    }
    let values = match kind {
        "ip-src" | "ip-dst" => value::parse_cidr(text).map(|v| vec![v]),
        "domain" | "hostname" => value::parse_domain(text).map(|v| vec![v]),
        "ip-src|port" | "ip-dst|port" => left().and_then(value::parse_ip).map(|v| vec![v]),
        "hostname|port" => left().and_then(value::parse_domain).map(|v| vec![v]),
        "domain|ip" => text
            .split_once('|')
            .ok_or_else(|| format!("domain|ip: no '|' in \"{}\"", value::cut(text)))
            .and_then(|(d, ip)| Ok(vec![value::parse_domain(d)?, value::parse_cidr(ip)?])),
        _ => return None,
    };
    Some(values.map(Attr::of))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::formats::{assert_never_panics, Collect};
    use std::path::PathBuf;

    const EVENT_1: &str =
        include_str!("../../../tests/feeds/misp/5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b.json");
    const EVENT_2: &str =
        include_str!("../../../tests/feeds/misp/6a2f4d3b-9c5e-4f70-8b1c-2d3e4f5a6b7c.json");

    fn sample_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/feeds/misp")
    }

    fn feed() -> FeedConfig {
        FeedConfig::from_path(sample_dir())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn t(s: &str) -> Option<i64> {
        Some(parse_time(s).unwrap())
    }

    #[test]
    fn feed_directory_maps_attributes_and_object_attributes() {
        let mut c = Collect::default();
        parse_dir(&sample_dir(), &feed(), &mut c).unwrap();
        let ev1_tags = [
            "type:OSINT",
            "tlp:white",
            "misp-galaxy:malpedia=\"Pikabot\"",
        ];
        let info1 = "OSINT - Pikabot returns with new loader infrastructure";
        let info2 = "Phishing campaign against European banks";
        let f = |uuid: &str, sev, tags: &[&str], desc: &str| Fields {
            severity: Some(sev),
            tags: strings(tags),
            description: Some(desc.to_owned()),
            id: Some(uuid.to_owned()),
            ..Fields::default()
        };
        let e = |uuid: &str, v: Value, f: Fields| (uuid.to_owned(), v, f);
        let ip = |s: &str| Value::Ip(s.parse().unwrap());
        let dom = |s: &str| Value::Domain(s.as_bytes().to_vec());
        let (u1, u2, u3, u4, u5) = (
            "1c8e3a55-2d4f-4b6c-9e70-8f91a2b3c4d5",
            "2d9f4b66-3e5a-4c7d-8f81-90a2b3c4d5e6",
            "72e490bb-8daf-41c2-9ed6-e5f708192a3b",
            "94a6b2dd-afc1-43e4-9af8-08192a3b4c5d",
            "a5b7c3ee-b0d2-44f5-8b09-192a3b4c5d6e",
        );
        let (u6, u7) = (
            "b6c8d4ff-c1e3-45a6-9c1a-2a3b4c5d6e7f",
            "d8eaf611-e305-47c8-9e3c-4c5d6e7f8091",
        );
        let c2 = [ev1_tags.as_slice(), &["kill-chain:Command and Control"]].concat();
        let m = Severity::Medium;
        let h = Severity::High;
        assert_eq!(
            c.entries,
            vec![
                e(
                    u1,
                    ip("198.51.100.246"),
                    Fields {
                        valid_from: t("2024-04-20T10:00:00Z"),
                        ..f(u1, m, &c2, "Pikabot C2")
                    }
                ),
                e(u2, dom("pika-loader.example"), f(u2, m, &ev1_tags, info1)),
                e(
                    "3ea05c77-4f6b-4d8e-9a92-a1b3c4d5e6f7",
                    value::parse_token(
                        Token::Sha256,
                        "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
                    )
                    .unwrap(),
                    f("3ea05c77-4f6b-4d8e-9a92-a1b3c4d5e6f7", m, &ev1_tags, info1)
                ),
                e(
                    "4fb16d88-5a7c-4e9f-8ba3-b2c4d5e6f708",
                    Value::Token(Token::Url, b"pika-loader.example/gate".to_vec()),
                    f("4fb16d88-5a7c-4e9f-8ba3-b2c4d5e6f708", m, &ev1_tags, info1)
                ),
                e(
                    u3,
                    Value::Cidr("203.0.113.0/25".parse().unwrap()),
                    Fields {
                        valid_from: t("2024-04-01T00:00:00Z"),
                        valid_until: t("2024-06-01T00:00:00Z"),
                        ..f(u3, m, &ev1_tags, info1)
                    }
                ),
                e(
                    u4,
                    dom("update.pika-loader.example"),
                    f(u4, m, &ev1_tags, info1)
                ),
                e(u5, ip("2001:db8:77::5"), f(u5, m, &ev1_tags, info1)),
                e(
                    u6,
                    dom("secure-bank-login.example"),
                    f(u6, h, &["tlp:amber"], "Landing page")
                ),
                e(
                    u6,
                    ip("198.51.100.77"),
                    f(u6, h, &["tlp:amber"], "Landing page")
                ),
                e(
                    u7,
                    dom("login.secure-bank-login.example"),
                    f(
                        u7,
                        h,
                        &["tlp:amber", "phishing:techniques=\"credential-harvesting\""],
                        info2
                    )
                ),
                e(
                    "fa0c1833-0527-49ea-905e-6e7f8091a2b3",
                    Value::Token(Token::Email, b"security@secure-bank-login.example".to_vec()),
                    f(
                        "fa0c1833-0527-49ea-905e-6e7f8091a2b3",
                        h,
                        &["tlp:amber"],
                        info2
                    )
                ),
            ]
        );
        let skipped: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("0b7d2f44-1c3e-4a5b-8d6f-7e8091a2b3c4", "misp type link"),
                ("50c27e99-6b8d-4fa0-9cb4-c3d5e6f70819", "misp to_ids=false"),
                ("61d38faa-7c9e-40b1-8dc5-d4e6f708192a", "misp deleted"),
                ("c7d9e500-d2f4-46b7-8d2b-3b4c5d6e7f80", "misp to_ids=false"),
                ("1c2e3a55-2749-4b0c-9270-8091a2b3c4d5", "misp deleted"),
            ]
        );
        assert_eq!(
            c.bad,
            vec![(
                "e9fb0722-f416-48d9-8f4d-5d6e7f8091a2".into(),
                "not an IP address: \"198.51.100.300\"".into()
            )]
        );
    }

    #[test]
    fn a_broken_event_file_is_one_bad_entry_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "manifest.json",
            "hashes.csv",
            "5f1e3c2a-8b4d-4e6f-9a0b-1c2d3e4f5a6b.json",
        ] {
            std::fs::copy(sample_dir().join(name), dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("0-truncated.json"), &EVENT_2[..200]).unwrap();
        std::fs::write(
            dir.path().join("9-other.json"),
            r#"{"response": [{"Org": {}}]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("a-latin1.json"),
            b"{\"Event\": {\"info\": \"caf\xe9\"}}",
        )
        .unwrap();
        let mut c = Collect::default();
        parse_dir(dir.path(), &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 7, "event 1 loads");
        let bad: Vec<&str> = c.bad.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(bad, ["0-truncated.json", "9-other.json", "a-latin1.json"]);
        assert!(c.bad[0].1.starts_with("not JSON"));
        assert!(c.bad[1].1.contains("no \"Event\""));
        assert_eq!(c.bad[2].1, "not valid UTF-8");
    }

    #[test]
    fn unusable_directories_are_errors_but_an_empty_feed_is_not() {
        let mut c = Collect::default();
        let dir = tempfile::tempdir().unwrap();
        assert!(parse_dir(dir.path(), &feed(), &mut c)
            .unwrap_err()
            .contains("no manifest.json"));
        assert!(parse_dir(&dir.path().join("nope"), &feed(), &mut c)
            .unwrap_err()
            .contains("cannot list"));
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        assert_eq!(parse_dir(dir.path(), &feed(), &mut c), Ok(()));
        assert!(c.entries.is_empty() && c.bad.is_empty());
    }

    #[test]
    fn event_fields_after_the_attributes_still_give_their_context() {
        // MISP writes "Tag" after "Attribute": the first pass reads it, the second uses it
        let text = r#"{"Event": {"Attribute": [{"type": "domain", "value": "a.example"}],
            "Object": [{"Attribute": [{"type": "domain", "value": "b.example"}], "deleted": true}],
            "Tag": [{"name": "tlp:amber"}], "threat_level_id": "1", "info": "late info"}}"#;
        let mut c = Collect::default();
        parse(text, &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 1);
        let f = &c.entries[0].2;
        assert_eq!(f.tags, strings(&["tlp:amber"]));
        assert_eq!(f.severity, Some(Severity::High));
        assert_eq!(f.description.as_deref(), Some("late info"));
        assert_eq!(c.skipped[0].1, "misp deleted");
        // JSON broken after the first attribute: an error, and nothing was handed over
        let mut c = Collect::default();
        assert!(parse(&text[..text.len() - 3], &feed(), &mut c).is_err());
        assert!(c.entries.is_empty() && c.bad.is_empty());
    }

    #[test]
    fn single_files_and_rest_search_answers() {
        let mut c = Collect::default();
        parse(EVENT_2, &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 4);
        let wrapped = format!("{{\"response\": [{EVENT_1}, {EVENT_2}]}}");
        let mut c = Collect::default();
        parse(&wrapped, &feed(), &mut c).unwrap();
        assert_eq!(c.entries.len(), 11);
        // no uuid: located by the file name
        let mut c = Collect::default();
        let no_uuid =
            r#"{"Event": {"Attribute": [{"type": "ip-dst", "value": "x", "to_ids": 1}]}}"#;
        parse(
            no_uuid,
            &FeedConfig::from_path("/feeds/ev.json".into()),
            &mut c,
        )
        .unwrap();
        assert_eq!(c.bad[0].0, "ev.json");
        for bad in ["", "[", "{\"Event\": 1}", "{\"event\": {}}", "\"x\""] {
            let mut c = Collect::default();
            let r = parse(bad, &feed(), &mut c);
            assert!(r.is_err() || !c.bad.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn attribute_values_by_type() {
        let v = |k, s| values(k, s, UrlHttps::Url).map(|r| r.map(|a| a.values));
        assert_eq!(
            v("ip-dst|port", "2001:db8::1|443"),
            Some(Ok(vec![Value::Ip("2001:db8::1".parse().unwrap())]))
        );
        assert_eq!(
            v("hostname|port", "a.example|80"),
            Some(Ok(vec![Value::Domain(b"a.example".to_vec())]))
        );
        assert!(matches!(v("ip-src|port", "192.0.2.1"), Some(Err(_))));
        assert!(matches!(
            v("domain|ip", "a.example|b.example"),
            Some(Err(_))
        ));
        assert_eq!(to_ids(Some("0")), Ok(false));
        assert_eq!(to_ids(None), Ok(true));
        assert!(to_ids(Some("yes")).is_err());
    }

    #[test]
    fn hash_email_url_certificate_and_ja3_types_load() {
        let v = |k, s| values(k, s, UrlHttps::Url).map(|r| r.map(|a| a.values));
        let tok = |t, s| Some(Ok(vec![value::parse_token(t, s).unwrap()]));
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let sha1 = "5fb0f1e3b4a1c3f6e7d9b0a1c2d3e4f5a6b7c8d9";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(v("md5", md5), tok(Token::Md5, md5));
        assert_eq!(v("sha1", sha1), tok(Token::Sha1, sha1));
        assert_eq!(v("sha256", sha256), tok(Token::Sha256, sha256));
        assert_eq!(v("x509-fingerprint-sha1", sha1), tok(Token::CertSha1, sha1));
        assert_eq!(
            v("x509-fingerprint-sha256", sha256),
            tok(Token::CertSha256, sha256)
        );
        assert_eq!(v("ja3-fingerprint-md5", md5), tok(Token::Ja3, md5));
        for t in ["email", "email-src", "email-dst"] {
            assert_eq!(
                v(t, "Bad@Evil.example"),
                tok(Token::Email, "bad@evil.example"),
                "{t}"
            );
        }
        assert_eq!(
            v("url", "http://evil.example/a"),
            tok(Token::Url, "http://evil.example/a")
        );
        // decoys: a cut digest, a hash of the wrong length for its type
        assert!(matches!(v("sha1", "x"), Some(Err(_))));
        assert!(matches!(v("md5", sha1), Some(Err(_))));
        assert!(matches!(v("x509-fingerprint-sha1", md5), Some(Err(_))));
        // filename|hash: the hash, the file name kept
        let text = format!("in|voice.exe|{sha256}");
        let a = values("filename|sha256", &text, UrlHttps::Url)
            .unwrap()
            .unwrap();
        assert_eq!(
            a.values,
            [value::parse_token(Token::Sha256, sha256).unwrap()]
        );
        assert_eq!(a.filename, Some("in|voice.exe"));
        assert!(matches!(
            values("filename|md5", "a.exe", UrlHttps::Url),
            Some(Err(_))
        ));
        // an https URL: counted; its host with url_https = "host"
        let a = values("url", "https://cdn.example/x", UrlHttps::Url)
            .unwrap()
            .unwrap();
        assert!(a.https && a.mode.is_none());
        let a = values("url", "https://cdn.example/x", UrlHttps::Host)
            .unwrap()
            .unwrap();
        assert_eq!(a.values, [Value::Domain(b"cdn.example".to_vec())]);
        assert_eq!(a.mode, Some(MatchMode::Exact));
        // types with no observable are skipped with the reason; others by name
        assert!(v("jarm-fingerprint", "x").is_none());
        assert_eq!(
            skip_reason("jarm-fingerprint"),
            "misp type jarm-fingerprint (JARM needs active scanning)"
        );
        assert!(skip_reason("x509-fingerprint-md5").contains("SHA-1 and SHA-256"));
        assert!(v("uri", "/gate.php").is_none());
        assert_eq!(skip_reason("uri"), "misp type uri");
    }

    #[test]
    fn truncated_or_mutated_misp_never_panics() {
        let f = feed();
        assert_never_panics(EVENT_1, &|s, c| parse(s, &f, c));
        assert_never_panics(EVENT_2, &|s, c| parse(s, &f, c));
    }
}
