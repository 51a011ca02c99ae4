//! Part `pipeline`: the build pipeline on every core against its steps alone.

use crate::prelude::*;

/// Part `pipeline`: `aethex_cdn::bench::pipeline` (the build's steps alone on one core each
/// vs the pipeline on every core) over a generated ~`mib` MiB mixed build.
pub(crate) fn bench_pipeline(mib: u64) -> anyhow::Result<Value> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("build");
    write_builds(&plan_build(mib << 20, 11), &dir, None)?;
    let b = aethex_cdn::bench::pipeline(&dir, &aethex_cdn::BuildOptions::default(), 3)?;
    println!(
        "\npipeline: {} files, {:.1} MiB, {} chunks, zstd {}; alone (1 core each): read {:.3} s  chunk {:.3} s  hash {:.3} s  compress {:.3} s  sum {:.3} s ({:.0} MiB/s)",
        b.files,
        b.bytes as f64 / MIB,
        b.chunks,
        b.zstd_level,
        b.read_s,
        b.chunk_s,
        b.hash_s,
        b.compress_s,
        b.steps_sum_s,
        b.serial_mib_s
    );
    println!(
        "pipeline ({} cores): {:.3} s ({:.0} MiB/s){}  = {:.1}% of sum/cores (goal >= 80%)",
        b.cores,
        b.pipeline_s,
        b.pipeline_mib_s,
        b.pipeline_cpu_s.map(|c| format!(", used {c:.2} CPU-s = {:.2} cores", c / b.pipeline_s)).unwrap_or_default(),
        b.efficiency * 100.0
    );
    let mut v = serde_json::to_value(&b)?;
    v["goal"] = json!(0.8);
    Ok(v)
}
