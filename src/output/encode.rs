//! Encoders: a typed [`Record`] becomes the bytes one sink writes, once, at the sink.

use std::time::SystemTime;

use super::syslog;
use crate::event::Record;

/// How a sink turns a record into bytes.
pub enum Encoder {
    /// One JSON object per line (EVE-like).
    JsonLine,
    /// The JSON line inside a syslog record; octet-counted on TCP (RFC 6587 §3.4.1).
    Syslog { header: syslog::Header, tcp: bool },
}

impl Encoder {
    pub fn encode(&self, rec: &Record) -> Vec<u8> {
        let mut line = Vec::with_capacity(768);
        // Serialising plain structs into memory cannot fail.
        let _ = serde_json::to_writer(&mut line, rec);
        match self {
            Encoder::JsonLine => {
                line.push(b'\n');
                line
            }
            Encoder::Syslog { header, tcp } => {
                let body = String::from_utf8_lossy(&line);
                let r = syslog::format_record(header, rec, &body, SystemTime::now());
                if *tcp {
                    syslog::octet_counted(&r)
                } else {
                    r.into_bytes()
                }
            }
        }
    }
}
