//! Hooks that accept at once, and rooms that show every input unchanged: the benchmark's
//! baseline (see ../README.md).

use aethex_logic::*;

pub struct Noop;

impl Logic for Noop {
    fn registration() -> Registration {
        Registration { hooks: vec![Hook::BeforeSave, Hook::BeforeScore], rpcs: vec!["echo".into()], rooms: true }
    }
    fn rpc(_: Context, _name: String, payload: String) -> Result<String, String> {
        Ok(payload)
    }
    fn room_tick(_: u64, inputs: Vec<PlayerFields>) -> TickOutput {
        TickOutput { state: inputs, end: None }
    }
}

aethex_logic::export!(Noop);
