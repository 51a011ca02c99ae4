//! Crash groups: the signature that puts crashes of the same code together.

/// A crash group's signature: the blake3 (first 16 hex digits) of its top
/// [`SIGNATURE_FRAMES`](aethex_protocol::analytics::SIGNATURE_FRAMES) frames, each normalized so the same code crashing groups together
/// across builds and machines: addresses (`0x…`), line and column numbers and whitespace
/// runs are dropped. `None` when the trace has no frames.
pub fn signature(stack_trace: &str) -> Option<String> {
    let frames: Vec<String> =
        stack_trace.lines().map(normalize_frame).filter(|f| !f.is_empty()).take(aethex_protocol::analytics::SIGNATURE_FRAMES).collect();
    if frames.is_empty() {
        return None;
    }
    let hash = blake3::hash(frames.join("\n").as_bytes());
    Some(hash.to_hex()[..16].to_string())
}

fn normalize_frame(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(hex) = rest.strip_prefix("0x") {
            rest = hex.trim_start_matches(|c: char| c.is_ascii_hexdigit());
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        // `:123` and `:123:45` (line, column) go.
        if c == ':' && rest[1..].starts_with(|d: char| d.is_ascii_digit()) {
            rest = rest[1..].trim_start_matches(|d: char| d.is_ascii_digit());
            continue;
        }
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out.trim().to_string()
}

#[cfg(test)]
mod crash_tests {
    use super::signature as crash_signature;

    #[test]
    fn the_same_code_crashing_groups_together() {
        let a =
            "at Player::take_damage (player.gd:120)\n  at Enemy::attack 0x7ff3a2b1 (enemy.gd:45:3)\nat Main::_process (main.gd:9)\nat Engine::loop";
        let b = "at Player::take_damage (player.gd:121)\n  at Enemy::attack 0x55aa (enemy.gd:47:1)\nat   Main::_process (main.gd:10)\nat Other";
        let c = "at Player::heal (player.gd:120)\nat Enemy::attack (enemy.gd:45)\nat Main::_process (main.gd:9)";
        assert_eq!(crash_signature(a), crash_signature(b), "lines, addresses, spacing and deeper frames do not matter");
        assert_ne!(crash_signature(a), crash_signature(c));
        assert_eq!(crash_signature("\n \n"), None);
        assert_eq!(crash_signature(a).unwrap().len(), 16);
    }
}
