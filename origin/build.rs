//! Fetches the web console's front-end packages (origin/console/package-lock.json:
//! preact, htm, uPlot) with `npm ci` into the build folder, once per lock file, and
//! puts the files the console loads in `$OUT_DIR/console-vendor/`, where
//! `src/console/assets.rs` embeds them in the binary. Without npm (or offline) the
//! build still succeeds: the files are stand-ins and `/console` says what is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: &[(&str, &str)] = &[
    ("preact/dist/preact.module.js", "preact.module.js"),
    ("preact/hooks/dist/hooks.module.js", "hooks.module.js"),
    ("htm/dist/htm.module.js", "htm.module.js"),
    ("uplot/dist/uPlot.esm.js", "uPlot.esm.js"),
    ("uplot/dist/uPlot.min.css", "uPlot.min.css"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let console = manifest.join("console");
    println!("cargo:rerun-if-changed=console/package.json");
    println!("cargo:rerun-if-changed=console/package-lock.json");
    println!("cargo:rerun-if-env-changed=AETHEX_CONSOLE_NPM");
    let npm_dir = out.join("console-npm");
    let vendor = out.join("console-vendor");
    std::fs::create_dir_all(&vendor).expect("console-vendor folder");
    let missing = install(&console, &npm_dir).err();
    let mut problem = missing.clone();
    for (from, to) in FILES {
        let src = npm_dir.join("node_modules").join(from);
        let dst = vendor.join(to);
        if problem.is_none() {
            match std::fs::read_to_string(&src) {
                // The hooks import `preact` by its bare name; the browser loads it by path.
                Ok(text) => std::fs::write(&dst, text.replace("from\"preact\"", "from\"./preact.module.js\"")).expect("vendor file"),
                Err(_) => problem = Some(format!("{} is missing after npm ci", src.display())),
            }
        }
        if problem.is_some() {
            std::fs::write(&dst, format!("/* not built: {} */\n", problem.as_deref().unwrap_or_default())).expect("stand-in file");
        }
    }
    let status = problem.unwrap_or_default();
    if !status.is_empty() {
        println!("cargo:warning=web console assets not built ({status}); /console will say so");
    }
    std::fs::write(out.join("console-status.txt"), status).expect("console status");
}

/// `npm ci` of the console's lock file into `dir`, skipped when `dir` already has it.
fn install(console: &Path, dir: &Path) -> Result<(), String> {
    let lock = std::fs::read(console.join("package-lock.json")).map_err(|e| format!("package-lock.json: {e}"))?;
    if std::fs::read(dir.join("package-lock.json")).ok().as_deref() == Some(lock.as_slice()) && dir.join("node_modules").is_dir() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for f in ["package.json", "package-lock.json"] {
        std::fs::copy(console.join(f), dir.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    let npm = std::env::var("AETHEX_CONSOLE_NPM").unwrap_or_else(|_| "npm".into());
    let out = Command::new(&npm)
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{npm} not runnable: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(dir.join("package-lock.json"));
        return Err(format!("npm ci failed: {}", String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim()));
    }
    Ok(())
}
