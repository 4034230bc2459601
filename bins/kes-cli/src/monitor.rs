//! `log`, `status` and `metric`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use kes_client::{ApiDescription, Client, ClientBuilder, Metrics, Status};
use serde::Serialize;

use crate::cli::{ConnArgs, LogArgs, MetricArgs, StatusArgs};
use crate::conn::{Env, client};
use crate::output::{Out, format_bytes, go_duration, parse_duration};

/// `log [--audit|--error]`.
pub(crate) async fn log(args: LogArgs, env: Env<'_>) -> Result<()> {
    let out = Out::new(&args.out);
    let client = client(&args.conn, None, None, env)?;
    if args.error {
        let mut stream = client
            .error_log()
            .await
            .context("failed to connect to error log")?;
        while let Some(event) = stream.next().await {
            let event = event?;
            if out.json {
                out.json_line(&event)?;
            } else {
                out.line(event.message.trim_end_matches('\n'))?;
            }
        }
        return Ok(());
    }
    let mut stream = client
        .audit_log()
        .await
        .context("failed to connect to audit log")?;
    if !out.json {
        out.line(&out.underline(
            "Time        Status    Identity                IP                 API                               Latency",
        ))?;
    }
    while let Some(event) = stream.next().await {
        let event = event?;
        if out.json {
            out.json_line(&event)?;
            continue;
        }
        let t = event.time.get();
        let time = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
        let code = event.response.code;
        let status = format!("{code:<10}");
        let status = if code >= 400 {
            out.red(&status)
        } else {
            out.green(&status)
        };
        let latency = go_duration(Duration::from_nanos(
            u64::try_from(event.response.time).unwrap_or(0),
        ));
        out.line(&format!(
            "{time:<12}{status}{:<24}{:<19}{:<34}{latency}",
            shorten(&event.request.identity, 20),
            shorten(&event.request.ip, 17),
            shorten(&event.request.path, 32),
        ))?;
    }
    Ok(())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The SDK's `State` JSON: durations as Go durations (nanoseconds), uptime in seconds.
#[derive(Serialize)]
struct StateJson<'a> {
    version: &'a str,
    os: &'a str,
    arch: &'a str,
    uptime: u64,
    num_cpu: u64,
    num_cpu_used: u64,
    mem_heap_used: u64,
    mem_stack_used: u64,
    keystore_latency: u64,
    keystore_unreachable: bool,
    keystore_unavailable: bool,
}

impl<'a> StateJson<'a> {
    fn new(s: &'a Status) -> Self {
        StateJson {
            version: &s.version,
            os: &s.os,
            arch: &s.arch,
            uptime: s.uptime,
            num_cpu: s.num_cpu,
            num_cpu_used: s.num_cpu_used,
            mem_heap_used: s.mem_heap_used,
            mem_stack_used: s.mem_stack_used,
            keystore_latency: s.keystore_latency.saturating_mul(1_000_000),
            keystore_unreachable: s.keystore_unreachable,
            keystore_unavailable: s.keystore_unavailable,
        }
    }
}

/// One client per endpoint, so that `status` reports each server.
fn endpoint_clients(conn: &ConnArgs, env: Env<'_>) -> Result<Vec<(String, Client)>> {
    let all = client(conn, None, None, env)?;
    let endpoints = all.endpoints();
    if endpoints.len() == 1 {
        return Ok(endpoints.into_iter().map(|e| (e, all.clone())).collect());
    }
    endpoints
        .into_iter()
        .map(|endpoint| {
            let single = ClientBuilder::new().endpoint(endpoint.clone());
            let single = crate::conn::with_auth(single, conn, None, env)?;
            let c = single.build().map_err(|e| anyhow!("{e}"))?;
            Ok((endpoint, c))
        })
        .collect()
}

/// `status`.
pub(crate) async fn status(args: StatusArgs, env: Env<'_>) -> Result<()> {
    let out = Out::new(&args.out);
    let clients = endpoint_clients(&args.conn, env)?;
    let json = out.json || !out.tty;
    let mut json_values = Vec::new();
    let mut text = String::new();
    for (endpoint, client) in &clients {
        let start = Instant::now();
        let status = client.status().await?;
        let latency = start.elapsed();
        let apis = if args.api {
            Some(client.apis().await?)
        } else {
            None
        };
        if json {
            let encoded = match &apis {
                Some(apis) => kes_types::json::to_vec(apis)?,
                None => kes_types::json::to_vec(&StateJson::new(&status))?,
            };
            json_values.push(String::from_utf8_lossy(&encoded).trim_end().to_owned());
            continue;
        }
        human_status(
            &out,
            &mut text,
            endpoint,
            &status,
            latency,
            apis.as_deref(),
            args.short,
        );
    }
    if json {
        return match json_values.as_slice() {
            [one] => out.line(one),
            many => out.line(&format!("[{}]", many.join(","))),
        };
    }
    out.write(&text)
}

fn human_status(
    out: &Out,
    text: &mut String,
    endpoint: &str,
    status: &Status,
    latency: Duration,
    apis: Option<&[ApiDescription]>,
    short: bool,
) {
    let host = endpoint.strip_prefix("https://").unwrap_or(endpoint);
    text.push_str(&format!("{} {}\n", out.green("●"), out.cyan(host)));
    let label = |l: &str| out.faint(&format!("  {l:<8}"));
    if !short {
        text.push_str(&format!("{} {}\n", label("Version"), status.version));
        text.push_str(&format!("{} {}\n", label("Uptime"), uptime(status.uptime)));
        let latency = Duration::from_millis(u64::try_from(latency.as_millis()).unwrap_or(0));
        text.push_str(&format!("{} {}\n", label("Latency"), go_duration(latency)));
        text.push_str(&format!("{} {}\n", label("OS"), status.os));
        text.push_str(&format!(
            "{} {} {}\n",
            label("CPUs"),
            status.num_cpu_used,
            status.arch
        ));
        text.push_str(&format!("{}\n", label("Memory")));
        text.push_str(&format!(
            "{} {}\n",
            out.faint(&format!("{:>3} {:<6}", "·", "Heap")),
            format_bytes(status.mem_heap_used)
        ));
        text.push_str(&format!(
            "{} {}\n",
            out.faint(&format!("{:>3} {:<6}", "·", "Stack")),
            format_bytes(status.mem_stack_used)
        ));
        if status.keystore_unreachable || status.keystore_unavailable {
            text.push_str(&format!(
                "{} {}\n",
                label("Keystore"),
                out.red("unreachable")
            ));
        } else {
            text.push_str(&format!(
                "{} {}\n",
                label("Keystore"),
                go_duration(Duration::from_millis(status.keystore_latency))
            ));
        }
    }
    if let Some(apis) = apis {
        text.push('\n');
        text.push_str(&format!(
            "  {} {} {}\n",
            out.underline(&format!("{:<7}", "Method")),
            out.underline(&format!("{:<28}", "API")),
            out.underline("Timeout")
        ));
        for api in apis {
            let timeout = if api.timeout > 0 {
                go_duration(Duration::from_secs(u64::try_from(api.timeout).unwrap_or(0)))
            } else {
                "Inf".into()
            };
            text.push_str(&format!("  {:<7} {:<28} {timeout}\n", api.method, api.path));
        }
    }
}

fn uptime(secs: u64) -> String {
    match secs {
        s if s > 86_400 => format!("{} days {} hours", s / 86_400, (s % 86_400) / 3600),
        s if s > 3600 => format!("{} hours", s / 3600),
        s if s > 60 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// `metric`.
pub(crate) async fn metric(args: MetricArgs, env: Env<'_>) -> Result<()> {
    let out = Out::new(&args.out);
    let rate = parse_duration(&args.rate)?;
    if rate < Duration::from_millis(100) {
        return Err(anyhow!("--rate must be at least 100ms"));
    }
    let client = client(&args.conn, None, None, env)?;
    let first = client.metrics().await.context("failed to fetch metrics")?;
    if out.json {
        return out.json_line(&first);
    }
    if !out.tty {
        return out.write(&dashboard(&out, &first, None, rate));
    }
    // Live view: redraw every `rate` until Ctrl-C.
    let mut previous = first;
    out.write("\x1b[?25l\x1b[2J\x1b[H")?;
    out.write(&dashboard(&out, &previous, None, rate))?;
    let result = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(()),
            () = tokio::time::sleep(rate) => {}
        }
        let current = match client.metrics().await {
            Ok(m) => m,
            Err(e) => break Err(anyhow!("failed to fetch metrics: {e}")),
        };
        out.write("\x1b[H\x1b[2J")?;
        out.write(&dashboard(&out, &current, Some(&previous), rate))?;
        previous = current;
    };
    out.write("\x1b[?25h")?;
    result
}

fn dashboard(out: &Out, m: &Metrics, previous: Option<&Metrics>, rate: Duration) -> String {
    let per_sec = |now: u64, before: Option<u64>| -> String {
        match before {
            Some(b) => format!("{:.1}/s", now.saturating_sub(b) as f64 / rate.as_secs_f64()),
            None => "-".into(),
        }
    };
    let mut text = String::new();
    text.push_str(&out.underline("Requests"));
    text.push('\n');
    let rows = [
        ("OK [2xx]", m.request_ok, previous.map(|p| p.request_ok)),
        ("Err [4xx]", m.request_err, previous.map(|p| p.request_err)),
        (
            "Fail [5xx]",
            m.request_fail,
            previous.map(|p| p.request_fail),
        ),
    ];
    let total = m.requests().max(1);
    for (label, value, before) in rows {
        text.push_str(&format!(
            "  {:<10} {:>10} {:>6.1}%  {:>10}\n",
            label,
            value,
            value as f64 * 100.0 / total as f64,
            per_sec(value, before)
        ));
    }
    text.push_str(&format!("  {:<10} {:>10}\n\n", "Active", m.request_active));

    text.push_str(&out.underline("Response Time"));
    text.push('\n');
    let count = m.latency_histogram.last().map_or(0, |(_, c)| *c).max(1);
    let mut below = 0u64;
    for (bound, cumulative) in &m.latency_histogram {
        let n = cumulative.saturating_sub(below);
        below = *cumulative;
        let share = n as f64 / count as f64;
        let bar_len = (share * 40.0).round() as usize;
        text.push_str(&format!(
            "  < {:<7} {:>10} {:>6.1}%  {}\n",
            go_duration(*bound),
            n,
            share * 100.0,
            out.green(&"█".repeat(bar_len))
        ));
    }
    text.push('\n');
    text.push_str(&out.underline("System"));
    text.push('\n');
    text.push_str(&format!(
        "  {:<10} {}\n",
        "Uptime",
        uptime(m.up_time.as_secs())
    ));
    text.push_str(&format!("  {:<10} {}/{}\n", "CPUs", m.usable_cpus, m.cpus));
    text.push_str(&format!("  {:<10} {}\n", "Threads", m.threads));
    text.push_str(&format!(
        "  {:<10} {}\n",
        "Heap",
        format_bytes(m.heap_alloc)
    ));
    text.push_str(&format!(
        "  {:<10} {}\n",
        "Stack",
        format_bytes(m.stack_alloc)
    ));
    text.push_str(&format!(
        "  {:<10} audit {} / error {}\n",
        "Log events", m.audit_events, m.error_events
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_words() {
        assert_eq!(uptime(5), "5 seconds");
        assert_eq!(uptime(125), "2 minutes");
        assert_eq!(uptime(7300), "2 hours");
        assert_eq!(uptime(90_000), "1 days 1 hours");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
