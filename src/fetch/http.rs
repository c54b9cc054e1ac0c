//! One HTTP(S) GET of a feed, conditional on the validators of the copy we hold: the blocking
//! client `ureq` (rustls, ring; no async runtime needed on the fetch thread, and a fraction of
//! reqwest's dependency tree), with the system's roots (`rustls-native-certs`) and an optional
//! extra CA file, a timeout for the whole request, proxies from `HTTPS_PROXY` / `HTTP_PROXY` /
//! `NO_PROXY` (ureq reads them), and the body streamed into a file with a size cap checked as
//! it arrives. A payload that is a gzip stream or a zip archive is unpacked (also capped).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{AuthConfig, FeedConfig};

/// Bytes copied at a time from the network or an archive into a file.
const COPY_CHUNK: usize = 64 * 1024;

/// Longest header value kept from a response (an ETag, a date): RFC 9110 sets no limit, real
/// servers send under 100 bytes; a longer one is not remembered (the next request is then
/// unconditional, never wrong).
pub const MAX_VALIDATOR_BYTES: usize = 1024;

/// Largest secret read from a file: tokens and passwords are under 1 KiB; a larger file is a
/// wrong path.
pub const MAX_SECRET_BYTES: u64 = 16 * 1024;

/// The system's trusted roots, read once per process (a read and parse of the whole
/// certificate store costs about as much as a request to a local server).
fn system_roots() -> &'static Vec<ureq::tls::Certificate<'static>> {
    static ROOTS: std::sync::OnceLock<Vec<ureq::tls::Certificate<'static>>> =
        std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        rustls_native_certs::load_native_certs()
            .certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect()
    })
}

/// What the server answered.
#[derive(Debug)]
pub enum Got {
    /// 304: the copy we hold is current.
    NotModified,
    /// 200: the payload (unpacked) is in the file passed to [`get`].
    Body(Validators),
}

/// What makes the next request conditional, and what came with a response.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A client for one feed: its TLS roots, timeout and credentials.
pub struct Client {
    agent: ureq::Agent,
    auth: Option<(String, String)>,
    max_bytes: u64,
    zip_member: Option<String>,
}

impl Client {
    /// A client with the feed's settings. Errors name what is wrong (an unreadable CA or secret
    /// file, an unset environment variable).
    pub fn new(feed: &FeedConfig) -> Result<Client, String> {
        use ureq::tls::{RootCerts, TlsConfig};
        let mut roots = system_roots().clone();
        if let Some(ca) = &feed.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("ca_file {}: cannot read: {e}", ca.display()))?;
            let before = roots.len();
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                    roots.push(c);
                }
            }
            if roots.len() == before {
                return Err(format!(
                    "ca_file {}: no PEM certificate in it",
                    ca.display()
                ));
            }
        }
        if roots.is_empty() {
            return Err("no trusted CA certificates: the system has none (install ca-certificates) and no ca_file is set".into());
        }
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .build();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(feed.timeout()))
            .http_status_as_error(false)
            .user_agent(concat!("iocd/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        Ok(Client {
            agent: config.into(),
            auth: feed.auth.as_ref().map(auth_header).transpose()?,
            max_bytes: feed.max_bytes(),
            zip_member: feed.zip_member.clone(),
        })
    }

    /// GET `url` into `dst` (written, not renamed: the caller decides), conditional on `have`;
    /// `accept` is sent as the Accept header when given. A body cut short of its
    /// Content-Length (or a gzip stream cut short) is an error, as is one over `max_bytes`.
    pub fn get(
        &self,
        url: &str,
        have: &Validators,
        accept: Option<&str>,
        dst: &Path,
    ) -> Result<(Got, http_headers::Headers), String> {
        let mut req = self.agent.get(url);
        if let Some(e) = &have.etag {
            req = req.header("If-None-Match", e);
        }
        if let Some(m) = &have.last_modified {
            req = req.header("If-Modified-Since", m);
        }
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some((k, v)) = &self.auth {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.call().map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = http_headers::Headers::of(resp.headers());
        if status == 304 {
            return Ok((Got::NotModified, headers));
        }
        if !(200..300).contains(&status) {
            return Err(format!("{url}: HTTP {status}"));
        }
        let got = Validators {
            etag: headers.get("etag"),
            last_modified: headers.get("last-modified"),
        };
        let declared = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(format!(
                "{url}: {} bytes announced, over max_bytes {}",
                declared.unwrap_or(0),
                self.max_bytes
            ));
        }
        let raw = with_suffix(dst, ".download");
        let result = (|| {
            let mut reader = resp.into_body().into_reader();
            // ureq reports a body shorter than its Content-Length as a read error, and a
            // gzip-encoded one cut short fails its trailer check
            copy_capped(&mut reader, &raw, self.max_bytes).map_err(|e| format!("{url}: {e}"))?;
            unpack(&raw, dst, self.max_bytes, self.zip_member.as_deref())
                .map_err(|e| format!("{url}: {e}"))
        })();
        let _ = std::fs::remove_file(&raw);
        result?;
        Ok((Got::Body(got), headers))
    }
}

/// A small copy of a response's headers, by lowercase name, values cut at
/// [`MAX_VALIDATOR_BYTES`].
pub mod http_headers {
    use super::MAX_VALIDATOR_BYTES;

    #[derive(Debug, Default, Clone)]
    pub struct Headers(Vec<(String, String)>);

    impl Headers {
        pub fn of(h: &ureq::http::HeaderMap) -> Headers {
            Headers(
                h.iter()
                    .filter_map(|(k, v)| {
                        let v = v.to_str().ok()?;
                        (v.len() <= MAX_VALIDATOR_BYTES)
                            .then(|| (k.as_str().to_ascii_lowercase(), v.to_owned()))
                    })
                    .collect(),
            )
        }

        /// The value of `name` (lowercase).
        pub fn get(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }
}

/// The header a feed's `auth` gives, its secret read from the file or the environment.
fn auth_header(a: &AuthConfig) -> Result<(String, String), String> {
    let secret = |file: &Option<PathBuf>, env: &Option<String>| -> Result<String, String> {
        if let Some(f) = file {
            return read_secret(f);
        }
        if let Some(e) = env {
            return std::env::var(e)
                .map(|v| v.trim().to_owned())
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("auth: environment variable {e} is not set"));
        }
        Err("auth: no secret named".into())
    };
    if a.bearer_file.is_some() || a.bearer_env.is_some() {
        let t = secret(&a.bearer_file, &a.bearer_env)?;
        return Ok(("Authorization".into(), format!("Bearer {t}")));
    }
    if let Some(user) = &a.basic_user {
        use base64::Engine as _;
        let p = secret(&a.password_file, &a.password_env)?;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{p}"));
        return Ok(("Authorization".into(), format!("Basic {b}")));
    }
    if let Some(h) = &a.header {
        return Ok((h.clone(), secret(&a.value_file, &a.value_env)?));
    }
    Err("auth: no credentials named".into())
}

/// A secret file's first line, trimmed.
fn read_secret(path: &Path) -> Result<String, String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_BYTES).read_to_string(&mut s))
        .map_err(|e| format!("auth: cannot read {}: {e}", path.display()))?;
    let line = s.lines().next().unwrap_or("").trim().to_owned();
    if line.is_empty() {
        return Err(format!("auth: {} is empty", path.display()));
    }
    Ok(line)
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copy `r` into a new file `dst`, refusing more than `max` bytes. Returns the bytes written.
fn copy_capped(r: &mut dyn Read, dst: &Path, max: u64) -> Result<u64, String> {
    let mut out =
        std::fs::File::create(dst).map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut n: u64 = 0;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("download cut after {n} bytes: {e}")),
        };
        n += k as u64;
        if n > max {
            return Err(format!("larger than max_bytes {max}: refused"));
        }
        out.write_all(&buf[..k])
            .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    }
    Ok(n)
}

/// Unpack `raw` into `dst`: a gzip stream is inflated, a zip archive's member (`member`, else
/// the first file) extracted, anything else moved as it is. Each output capped at `max`.
fn unpack(raw: &Path, dst: &Path, max: u64, member: Option<&str>) -> Result<(), String> {
    let mut head = [0u8; 4];
    let n = std::fs::File::open(raw)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("cannot read {}: {e}", raw.display()))?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) {
        let f = std::fs::File::open(raw).map_err(|e| e.to_string())?;
        let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
        copy_capped(&mut gz, dst, max).map_err(|e| format!("gzip payload: {e}"))?;
    } else if head.starts_with(b"PK\x03\x04") {
        let f = std::fs::File::open(raw).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("zip payload: {e}"))?;
        let index = match member {
            Some(m) => zip
                .index_for_name(m)
                .ok_or_else(|| format!("zip payload has no member {m:?}"))?,
            None => (0..zip.len())
                .find(|&i| zip.by_index(i).is_ok_and(|e| e.is_file()))
                .ok_or("zip payload holds no file")?,
        };
        let mut entry = zip
            .by_index(index)
            .map_err(|e| format!("zip payload: {e}"))?;
        if entry.size() > max {
            return Err(format!(
                "zip member {:?} is {} bytes, over max_bytes {max}: refused",
                entry.name(),
                entry.size()
            ));
        }
        copy_capped(&mut entry, dst, max).map_err(|e| format!("zip payload: {e}"))?;
    } else {
        std::fs::rename(raw, dst).map_err(|e| format!("cannot rename {}: {e}", raw.display()))?;
    }
    Ok(())
}
