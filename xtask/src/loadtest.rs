//! `cargo xtask loadtest`: kes-server under load, next to a bare hyper + rustls server.
//!
//! Builds `kes-server` and the `loadgen` example in release mode, starts `kes-server --dev`
//! (in-memory keystore, the admin API key's client certificate) and `loadgen bare` (the same
//! TLS settings; it reads each request body and gives a fixed 32-byte JSON answer), measures
//! their start-to-ready time and idle RSS, then runs `loadgen run` against both and prints
//! its Markdown report (requests/s, p50/p99, ratios to the bare server, latency at half of
//! peak, RSS with 10,000 idle keep-alive connections). A second pair of servers then runs on
//! CPU 1 with one tokio worker each (`taskset`, `TOKIO_WORKER_THREADS=1`) while the generator
//! runs on CPU 0 at `nice -20`, for the latency at half of peak without the generator on the
//! servers' cores (`loadgen run --open-only --separate-cores`: the generator polls its core,
//! and the servers get real-time priority for the open loop where the system permits it).
//! That second run decides the p99 target; the first run's open loop is reported for
//! information (`docs/decisions.md`, "Load test"). The numbers go into `docs/benchmarks.md` by
//! hand.
//!
//! Options: `--seconds N` (measurement per round and workload, default 3), `--warmup N`
//! (default 1), `--rounds N` (alternating rounds per comparison, median reported; default 5),
//! `--conns N` (default 16), `--idle-conns N` (default 10000), `--latency-only` (in both
//! placements only the HTTP/1.1 peaks and the open loop at half of them), `--separate-only`
//! (only the run on separate cores). Linux only (`/proc`).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run};

/// Stops the child on drop: SIGTERM (kes-server then removes its dev-mode files), SIGKILL
/// if it is still running after 5 s.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program args` through `sh` with the open-files limit raised to the hard limit (the
/// 10,000-connection step needs it); `exec` keeps the PID.
fn with_nofile(program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\"")
        .arg(program)
        .args(args);
    cmd
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits until `file` has a line containing `needle`; returns the file's lines.
fn wait_for_line(file: &Path, needle: &str, child: &mut Child) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.contains(needle)) {
            return Ok(text.lines().map(str::to_owned).collect());
        }
        if let Some(status) = child.try_wait()? {
            bail!("process exited ({status}) before printing '{needle}'");
        }
        if Instant::now() > deadline {
            bail!("no '{needle}' in {} after 60 s", file.display());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn banner_value(lines: &[String], key: &str) -> Result<String> {
    lines
        .iter()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?;
            rest.starts_with(' ').then(|| rest.trim().to_owned())
        })
        .with_context(|| format!("no '{key}' line in the banner"))
}

pub(crate) fn loadtest(rest: &[String]) -> Result<()> {
    let mut loadgen_args: Vec<String> = Vec::new();
    let mut latency_only = false;
    let mut separate_only = false;
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--latency-only" => latency_only = true,
            "--separate-only" => separate_only = true,
            "--seconds" | "--warmup" | "--conns" | "--idle-conns" | "--rounds" => {
                let value = it.next().with_context(|| format!("{arg} needs a value"))?;
                loadgen_args.extend([arg.clone(), value.clone()]);
            }
            other => bail!("unknown loadtest option `{other}`"),
        }
    }

    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "kes-server",
        "--bin",
        "kes-server",
        "--example",
        "loadgen",
    ]);
    run("cargo build --release (kes-server, loadgen)", build)?;
    let release = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("release");
    let kes_bin = release.join("kes-server");
    let loadgen_bin = release.join("examples").join("loadgen");

    let dir = std::env::temp_dir().join(format!("kes-loadtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| -> Result<()> {
        if separate_only {
            return separate(&kes_bin, &loadgen_bin, &dir, &loadgen_args);
        }
        // 1. Everything on the machine's shared cores; 2. the servers on a core of their own.
        let servers = start_servers(&kes_bin, &loadgen_bin, &dir.join("shared"), None)?;
        let mut args = servers.args.clone();
        args.extend(loadgen_args.iter().cloned());
        if latency_only {
            args.push("--open-only".into());
        }
        let status = with_nofile(&loadgen_bin, &args)
            .status()
            .context("failed to run the load generator")?;
        if !status.success() {
            bail!("load generator failed ({status})");
        }
        drop(servers);

        separate(&kes_bin, &loadgen_bin, &dir, &loadgen_args)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The open loop again with the servers on a core of their own (one tokio worker, CPU 1)
/// and the generator on CPU 0, as when clients run on other machines.
fn separate(kes_bin: &Path, loadgen_bin: &Path, dir: &Path, loadgen_args: &[String]) -> Result<()> {
    if !taskset_works() {
        eprintln!("==> taskset is not available: no run on separate cores");
        return Ok(());
    }
    let servers = start_servers(kes_bin, loadgen_bin, &dir.join("isolated"), Some("1"))?;
    let mut args = servers.args.clone();
    args.extend(loadgen_args.iter().cloned());
    args.extend(["--open-only".into(), "--separate-cores".into()]);
    // The generator polls its core; at the highest CFS weight where permitted (`nice`
    // only warns otherwise), kernel threads that wake on CPU 0 interrupt it for less time.
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "-20", "taskset", "-c", "0"])
        .arg(loadgen_bin)
        .args(&args);
    // One worker for the closed loops (two on one core would wait for each other's time
    // slices); the open loop runs on a thread and runtime of its own.
    cmd.env("TOKIO_WORKER_THREADS", "1");
    let status = cmd.status().context("failed to run the load generator")?;
    if !status.success() {
        bail!("load generator failed ({status})");
    }
    drop(servers);
    Ok(())
}

/// A started kes-server and bare server, and the `loadgen run` arguments that describe them.
struct Servers {
    args: Vec<String>,
    _kes: Guard,
    _bare: Guard,
}

/// Starts `kes-server --dev` and the bare server, each under `taskset -c CPU` with one tokio
/// worker when `cpu` is given, and waits until both are ready.
fn start_servers(
    kes_bin: &Path,
    loadgen_bin: &Path,
    dir: &Path,
    cpu: Option<&str>,
) -> Result<Servers> {
    std::fs::create_dir_all(dir)?;
    let placed = |program: &Path, args: &[String]| -> Command {
        let mut cmd = match cpu {
            None => with_nofile(program, args),
            Some(cpu) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", cpu]).arg(program).args(args);
                cmd.env("TOKIO_WORKER_THREADS", "1");
                cmd
            }
        };
        cmd.stdin(Stdio::null());
        cmd
    };
    // kes-server --dev: stdout (banner, then one audit line per request) to a file.
    let kes_out = dir.join("kes.out");
    let started = Instant::now();
    let mut kes = placed(
        kes_bin,
        &["--dev".into(), "--addr".into(), "127.0.0.1:0".into()],
    )
    .stdout(std::fs::File::create(&kes_out)?)
    .stderr(std::fs::File::create(dir.join("kes.err"))?)
    .spawn()
    .context("failed to start kes-server")?;
    let lines = wait_for_line(&kes_out, "=> Server is up and running...", &mut kes)?;
    let ready = started.elapsed();
    let kes = Guard(kes);
    let addr = banner_value(&lines, "API")?
        .trim_start_matches("· https://")
        .to_owned();
    let cert = banner_value(&lines, "Client")?
        .trim_start_matches("cert=")
        .to_owned();
    let key = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("key="))
        .context("no client key in the banner")?
        .to_owned();
    let ca = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("ca="))
        .context("no server certificate in the banner")?
        .to_owned();

    // The bare server.
    let bare_cert = dir.join("bare.crt");
    let bare_started = Instant::now();
    let mut bare = placed(
        loadgen_bin,
        &[
            "bare".into(),
            "--cert-out".into(),
            bare_cert.display().to_string(),
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .context("failed to start the bare server")?;
    let mut first = String::new();
    BufReader::new(bare.stdout.take().context("bare stdout")?).read_line(&mut first)?;
    let bare_ready = bare_started.elapsed();
    let bare = Guard(bare);
    let bare_addr = first
        .trim()
        .strip_prefix("ADDR ")
        .with_context(|| format!("unexpected bare server output '{first}'"))?
        .to_owned();

    std::thread::sleep(Duration::from_secs(1));
    let (kes_pid, bare_pid) = (kes.0.id(), bare.0.id());
    let (kes_rss, bare_rss) = (rss_kb(kes_pid), rss_kb(bare_pid));
    eprintln!(
        "==> kes-server ready in {ready:?} on {addr} (idle RSS {kes_rss} kB); bare server on {bare_addr}{}",
        cpu.map_or(String::new(), |c| format!(
            " (both on CPU {c}, one worker thread)"
        ))
    );
    let args: Vec<String> = vec![
        "run".into(),
        "--kes".into(),
        addr,
        "--kes-ca".into(),
        ca,
        "--kes-pid".into(),
        kes_pid.to_string(),
        "--bare".into(),
        bare_addr,
        "--bare-ca".into(),
        bare_cert.display().to_string(),
        "--bare-pid".into(),
        bare_pid.to_string(),
        "--cert".into(),
        cert,
        "--key".into(),
        key,
        "--ready-ms".into(),
        format!("{:.1}", ready.as_secs_f64() * 1000.0),
        "--bare-ready-ms".into(),
        format!("{:.1}", bare_ready.as_secs_f64() * 1000.0),
        "--idle-rss-kb".into(),
        kes_rss.to_string(),
        "--bare-idle-rss-kb".into(),
        bare_rss.to_string(),
    ];
    Ok(Servers {
        args,
        _kes: kes,
        _bare: bare,
    })
}

/// Whether `taskset` runs here and there are at least two CPUs.
fn taskset_works() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && Command::new("taskset")
            .args(["-c", "0", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
