//! Parts `device` and `email`: device logins against a bare axum route, email logins against the argon2id bound.

use crate::prelude::*;

/// Part 1, device login vs hello world: `--rounds` alternating pairs of runs (hello world,
/// then logins), the median of the pairs' ratios reported. Single runs of either swung by 20-30 %
/// between runs on a 2-core VM, so one pair could not tell the ratio.
pub(crate) async fn device(b: &Bench<'_>, report: &mut Map<String, Value>) -> anyhow::Result<()> {
    let Bench { args, origin, game, http } = *b;
    let (mut hello, hello_url) = start_hello()?;
    // A pool of existing guests so each request is a login, not a sign-up.
    let devices: Arc<Vec<String>> = Arc::new((0..512).map(|i| format!("bench-device-{i:08}-xxxxxxxx")).collect());
    for d in devices.iter() {
        game.client().auth().login_device(d).await?;
    }
    let mut rounds = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let h = http.clone();
        let u = format!("{hello_url}/hello");
        let base = load(args.secs, args.concurrency, move |_, _| h.post(&u).json(&json!({"device_id": "x"}))).await;
        let (h, u, ck, dv) = (http.clone(), format!("{}/api/v1/auth/device", origin.url), game.client_key.clone(), devices.clone());
        let dev = load(args.secs, args.concurrency, move |w, i| {
            let d = &dv[(w * 7919 + i as usize) % dv.len()];
            h.post(&u).header("x-aethex-client-key", &ck).json(&json!({"device_id": d}))
        })
        .await;
        let ratio = dev.rps() / base.rps();
        println!(
            "round {round}: hello world {:>7.0} req/s (p99 {:.2} ms); device login (existing guest) {:>6.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}  = {:.1}%",
            base.rps(),
            base.pct(0.99),
            dev.rps(),
            dev.pct(0.5),
            dev.pct(0.99),
            dev.errors,
            ratio * 100.0
        );
        rounds.push(json!({"hello_rps": base.rps(), "device_login_rps": dev.rps(), "ratio": ratio, "p99_ms": dev.pct(0.99), "errors": dev.errors}));
    }
    let _ = hello.kill();
    let mut ratios: Vec<f64> = rounds.iter().filter_map(|r| r["ratio"].as_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "device login: median {:.1}% of hello world over {} rounds (range {:.1}-{:.1}%; goal >= 25%)",
        median * 100.0,
        ratios.len(),
        ratios[0] * 100.0,
        ratios[ratios.len() - 1] * 100.0
    );
    let (h, u, ck) = (http.clone(), format!("{}/api/v1/auth/device", origin.url), game.client_key.clone());
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let signup = load(args.secs, args.concurrency, move |w, i| {
        h.post(&u).header("x-aethex-client-key", &ck).json(&json!({"device_id": format!("new-{run_id}-{w}-{i}")}))
    })
    .await;
    let last_hello = rounds.last().and_then(|r| r["hello_rps"].as_f64()).unwrap_or(f64::NAN);
    println!(
        "device sign-up (new guest):    {:>9.0} req/s  p50 {:.2} ms  p99 {:.2} ms  = {:.1}% of the last round's hello world",
        signup.rps(),
        signup.pct(0.5),
        signup.pct(0.99),
        signup.rps() / last_hello * 100.0
    );
    report.insert("device_login".into(), json!({"ratio": median, "rounds": rounds, "signup_rps": signup.rps()}));
    Ok(())
}

/// Part 2, email login vs the argon2id bound.
pub(crate) async fn email(b: &Bench<'_>, report: &mut Map<String, Value>) -> anyhow::Result<()> {
    let Bench { args, origin, game, http } = *b;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let params = argon2::Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon.hash_password_into(b"warm-up", b"saltsaltsaltsalt", &mut out).map_err(|e| anyhow::anyhow!("{e}"))?;
    let n = 20;
    let t = Instant::now();
    for i in 0..n {
        argon.hash_password_into(format!("password-{i}").as_bytes(), b"saltsaltsaltsalt", &mut out).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let one_hash = t.elapsed().as_secs_f64() / n as f64;
    let bound = cores as f64 / one_hash;
    let mut users = Vec::new();
    for i in 0..64 {
        let email = format!("bench-{i}-{}@example.com", uuid::Uuid::new_v4().simple());
        game.client().auth().register(&email, "bench-password-1", &format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..12])).await?;
        users.push(email);
    }
    let users = Arc::new(users);
    let (h, u, ck, us) = (http.clone(), format!("{}/api/v1/auth/login", origin.url), game.client_key.clone(), users.clone());
    let conc = (cores * 4).max(8);
    let login = load(args.secs.max(5), conc, move |w, i| {
        h.post(&u).header("x-aethex-client-key", &ck).json(&json!({"email": us[(w + i as usize * conc) % us.len()], "password": "bench-password-1"}))
    })
    .await;
    let ratio2 = login.rps() / bound;
    println!("\nargon2id one hash (m=19 MiB, t=2, p=1): {:.1} ms -> bound {cores} cores / hash = {:.1} logins/s", one_hash * 1000.0, bound);
    println!(
        "email login:                   {:>9.1} req/s  p50 {:.1} ms  p99 {:.1} ms  errors {}  = {:.1}% of the argon2id bound (goal >= 90%)",
        login.rps(),
        login.pct(0.5),
        login.pct(0.99),
        login.errors,
        ratio2 * 100.0
    );
    report.insert(
        "email_login".into(),
        json!({"hash_ms": one_hash * 1000.0, "bound_rps": bound, "login_rps": login.rps(), "ratio": ratio2, "p99_ms": login.pct(0.99)}),
    );
    Ok(())
}
