//! A component that misbehaves on purpose (see ../README.md).

use aethex_logic::*;

pub struct Hostile;

fn boom(hook: &str) -> ! {
    panic!("hostile component: {hook} traps on purpose")
}

impl Logic for Hostile {
    fn registration() -> Registration {
        Registration {
            hooks: vec![Hook::BeforeSave, Hook::BeforeScore, Hook::BeforeAchievement, Hook::BeforeTicket, Hook::AfterEvents],
            rpcs: vec!["spin".into(), "bomb".into(), "trap".into(), "ok".into()],
            rooms: true,
        }
    }
    fn before_save(_: Context, _: SaveWrite) -> SaveVerdict {
        boom("before-save")
    }
    fn before_score(_: Context, _: ScoreSubmit) -> ScoreVerdict {
        boom("before-score")
    }
    fn before_achievement(_: Context, _: AchievementProgress) -> ProgressVerdict {
        boom("before-achievement")
    }
    fn before_ticket(_: Context, _: Ticket) -> TicketVerdict {
        boom("before-ticket")
    }
    fn after_event(_: Context, _: Event) {
        boom("after-event")
    }
    fn rpc(_: Context, name: String, payload: String) -> Result<String, String> {
        match name.as_str() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                // Reserves without touching the memory: only the memory limit stops it.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(Vec::with_capacity(16 << 20));
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => boom("rpc trap"),
            _ => Ok(payload),
        }
    }
    /// A player whose data says `"spam": true` makes the join send room messages until
    /// the relay refuses one; the refusal says how many went.
    fn room_join(_: String, player_data: String) -> Result<(), String> {
        if !player_data.contains("\"spam\"") {
            return Ok(());
        }
        for sent in 0..100_000u32 {
            if let Err(e) = send_room_message(None, "spam", "[]") {
                return Err(format!("sent {sent}: {e}"));
            }
        }
        Err("never refused".into())
    }
    fn room_tick(_: u64, _: Vec<PlayerFields>) -> TickOutput {
        boom("room tick")
    }
}

aethex_logic::export!(Hostile);
