//! schemathesis (PyPI) fuzzes every operation of origin's OpenAPI document on the debug
//! build the tests run: the player's routes with a player's token, the others with a
//! signed-in developer who owns the game. No input may answer a 5xx,
//! drop the connection or make the server panic, and every answer must be one the
//! document lists for that operation (status code, content type, and a body matching the
//! response schema). The budget is bounded (`--max-time`);
//! each run draws a new seed, printed in the output, so runs explore different inputs and
//! a failure can be replayed with `--seed`.
//!
//! schemathesis is installed outside the clone by `scripts/install-tools.sh`
//! (`$AETHEX_SCHEMATHESIS_DIR`).

use std::path::PathBuf;
use std::process::Command;

use aethex_tests::Origin;

const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// What every answer is checked against.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// Routes that would end the session schemathesis signs in with, or take the developer
/// out of the organization: fuzzing them would only turn every later call into a 401.
const EXCLUDED: &str = "(/auth/logout|/auth/logout-all|/auth/me$|/auth/password$|/ban$|/members)";

/// The routes a player's token of a game reaches.
const PLAYER_ROUTES: &str =
    "^/api/v1/(saves|leaderboards/|achievements|stats|analytics/(events|crashes|consent)|experiments|matchmaking/tickets|friends|share|dlc/)";

/// One schemathesis run against `url` with `token`, for `secs` seconds; fails the test on
/// any finding.
async fn fuzz(url: &str, token: &str, secs: &str, filter: &[&str]) {
    let dir = schemathesis_dir();
    // schemathesis keeps a cache in `.schemathesis/` under its working folder: not the clone.
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.current_dir(work.path())
        .arg(dir.join("bin/st"))
        .args(["run", url, "--header", &format!("Authorization: Bearer {token}")])
        // One worker: with two, schemathesis 4.32.5 now and then crashes itself (a KeyError
        // in hypothesis' lambda-description cache, shared between its threads) while it
        // derives negative cases from a `pattern`. One worker also draws more cases here.
        .args(["--checks", CHECKS, "--max-examples", "10", "--workers", "1", "--no-shrink"])
        .args(["--max-time", secs, "--request-timeout", "10"])
        .args(filter)
        .env("PYTHONPATH", &dir);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run schemathesis")).await.unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "schemathesis found failures (see above)");
    assert!(text.contains(" passed"), "no summary of passed cases: {text}");
}

fn schemathesis_dir() -> PathBuf {
    std::env::var_os("AETHEX_SCHEMATHESIS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let tools = std::env::var_os("AETHEX_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/aethex-tools"));
        tools.join(format!("schemathesis-{SCHEMATHESIS_VERSION}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_on_any_operation() {
    let dir = schemathesis_dir();
    assert!(dir.join("bin/st").exists(), "schemathesis is not installed in {}: run scripts/install-tools.sh", dir.display());
    // Generous auth limits: the fuzzer signs in and registers thousands of times.
    let origin =
        Origin::start(&[("AETHEX_AUTH__RATE_LIMIT_PER_IP_PER_MINUTE", "1000000"), ("AETHEX_AUTH__RATE_LIMIT_PER_ACCOUNT_PER_MINUTE", "1000000")]);
    let game = origin.game("fuzz-game").await;
    let player = game.player().await;
    player.saves().save("slot1", serde_json::json!({"level": 1})).await.unwrap();
    let token = game.developer.token().unwrap();
    let budget = std::env::var("AETHEX_FUZZ_SECS").unwrap_or_else(|_| "90".into());

    let url = format!("{}/api/v1/openapi.json", origin.url);
    // First the player's routes with the player's token, then every other operation as
    // the developer (who may erase the player). A developer's token names no game, so the
    // player's routes would refuse it before reading their input.
    let half = (budget.parse::<u64>().unwrap_or(90) / 2).max(10).to_string();
    fuzz(&url, &player.token().unwrap(), &half, &["--exclude-path-regex", EXCLUDED, "--include-path-regex", PLAYER_ROUTES]).await;
    fuzz(&url, &token, &budget, &["--exclude-path-regex", &format!("{EXCLUDED}|{PLAYER_ROUTES}")]).await;
    // The server is still the same process and answers.
    let health = reqwest::get(format!("{}/healthz", origin.url)).await.expect("origin answers after the fuzzing");
    assert_eq!(health.status(), 200);
    assert!(aethex_tests::rss_kib(origin.pid()).is_some(), "origin is still running");
}
