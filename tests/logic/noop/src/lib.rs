//! Hooks that accept at once: the benchmark's baseline (see ../README.md).

use aethex_logic::*;

pub struct Noop;

impl Logic for Noop {
    fn registration() -> Registration {
        Registration { hooks: vec![Hook::BeforeSave, Hook::BeforeScore], rpcs: vec!["echo".into()], rooms: true }
    }
    fn rpc(_: Context, _name: String, payload: String) -> Result<String, String> {
        Ok(payload)
    }
}

aethex_logic::export!(Noop);
