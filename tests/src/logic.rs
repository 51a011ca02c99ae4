//! The game logic components the tests deploy (`sdk/logic/example` and `tests/logic`), built
//! for wasm32-wasip2 by `scripts/build-logic.sh` (the test command runs it first; a test run
//! on its own runs it when a component is missing).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::edge_spin::{repo_root, target_dir};

static BUILD: Mutex<()> = Mutex::new(());

/// The bytes of `aethex_logic_<name>.wasm`: `example`, `hostile`, `noop` or `other_version`.
pub fn component(name: &str) -> Vec<u8> {
    let path = component_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn component_path(name: &str) -> PathBuf {
    let target = target_dir();
    let wasm = target.join(format!("wasm32-wasip2/release/aethex_logic_{name}.wasm"));
    let _one = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !wasm.is_file() {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/build-logic.sh"))
            .env("CARGO_TARGET_DIR", &target)
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/build-logic.sh");
        assert!(status.success(), "scripts/build-logic.sh failed");
    }
    wasm
}
