//! A component for `aethex:logic@0.2.0`, a version servers do not run (see ../README.md).

wit_bindgen::generate!({
    inline: "
        package aethex:logic@0.2.0;
        interface types {
            enum hook { before-save }
            record registration { hooks: list<hook>, rpcs: list<string>, rooms: bool }
        }
        interface hooks {
            use types.{registration};
            init: func() -> registration;
        }
        world game-logic {
            export hooks;
        }
    ",
});

struct Future;

impl exports::aethex::logic::hooks::Guest for Future {
    fn init() -> aethex::logic::types::Registration {
        aethex::logic::types::Registration { hooks: vec![], rpcs: vec![], rooms: false }
    }
}

export!(Future);
