//! The unit files under systemd/: `systemd-analyze verify` finds nothing to say, `security
//! --offline=yes` rates them "OK" (≤ 2.0), sysusers and tmpfiles create what they should.
//! Skipped, with a reason, when the systemd tools are missing. And under a booted systemd 252
//! in a container (root, debootstrap, systemd-nspawn): `systemctl reload` and the template
//! instances, end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util;

/// The highest exposure `systemd-analyze security` still calls "OK" (systemd's own threshold,
/// src/analyze/analyze-security.c: ≤ 2.0 OK, ≤ 4.9 MEDIUM ...).
const MAX_EXPOSURE: f64 = 2.0;
/// Where the units expect the binary; tests point a temporary copy at the one just built,
/// because `verify` checks that ExecStart's binary exists.
const INSTALLED: &str = "/usr/local/bin/iocd";

fn tool_or_skip(tool: &str) -> bool {
    if !util::have(tool) {
        util::skip(&format!("{tool} not installed"));
        return false;
    }
    true
}

fn systemd_version() -> u32 {
    let out = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Copy `name` from systemd/ into `dir` with ExecStart pointing at the built binary.
fn copy_unit(dir: &Path, name: &str) {
    let text = std::fs::read_to_string(util::root().join("systemd").join(name)).unwrap();
    assert!(
        text.contains(INSTALLED) || !name.starts_with("iocd."),
        "{name}"
    );
    let text = text.replace(INSTALLED, env!("CARGO_BIN_EXE_iocd"));
    std::fs::write(dir.join(name), text).unwrap();
}

/// `verify` output lines: none is accepted (issue 12: a warning about Type=notify-reload on
/// systemd 252 was accepted here while the unit had no reload at all there).
fn unexpected_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn units_pass_systemd_analyze_verify() {
    if !tool_or_skip("systemd-analyze") {
        return;
    }
    println!("systemd {}", systemd_version());
    let dir = tempfile::tempdir().unwrap();
    for u in [
        "iocd.service",
        "iocd@.service",
        "iocd-feeds.service",
        "iocd-feeds.timer",
    ] {
        copy_unit(dir.path(), u);
    }
    for u in [
        "iocd.service",
        "iocd@eth0.service",
        "iocd-feeds.service",
        "iocd-feeds.timer",
    ] {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.path().join(u))
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{u}: {stderr}");
        let bad = unexpected_lines(&stderr);
        assert!(bad.is_empty(), "{u}: {bad:#?}");
    }
}

#[test]
fn verify_would_catch_a_missing_binary() {
    // The check above is only meaningful if verify looks at ExecStart: it must complain here.
    if !tool_or_skip("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(util::root().join("systemd/iocd.service")).unwrap();
    let p = dir.path().join("iocd.service");
    std::fs::write(&p, text.replace(INSTALLED, "/nonexistent/iocd")).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&p)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() || stderr.contains("/nonexistent/iocd"),
        "{stderr}"
    );
}

/// "→ Overall exposure level for iocd.service: 1.8 OK 🙂" → (1.8, "OK").
fn exposure(stdout: &str) -> Option<(f64, String)> {
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let rest = line.split(": ").nth(1)?;
    let mut w = rest.split_whitespace();
    Some((w.next()?.parse().ok()?, w.next()?.to_owned()))
}

#[test]
fn units_are_rated_ok_by_systemd_analyze_security() {
    if !tool_or_skip("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    copy_unit(dir.path(), "iocd.service");
    copy_unit(dir.path(), "iocd@.service");
    for u in ["iocd.service", "iocd@eth0.service"] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(dir.path().join(u))
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (level, word) = exposure(&stdout).unwrap_or_else(|| panic!("{u}: {stdout}"));
        println!("{u}: exposure {level} {word}");
        assert!(level <= MAX_EXPOSURE, "{u}: {level} {word}\n{stdout}");
        assert_eq!(word, "OK", "{u}");
    }
    assert_eq!(
        exposure("→ Overall exposure level for x.service: 9.6 UNSAFE 😨"),
        Some((9.6, "UNSAFE".into()))
    );
}

#[test]
fn units_grant_only_cap_net_raw() {
    for u in ["iocd.service", "iocd@.service"] {
        let text = std::fs::read_to_string(util::root().join("systemd").join(u)).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(lines.contains(&"AmbientCapabilities=CAP_NET_RAW"), "{u}");
        assert!(lines.contains(&"CapabilityBoundingSet=CAP_NET_RAW"), "{u}");
        // Reload on every systemd in use: notify-reload exists only from 253 on.
        assert!(lines.contains(&"Type=notify"), "{u}");
        assert!(lines.contains(&"ExecReload=/bin/kill -HUP $MAINPID"), "{u}");
        assert!(lines.contains(&"RestartPreventExitStatus=78"), "{u}");
        assert!(lines.contains(&"User=iocd"), "{u}");
        // The optional settings named in issue 5 say why they are there.
        let mut prev_comment = false;
        for l in text.lines() {
            if l.starts_with("WatchdogSec") || l.starts_with("RestartPreventExitStatus") {
                assert!(prev_comment, "{u}: {l} without a comment");
            }
            prev_comment = l.starts_with('#');
        }
    }
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_directories() {
    if !tool_or_skip("systemd-sysusers") || !tool_or_skip("systemd-tmpfiles") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/passwd"), "").unwrap();
    std::fs::write(root.path().join("etc/group"), "").unwrap();
    let out = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(util::root().join("systemd/iocd.sysusers"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("iocd:x:"), "{passwd}");
    if !util::is_root() {
        util::skip("systemd-tmpfiles --root needs root to chown");
        return;
    }
    let out = Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(util::root().join("systemd/iocd.tmpfiles"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["var/log/iocd", "var/lib/iocd"] {
        assert!(root.path().join(d).is_dir(), "{d}");
    }
}

// ---------------------------------------------------------------------------------------------
// Under a booted systemd: a Debian 12 root (systemd 252, the version that has no
// Type=notify-reload) made by debootstrap, iocd installed into it by `scripts/install --root`,
// booted with `systemd-nspawn --boot` (systemd as PID 1 in its own network namespace, where
// only `lo` exists), and driven with systemctl through nsenter.

/// Packages of the test root beyond debootstrap's minbase: systemd as init, D-Bus for
/// systemctl, libpcap for iocd, procps for the units' /bin/kill, librdkafka for iocd's Kafka
/// sink (the `kafka` feature links it).
const ROOT_PACKAGES: &str = "systemd,systemd-sysv,dbus,libpcap0.8,procps,librdkafka1";
/// The Debian release of the test root: 12, systemd 252.
const ROOT_SUITE: &str = "bookworm";
/// Where the root is kept between runs (debootstrap takes a minute or more); the name changes
/// with the package list, so a changed list builds a new one. `IOCD_TEST_ROOTFS` overrides.
const ROOT_CACHE: &str = "/var/cache/iocd-test-rootfs";
/// Longest debootstrap run before the test gives up (skips).
const DEBOOTSTRAP_LIMIT: Duration = Duration::from_secs(900);
/// Longest boot, until `systemctl is-system-running` says running or degraded.
const BOOT_LIMIT: Duration = Duration::from_secs(90);
/// Longest wait for one thing to show in the container (a unit state, a log line, a file).
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// The mirror the host's apt uses for Debian, so the test root comes from the same place; None
/// lets debootstrap use its default.
fn host_mirror() -> Option<String> {
    let deb822 =
        std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let from_deb822 = deb822.split("\n\n").find_map(|stanza| {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_owned()))
        };
        let suites = field("Suites:")?;
        suites
            .split_whitespace()
            .any(|s| s == ROOT_SUITE)
            .then(|| field("URIs:"))?
            .and_then(|u| u.split_whitespace().next().map(str::to_owned))
    });
    from_deb822.or_else(|| {
        let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
        list.lines().find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 3 && w[0] == "deb" && w[2] == ROOT_SUITE).then(|| w[1].to_owned())
        })
    })
}

/// The cached root, built on first use. Err(reason) to skip: debootstrap failed (no mirror).
fn test_root() -> Result<PathBuf, String> {
    let key: u32 = ROOT_PACKAGES
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let dir = match std::env::var_os("IOCD_TEST_ROOTFS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(ROOT_CACHE).join(format!("{ROOT_SUITE}-{key:08x}")),
    };
    if dir.join("usr/lib/systemd/systemd").exists() {
        return Ok(dir);
    }
    let parent = dir.parent().ok_or("no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    // Built beside it and renamed into place: an interrupted build is never taken for a root,
    // and two runs building at once both end with one whole root.
    let tmp = parent.join(format!(".build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "building the test root {} (debootstrap {ROOT_SUITE}, once)",
        dir.display()
    );
    let started = Instant::now();
    let mut c = Command::new("timeout");
    c.args([
        "-k",
        "10",
        &DEBOOTSTRAP_LIMIT.as_secs().to_string(),
        "debootstrap",
    ])
    .arg("--variant=minbase")
    .arg(format!("--include={ROOT_PACKAGES}"))
    .arg(ROOT_SUITE)
    .arg(&tmp);
    if let Some(m) = host_mirror() {
        c.arg(m);
    }
    let out = c.output().map_err(|e| format!("debootstrap: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let log = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        return Err(format!(
            "debootstrap {ROOT_SUITE} failed ({}; mirror unreachable?): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another run finished first: keep its root.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    println!("test root built in {:.0}s", started.elapsed().as_secs_f64());
    Ok(dir)
}

/// A booted container; killed (its PID 1 first, which ends every process in it) on drop, and
/// its root unmounted.
struct Container {
    nspawn: Option<std::process::Child>,
    leader: Option<u32>,
    /// The root is an overlay mount (upper layer in the temporary directory) on the cache.
    mounted: bool,
    root: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Container {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if let Some(l) = self.leader {
            let _ = kill(Pid::from_raw(l as i32), Signal::SIGKILL);
        }
        if let Some(mut c) = self.nspawn.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.root).output();
        }
    }
}

impl Container {
    /// A writable root over the cached one (an overlay mount; a copy where overlayfs is not
    /// available), `prepare` run on it, then booted.
    fn boot(cache: &Path, name: &str, prepare: impl FnOnce(&Path)) -> Container {
        // On disk, not a tmpfs: a copy is a few hundred MiB.
        let dir = tempfile::Builder::new()
            .prefix("iocd-boot-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let root = dir.path().join("root");
        let mut c = Container {
            nspawn: None,
            leader: None,
            mounted: false,
            root: root.clone(),
            log: dir.path().join("console.log"),
            dir,
        };
        for d in ["root", "upper", "work"] {
            std::fs::create_dir(c.dir.path().join(d)).unwrap();
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            cache.display(),
            c.dir.path().join("upper").display(),
            c.dir.path().join("work").display()
        );
        c.mounted = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &opts])
            .arg(&root)
            .output()
            .is_ok_and(|o| o.status.success());
        if !c.mounted {
            std::fs::remove_dir(&root).unwrap();
            let out = Command::new("cp")
                .args(["-a", "--reflink=auto"])
                .arg(cache)
                .arg(&root)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cp: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        prepare(&root);
        let nspawn = Command::new("systemd-nspawn")
            .arg("-D")
            .arg(&root)
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
            ])
            .args(["--console=pipe", &format!("--machine={name}")])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&c.log).unwrap())
            .stderr(std::fs::File::create(c.dir.path().join("nspawn.err")).unwrap())
            .spawn()
            .unwrap();
        let nspawn_pid = nspawn.id();
        c.nspawn = Some(nspawn);
        // The container's PID 1 is the child of systemd-nspawn that runs systemd.
        let mut leader = None;
        util::wait_until(BOOT_LIMIT, || {
            leader = children(nspawn_pid).into_iter().find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "systemd")
            });
            leader.is_some()
        });
        c.leader = leader;
        assert!(
            c.leader.is_some(),
            "no systemd under nspawn: {}",
            c.console()
        );
        let mut state = String::new();
        let booted = util::wait_until(BOOT_LIMIT, || {
            state = c.sh("systemctl is-system-running").stdout_text();
            matches!(state.trim(), "running" | "degraded")
        });
        assert!(booted, "not booted ({state}): {}", c.console());
        c
    }

    fn console(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Run `script` with the container's sh, in all its namespaces.
    fn sh(&self, script: &str) -> Ran {
        let mut c = Command::new("nsenter");
        c.args([
            "-t",
            &self.leader.unwrap().to_string(),
            "-a",
            "--",
            "/bin/sh",
            "-c",
            script,
        ]);
        Ran(util::run_with_timeout(c, STEP_LIMIT))
    }

    /// `sh`, which must succeed; its standard output.
    fn ok(&self, script: &str) -> String {
        let r = self.sh(script);
        assert!(
            r.0.status.success(),
            "{script}: {}\n{}",
            r.0.status,
            r.stderr_text()
        );
        r.stdout_text()
    }

    fn show(&self, unit: &str, prop: &str) -> String {
        self.ok(&format!("systemctl show -p {prop} --value {unit}"))
            .trim()
            .to_owned()
    }

    fn journal(&self, unit: &str) -> String {
        self.sh(&format!("journalctl -u {unit} -o cat --no-pager"))
            .stdout_text()
    }

    fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.root.join(path.trim_start_matches('/'))).unwrap_or_default()
    }

    /// Send one DNS query for `name` to 127.0.0.1:53 over `lo` (no server needed: the capture
    /// sees the query), with bash's /dev/udp.
    fn dns_query(&self, name: &str) {
        let mut q = String::from("\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00");
        for label in name.split('.') {
            q.push_str(&format!("\\x{:02x}{label}", label.len()));
        }
        q.push_str("\\x00\\x00\\x01\\x00\\x01");
        self.ok(&format!("bash -c 'printf \"{q}\" > /dev/udp/127.0.0.1/53'"));
    }
}

struct Ran(std::process::Output);

impl Ran {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The JSON lines of `text` whose observable is `name`.
fn events_for(text: &str, name: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["observable"]["value"] == name)
        .collect()
}

/// Issue 12: on systemd 252 the unit had no reload (Type=notify-reload unknown), so `systemctl
/// reload`, log rotation and the feed timer did nothing. Here, under a booted systemd 252:
/// `systemctl reload iocd` re-reads a changed feed without a restart (same main PID, a new
/// indicator matches traffic that did not match before) and reopens a rotated JSON file; and
/// the template instances read their own config (`iocd@dmz` → /etc/iocd/dmz.toml) or, on the
/// shared one, write their own file under their own sensor name (`iocd@lo`).
#[test]
fn systemctl_reload_reloads_under_a_booted_systemd() {
    if !util::is_root() {
        util::skip("booting a container needs root");
        return;
    }
    for tool in [
        "debootstrap",
        "systemd-nspawn",
        "nsenter",
        "systemctl",
        "timeout",
    ] {
        if !tool_or_skip(tool) {
            return;
        }
    }
    let cache = match test_root() {
        Ok(c) => c,
        Err(reason) => {
            util::skip(&reason);
            return;
        }
    };
    let started = Instant::now();
    let machine = format!("iocd-test-{}", std::process::id() % 100_000);
    let c = Container::boot(&cache, &machine, |root| {
        // The documented install, then what an operator edits.
        let out = Command::new(util::root().join("scripts/install"))
            .arg("--root")
            .arg(root)
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_iocd"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = root.join("etc/iocd/iocd.toml");
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("interface = \"eth1\""), "{text}");
        std::fs::write(
            &conf,
            text.replace("interface = \"eth1\"", "interface = \"lo\""),
        )
        .unwrap();
        let feed = root.join("etc/iocd/feeds/local.txt");
        let mut text = std::fs::read_to_string(&feed).unwrap();
        text.push_str("before.evil.test\n");
        std::fs::write(&feed, text).unwrap();
        std::fs::write(
            root.join("etc/iocd/dmz.toml"),
            "sensor = \"dmz\"\n[capture]\ninterface = \"lo\"\n[[sinks]]\ntype = \"json\"\npath = \"/var/log/iocd/dmz.json\"\n[[feeds]]\npath = \"feeds/local.txt\"\n",
        )
        .unwrap();
        let out = Command::new("systemctl")
            .arg(format!("--root={}", root.display()))
            .args([
                "enable",
                "iocd.service",
                "iocd@lo.service",
                "iocd@dmz.service",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "enable: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    println!("booted in {:.1}s", started.elapsed().as_secs_f64());
    println!("{}", c.ok("systemctl --version | head -1").trim());

    for u in ["iocd.service", "iocd@lo.service", "iocd@dmz.service"] {
        let up = util::wait_until(STEP_LIMIT, || c.show(u, "ActiveState") == "active");
        assert!(up, "{u}: {}\n{}", c.show(u, "ActiveState"), c.journal(u));
        assert_eq!(c.show(u, "Type"), "notify", "{u}");
    }
    let pid = c.show("iocd.service", "ExecMainPID");

    // Capture works: a query for the listed name is an event, one for the name not yet listed
    // is not.
    c.dns_query("before.evil.test");
    c.dns_query("reloaded.evil.test");
    let seen = util::wait_until(STEP_LIMIT, || {
        !events_for(&c.file("/var/log/iocd/events.json"), "before.evil.test").is_empty()
    });
    assert!(seen, "no event: {}", c.journal("iocd.service"));

    // The feed changes; `systemctl reload` applies it without a restart.
    let feed = c.root.join("etc/iocd/feeds/local.txt");
    let mut text = std::fs::read_to_string(&feed).unwrap();
    text.push_str("reloaded.evil.test\nrotated.evil.test\n");
    std::fs::write(&feed, text).unwrap();
    c.ok("systemctl reload iocd");
    let reloaded = util::wait_until(STEP_LIMIT, || {
        c.journal("iocd.service").matches("reload done").count() == 1
    });
    assert!(
        reloaded,
        "no reload in the log: {}",
        c.journal("iocd.service")
    );
    assert!(
        c.journal("iocd.service").contains("indicators=3"),
        "{}",
        c.journal("iocd.service")
    );
    assert_eq!(
        c.show("iocd.service", "ExecMainPID"),
        pid,
        "restarted, not reloaded"
    );
    assert_eq!(c.show("iocd.service", "NRestarts"), "0");
    util::wait_until(STEP_LIMIT, || {
        c.show("iocd.service", "ActiveState") == "active"
    });
    c.dns_query("reloaded.evil.test");
    let matched = util::wait_until(STEP_LIMIT, || {
        events_for(&c.file("/var/log/iocd/events.json"), "reloaded.evil.test").len() == 1
    });
    assert!(
        matched,
        "the reloaded indicator does not match: {}",
        c.file("/var/log/iocd/events.json")
    );

    // Log rotation: the file is moved away, the reload reopens a new one. (A name not queried
    // yet: a repeat within [suppress] window would be held back.)
    c.ok("mv /var/log/iocd/events.json /var/log/iocd/events.json.1 && systemctl reload iocd");
    let reopened = util::wait_until(STEP_LIMIT, || {
        c.root.join("var/log/iocd/events.json").exists()
            && c.journal("iocd.service").matches("reload done").count() == 2
    });
    assert!(reopened, "not reopened: {}", c.journal("iocd.service"));
    c.dns_query("rotated.evil.test");
    let rotated = util::wait_until(STEP_LIMIT, || {
        !events_for(&c.file("/var/log/iocd/events.json"), "rotated.evil.test").is_empty()
    });
    assert!(rotated, "nothing written to the reopened file");
    assert_eq!(c.show("iocd.service", "ExecMainPID"), pid);

    // The instances: iocd@dmz read /etc/iocd/dmz.toml; iocd@lo, on the shared file, wrote its
    // own file under its own sensor name. All three saw the first query.
    let dmz = c.journal("iocd@dmz.service");
    assert!(dmz.contains("/etc/iocd/dmz.toml"), "{dmz}");
    let name = "before.evil.test";
    let lo = events_for(&c.file("/var/log/iocd/events.lo.json"), name);
    let dz = events_for(&c.file("/var/log/iocd/dmz.json"), name);
    let main = events_for(&c.file("/var/log/iocd/events.json.1"), name);
    assert_eq!(
        (lo.len(), dz.len(), main.len()),
        (1, 1, 1),
        "{lo:?} {dz:?} {main:?}"
    );
    // `sensor` unset: the host name (the container's).
    let host = c.ok("cat /proc/sys/kernel/hostname").trim().to_owned();
    assert_eq!(main[0]["sensor"], host.as_str());
    assert_eq!(lo[0]["sensor"], format!("{host}-lo").as_str());
    assert_eq!(dz[0]["sensor"], "dmz");
    c.ok("systemctl reload iocd@dmz");
    assert!(
        util::wait_until(STEP_LIMIT, || {
            let j = c.journal("iocd@dmz.service");
            j.contains("reload done") && j.contains("indicators=3")
        }),
        "{}",
        c.journal("iocd@dmz.service")
    );

    // A clean stop: the final stats record, the last line, counts both reloads.
    c.ok("systemctl stop iocd");
    let text = c.file("/var/log/iocd/events.json");
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(last["event_type"], "stats", "{last}");
    assert_eq!(last["final"], true, "{last}");
    assert_eq!(last["reloads"]["ok"], 2, "{last}");
    println!(
        "container test done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Issue 12: `scripts/setup` waited for nothing: with unattended-upgrades holding dpkg's lock
/// on a fresh machine it failed. Here the test holds the lock (apt's own fcntl lock on
/// /var/lib/dpkg/lock-frontend) for a few seconds; setup says it waits, then succeeds.
#[test]
fn setup_waits_for_the_package_managers_lock() {
    const HOLD: Duration = Duration::from_secs(12);
    if !util::is_root() {
        util::skip("apt's lock needs root");
        return;
    }
    if !tool_or_skip("apt-get") || !tool_or_skip("dpkg") {
        return;
    }
    if !Command::new("dpkg")
        .args(["-s", "libpcap-dev"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        util::skip("libpcap-dev not installed: setup would download it");
        return;
    }
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/var/lib/dpkg/lock-frontend")
        .unwrap();
    let fl = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // Wait our turn if a real apt holds it now.
    let mut held = false;
    util::wait_until(Duration::from_secs(300), || {
        held = nix::fcntl::fcntl(&lock, nix::fcntl::FcntlArg::F_SETLK(&fl)).is_ok();
        held
    });
    if !held {
        util::skip("another apt held the lock for 5 minutes");
        return;
    }
    let started = Instant::now();
    let release = std::thread::spawn(move || {
        std::thread::sleep(HOLD);
        drop(lock);
    });
    let mut c = Command::new(util::root().join("scripts/setup"));
    c.arg("--no-build").env("IOCD_APT_ALWAYS", "1");
    let out = util::run_with_timeout(c, Duration::from_secs(300));
    release.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("waiting for the package manager's lock"),
        "{err}"
    );
    assert!(started.elapsed() >= HOLD, "{:?}: {err}", started.elapsed());
}

/// Every file `scripts/install --root` lays out, relative to the root.
fn installed_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn install_into(root: &Path, extra: &[&str]) -> String {
    let out = Command::new(util::root().join("scripts/install"))
        .arg("--root")
        .arg(root)
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_iocd"))
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Issue 12: `scripts/install` lays out what the README's Install section lists, with no demo
/// feed; run again, it replaces the binary and units but keeps the operator's config and feed.
#[test]
fn install_lays_out_what_the_readme_lists_and_keeps_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    install_into(root, &[]);
    let files = installed_files(root);
    let readme = std::fs::read_to_string(util::root().join("README.md")).unwrap();
    let start = readme.find("### Install\n").unwrap();
    let end = start
        + readme[start..]
            .find("\n### ")
            .unwrap_or(readme.len() - start);
    let section = &readme[start..end];
    for f in &files {
        let shown = format!("/{f}").replace("/usr/local/", "PREFIX/");
        let name = Path::new(&shown)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let dir = Path::new(&shown).parent().unwrap().display().to_string();
        assert!(
            section.contains(&format!("`{shown}"))
                || (section.contains(&name) && section.contains(&dir)),
            "{shown} is installed but not in README's Install section"
        );
        assert!(!f.contains("demo"), "a demo file is installed: {f}");
    }
    assert_eq!(files.len(), 11, "{files:#?}");
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/iocd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/iocd run"), "{unit}");
    // The installed config is the production one, and it loads (the feed has no indicator).
    let conf = root.join("etc/iocd/iocd.toml");
    let out = util::iocd()
        .arg("check")
        .arg("--config")
        .arg(&conf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("feed \"local\"") && text.contains("UNUSABLE: no indicator"),
        "{text}"
    );

    // Edited by the operator, then installed again: kept.
    std::fs::write(&conf, "# mine\n").unwrap();
    std::fs::write(root.join("etc/iocd/feeds/local.txt"), "evil.test\n").unwrap();
    let again = install_into(root, &["--prefix", "/opt/iocd"]);
    assert!(again.contains("iocd.toml (exists, kept)"), "{again}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "# mine\n");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/iocd/feeds/local.txt")).unwrap(),
        "evil.test\n"
    );
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/iocd@.service")).unwrap();
    assert!(unit.contains("ExecStart=/opt/iocd/bin/iocd run"), "{unit}");
    assert!(root.join("opt/iocd/bin/iocd").is_file());
}
