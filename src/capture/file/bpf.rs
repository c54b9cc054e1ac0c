//! `--bpf EXPR` on replay: libpcap's compiler and interpreter, one compiled program per link
//! type (a pcapng file may carry several).

use std::collections::HashMap;

use pcap::{BpfProgram, Capture, Linktype};

/// LINKTYPE_RAW as stored in files.
const LINKTYPE_RAW: i32 = 101;
/// DLT_RAW as libpcap's compiler knows it on Linux and most systems.
const DLT_RAW: i32 = 12;

/// The DLT value `pcap_open_dead` wants for a LINKTYPE value read from a file. Files store
/// LINKTYPE_ values; libpcap maps them when it reads a file itself (`linktype_to_dlt`), and
/// the one that differs for the link types iocd decodes is raw IP.
fn dlt_for(linktype: i32) -> i32 {
    if linktype == LINKTYPE_RAW {
        DLT_RAW
    } else {
        linktype
    }
}

fn compile(expr: &str, linktype: i32) -> Result<BpfProgram, String> {
    let dead = Capture::dead(Linktype(dlt_for(linktype))).map_err(|e| e.to_string())?;
    dead.compile(expr, true).map_err(|e| e.to_string())
}

/// Check an expression before the replay starts (compiled for Ethernet, the link type on
/// which every libpcap primitive is defined). The error is libpcap's message.
pub fn validate(expr: &str) -> Result<(), String> {
    compile(expr, 1).map(|_| ())
}

/// A filter expression with its compiled programs, cached per link type.
pub struct Filter {
    expr: String,
    /// `None`: the expression does not compile for that link type; its packets never match.
    programs: HashMap<i32, Option<BpfProgram>>,
    /// Compilation errors to report once each: (link type, libpcap's message).
    pub failures: Vec<(i32, String)>,
}

impl Filter {
    pub fn new(expr: &str) -> Filter {
        Filter {
            expr: expr.to_owned(),
            programs: HashMap::new(),
            failures: Vec::new(),
        }
    }

    /// Whether the packet passes the filter.
    pub fn matches(&mut self, linktype: i32, frame: &[u8]) -> bool {
        let prog =
            self.programs
                .entry(linktype)
                .or_insert_with(|| match compile(&self.expr, linktype) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.failures.push((linktype, e));
                        None
                    }
                });
        prog.as_ref().is_some_and(|p| p.filter(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_expression_is_refused_with_libpcaps_message() {
        let e = validate("udp port").unwrap_err();
        assert!(e.contains("syntax"), "{e}");
        assert!(validate("udp port 53 or tcp").is_ok());
    }

    #[test]
    fn programs_are_compiled_per_link_type() {
        // a DNS query over UDP as raw IPv4 and inside Ethernet
        let ip: Vec<u8> = {
            let mut v = vec![
                0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ];
            v.extend_from_slice(&[0x30, 0x39, 0, 53, 0, 8, 0, 0]);
            v
        };
        let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        eth.extend_from_slice(&ip);
        let mut f = Filter::new("udp port 53");
        assert!(f.matches(1, &eth));
        assert!(f.matches(LINKTYPE_RAW, &ip));
        assert!(
            !f.matches(1, &ip),
            "raw bytes read as Ethernet must not match"
        );
        let mut g = Filter::new("tcp");
        assert!(!g.matches(1, &eth) && !g.matches(LINKTYPE_RAW, &ip));
        assert_eq!(f.programs.len(), 2);
        assert!(f.failures.is_empty());
    }
}
