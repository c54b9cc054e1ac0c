//! `[metrics]`: the Prometheus/OpenMetrics endpoint of `iocd run` (off by default).

use std::net::SocketAddr;

use serde::Deserialize;

/// `[metrics]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address and port to serve `GET /metrics` on, e.g. "127.0.0.1:9310". Default: none
    /// (no endpoint).
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// The address to listen on, if set and valid.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listen.as_deref()?.parse().ok()
    }

    /// Problems with the values (the types are checked by serde).
    pub fn problems(&self) -> Vec<String> {
        match &self.listen {
            Some(l) if l.parse::<SocketAddr>().is_err() => vec![format!(
                "metrics.listen = {l:?} is not an address and port: write e.g. listen = \"127.0.0.1:9310\" or \"[::1]:9310\""
            )],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_must_be_an_address_and_port() {
        let ok = MetricsConfig {
            listen: Some("127.0.0.1:9310".into()),
        };
        assert!(ok.problems().is_empty());
        assert_eq!(ok.addr().map(|a| a.port()), Some(9310));
        for bad in ["localhost:9310", "127.0.0.1", ":9310"] {
            let c = MetricsConfig {
                listen: Some(bad.into()),
            };
            assert!(c.problems()[0].contains("metrics.listen"), "{bad}");
        }
        assert!(MetricsConfig::default().problems().is_empty());
        assert_eq!(MetricsConfig::default().addr(), None);
    }
}
