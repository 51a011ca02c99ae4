//! Debian tools the baselines need (casync, nginx, redis-server), installed on first use.

use crate::prelude::*;

/// Where `cmd` is: on PATH, or in /usr/sbin or /sbin (not on a normal user's PATH).
pub(crate) fn find_tool(cmd: &str) -> Option<PathBuf> {
    let out = std::process::Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !p.is_empty() {
        return Some(PathBuf::from(p));
    }
    ["/usr/sbin", "/sbin", "/usr/bin"].iter().map(|d| PathBuf::from(d).join(cmd)).find(|p| p.exists())
}

/// Finds `cmd`, installing the Debian package `package` first when it is missing
/// (`apt-get install -y`; if that fails, `apt-get update` and once more; `sudo -n` when not
/// root). Idempotent: an installed tool is just found. The error says exactly what failed.
pub(crate) fn ensure_tool(cmd: &str, package: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = find_tool(cmd) {
        return Ok(p);
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|v| v.split_whitespace().next() == Some("0")))
        .unwrap_or(false);
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut c = if root {
            std::process::Command::new("apt-get")
        } else {
            let mut c = std::process::Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        let shown = format!("{}apt-get {}", if root { "" } else { "sudo -n " }, args.join(" "));
        println!("  {cmd} not found: {shown}");
        let out = c.args(args).env("DEBIAN_FRONTEND", "noninteractive").output().with_context(|| format!("running `{shown}`"))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::bail!("`{shown}` failed ({}): {}", out.status, tail.join(" | "))
    };
    if let Err(first) = apt(&["install", "-y", package]) {
        println!("  {first}; trying `apt-get update` first");
        apt(&["update"])?;
        apt(&["install", "-y", package])?;
    }
    find_tool(cmd).with_context(|| format!("package {package} installed, but {cmd} is still not found"))
}

/// Free bytes under `dir` (`df -Pk`).
pub(crate) fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse::<u64>().ok().map(|k| k * 1024)
}
