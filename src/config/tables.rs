//! `[tables]`: the memory budget of each worker's connection tables (TCP flows with their
//! reassembly buffers, QUIC connections with their CRYPTO buffers).

use serde::Deserialize;

/// Default budget per worker: 256 MiB, sized for a busy 10 Gbit/s link.
///
/// The load: 10 Gbit/s is 1.25 GB/s; at a mean of ~12 KB per connection that is ~100,000 new
/// TCP connections a second, and QUIC brings ~20,000 more (a fifth of the connections, most of
/// them browsers). The link needs several workers (four at the least); per worker that is
/// 25,000 TCP and 5,000 QUIC connections a second. A connection holds a *partial* hello for
/// about one round trip (the rest of the hello comes in the same flight; 300 ms covers
/// intercontinental paths), the only entries that must not be lost.
///
/// The split (the worker's `track::TableCaps`) and what each part holds at the default:
/// - QUIC, half: 128 MiB ÷ ~20.2 KB per connection (`track::quic::CONN_COST`: a ~1 KB slot of
///   keys and state with the hash table's slack, plus a CRYPTO buffer at its 16 KiB cap, what an
///   attacker makes every entry hold, plus ~0.9 KB of server keys when the server's Initials
///   are read) = ~6,650 connections. Partial hellos at once:
///   5,000/s × 0.3 s = 1,500, so 4.4× headroom even when every entry is maximal; finished
///   connections (a ~1 KB record until the 10 s idle timeout) fill the rest and go first.
/// - TCP flow entries, a quarter: 64 MiB ÷ ~260 B per flow (`FlowTable::FLOW_COST`: a 64-byte
///   slot with the hash table's slack, plus the undecided state of a SYN flood's flow) =
///   ~258,000 flows. Undecided flows at once: 25,000/s × 0.3 s = 7,500 (34× headroom); the rest
///   keeps about 10 s of decided flows, which go first and cost a six-byte recheck when their
///   next payload comes.
/// - TCP reassembly buffers and stream parsers' state (HTTP: ~220 bytes a connection, ~670
///   while a body is hashed, ~46 KB while a compressed one is), a quarter: 64 MiB: 7,500 split hellos of ~2 KB (with the buffer's
///   doubling, ~4 KB) are 30 MB; or 4,000 flows holding a maximal 16 KiB window.
///
/// So a flood must bring ~6,650 QUIC Initials or ~258,000 TCP flows before anything is
/// evicted, and even then a partial hello that was there first is evicted only after its
/// grace period (`track::evict`). Twice the old fixed caps' memory (1,024 QUIC connections,
/// 65,536 flows and 32 MiB of buffers: ~60 MiB), four times the QUIC entries.
pub const DEFAULT_TABLE_MEMORY: u64 = 256 << 20;

/// Smallest budget: 4 MiB still gives ~100 QUIC connections, ~4,500 flows and 1 MiB of
/// buffers per worker (a quiet link, or a test); below it a single busy second evicts.
pub const MIN_TABLE_MEMORY: u64 = 4 << 20;

/// Largest budget: 64 GiB per worker is beyond any sensor's memory per core, and catches a
/// unit typo ("256GiB" for "256MiB").
pub const MAX_TABLE_MEMORY: u64 = 64 << 30;

/// `[tables]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablesConfig {
    /// Memory budget per worker for its connection tables, e.g. "256MiB" (B, KiB, MiB, GiB, or
    /// a number of bytes). Default: [`DEFAULT_TABLE_MEMORY`].
    #[serde(default, deserialize_with = "de_opt_size")]
    pub memory: Option<u64>,
    /// Largest file hashed (an HTTP body, as sent and once decoded), e.g. "64MiB". Longer ones
    /// are not hashed (counted). Default: [`DEFAULT_MAX_FILE_SIZE`].
    #[serde(default, deserialize_with = "de_opt_size")]
    pub max_file_size: Option<u64>,
}

/// Default of `max_file_size`: 64 MiB. Larger downloads are rarely what a file-hash feed lists
/// (MalwareBazaar takes samples up to 100 MB; most are under 10 MB), and hashing one costs
/// ~0.3 s of a core (SHA-256 at ~250 MB/s).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// Largest `max_file_size`: 4 GiB, beyond any download a feed lists.
pub const MAX_MAX_FILE_SIZE: u64 = 4 << 30;

impl TablesConfig {
    /// The budget per worker, in bytes.
    pub fn memory(&self) -> u64 {
        self.memory.unwrap_or(DEFAULT_TABLE_MEMORY)
    }

    /// The largest file hashed, in bytes.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size.unwrap_or(DEFAULT_MAX_FILE_SIZE)
    }

    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        let mut p = match self.memory {
            Some(m) if !(MIN_TABLE_MEMORY..=MAX_TABLE_MEMORY).contains(&m) => {
                vec![format!(
                    "tables.memory must be between {}MiB and {}GiB",
                    MIN_TABLE_MEMORY >> 20,
                    MAX_TABLE_MEMORY >> 30
                )]
            }
            _ => Vec::new(),
        };
        if self.max_file_size.is_some_and(|m| m > MAX_MAX_FILE_SIZE) {
            p.push(format!(
                "tables.max_file_size must be at most {}GiB",
                MAX_MAX_FILE_SIZE >> 30
            ));
        }
        p
    }
}

/// A size: "256MiB", "1GiB", "4096KiB", "100B", "1048576", or a TOML integer. Binary units
/// only: "MB" would leave the reader guessing which.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        u => return Err(format!("{text:?}: unknown unit {u:?} (B, KiB, MiB or GiB)")),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?}: not a size (e.g. \"256MiB\")"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?}: too large"))
}

fn de_opt_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(n) => Ok(Some(n)),
        Size::Text(s) => parse_size(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units_or_bytes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_size("4096KiB"), Ok(4 << 20));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("256MB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn memory_out_of_bounds_is_reported_and_the_default_is_in_them() {
        let c = |m| TablesConfig {
            memory: Some(m),
            ..Default::default()
        };
        assert_eq!(c(MIN_TABLE_MEMORY - 1).problems().len(), 1);
        assert_eq!(c(MAX_TABLE_MEMORY + 1).problems().len(), 1);
        assert!(c(MIN_TABLE_MEMORY).problems().is_empty());
        assert!(TablesConfig::default().problems().is_empty());
        assert!((MIN_TABLE_MEMORY..=MAX_TABLE_MEMORY).contains(&DEFAULT_TABLE_MEMORY));
    }

    #[test]
    fn memory_is_read_as_text_or_as_a_number() {
        let t: TablesConfig = toml::from_str("memory = \"8MiB\"").unwrap();
        assert_eq!(t.memory(), 8 << 20);
        let t: TablesConfig = toml::from_str("memory = 8388608").unwrap();
        assert_eq!(t.memory(), 8 << 20);
        let err = toml::from_str::<TablesConfig>("memory = \"8 MB\"").unwrap_err();
        assert!(err.to_string().contains("unknown unit"), "{err}");
        assert_eq!(TablesConfig::default().memory(), DEFAULT_TABLE_MEMORY);
    }

    #[test]
    fn max_file_size_is_a_size_with_a_default_and_a_ceiling() {
        let t: TablesConfig = toml::from_str("max_file_size = \"1MiB\"").unwrap();
        assert_eq!(t.max_file_size(), 1 << 20);
        assert!(t.problems().is_empty());
        assert_eq!(
            TablesConfig::default().max_file_size(),
            DEFAULT_MAX_FILE_SIZE
        );
        let t: TablesConfig = toml::from_str("max_file_size = \"5GiB\"").unwrap();
        assert_eq!(t.problems().len(), 1);
    }
}
