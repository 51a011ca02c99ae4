//! A synthetic game build for the DLC parts (seeded: incompressible assets, JSON tables, level records, small scripts, large packs) and scattered edits of it.

use crate::prelude::*;

pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// splitmix64: fast, seeded, the same bytes on every machine.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Log-uniform in `lo..hi` (as many small values as large ones per doubling).
    pub(crate) fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        ((lo as f64) * (hi as f64 / lo as f64).powf(self.unit())) as u64
    }
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// What a generated file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Incompressible: compressed textures, audio, video.
    Random,
    /// JSON-lines game tables and scripts (zstd 3 keeps ~26 % of 64 KiB chunks).
    Text,
    /// Binary structured data: 32-byte mesh/level records (zstd 3 keeps ~56 %).
    Records,
    /// A pack file: entries of the three kinds above behind small headers.
    Pack,
}

/// Words of the generated text (JSON tables, scripts).
pub(crate) static WORDS: std::sync::LazyLock<Vec<&str>> = std::sync::LazyLock::new(|| {
    "iron sword shield dawn shadow fire ice storm ancient cursed blessed dragon wolf raven knight mage rogue potion \
     health mana stamina quest village castle forest cave river mountain gold silver bronze leather cloth plate \
     ring amulet scroll tome arrow bow staff dagger axe hammer the of and a to with from deals damage heals grants \
     bonus against undead beasts for seconds when equipped rare epic legendary common uncommon crafted looted \
     merchant blacksmith"
        .split_whitespace()
        .collect()
});

pub(crate) fn text_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::with_capacity(len + 256);
    let w = |rng: &mut Rng| WORDS[rng.below(WORDS.len() as u64) as usize];
    while out.len() < len {
        let id = rng.below(1_000_000);
        let _ = write!(
            out,
            "{{\"id\":{id},\"name\":\"{}_{}_{}\",\"kind\":\"{}\",\"level\":{},\"weight\":{}.{:02},\"tags\":[\"{}\",\"{}\"],\"desc\":\"",
            w(rng),
            w(rng),
            w(rng),
            w(rng),
            rng.below(60),
            rng.below(40),
            rng.below(100),
            w(rng),
            w(rng)
        );
        for i in 0..4 + rng.below(12) {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(w(rng).as_bytes());
        }
        out.extend_from_slice(b"\"}\n");
    }
    out.truncate(len);
    out
}

pub(crate) fn record_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let (mut id, mut x, mut y, mut z) = (rng.below(1 << 20) as u32, 0i32, 0i32, 0i32);
    while out.len() < len {
        id = id.wrapping_add(1);
        x = x.wrapping_add(rng.below(512) as i32 - 256);
        y = y.wrapping_add(rng.below(128) as i32 - 64);
        z = z.wrapping_add(rng.below(512) as i32 - 256);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(rng.below(12) as u16).to_le_bytes());
        out.extend_from_slice(&(u16::from(rng.below(16) == 0)).to_le_bytes());
        for v in [x, y, z] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for _ in 0..3 {
            out.extend_from_slice(&(rng.below(2048) as i16 - 1024).to_le_bytes());
        }
        out.push(rng.below(16) as u8);
        out.extend_from_slice(&[0u8; 5]);
    }
    out.truncate(len);
    out
}

/// `len` bytes of `kind`, from `rng`.
pub(crate) fn content(kind: Kind, rng: &mut Rng, len: usize) -> Vec<u8> {
    match kind {
        Kind::Random => {
            let mut v = vec![0u8; len];
            rng.fill(&mut v);
            v
        }
        Kind::Text => text_bytes(rng, len),
        Kind::Records => record_bytes(rng, len),
        Kind::Pack => {
            let mut out = Vec::with_capacity(len);
            let mut entry = 0u32;
            while out.len() < len {
                let size = rng.log_uniform(64 << 10, 8 << 20) as usize;
                let mut header = [0u8; 64];
                header[..4].copy_from_slice(b"PAKE");
                header[4..8].copy_from_slice(&entry.to_le_bytes());
                header[8..16].copy_from_slice(&(size as u64).to_le_bytes());
                let name = format!("{}/{}_{entry}", WORDS[rng.below(WORDS.len() as u64) as usize], WORDS[rng.below(WORDS.len() as u64) as usize]);
                let n = name.len().min(48);
                header[16..16 + n].copy_from_slice(&name.as_bytes()[..n]);
                out.extend_from_slice(&header);
                out.extend(content(pack_entry_kind(rng), rng, size));
                entry += 1;
            }
            out.truncate(len);
            out
        }
    }
}

/// A pack entry's content: 55 % compressed assets, 30 % records, 15 % text.
pub(crate) fn pack_entry_kind(rng: &mut Rng) -> Kind {
    match rng.below(100) {
        0..=54 => Kind::Random,
        55..=84 => Kind::Records,
        _ => Kind::Text,
    }
}

pub(crate) struct GenFile {
    pub(crate) path: String,
    pub(crate) kind: Kind,
    pub(crate) size: usize,
    pub(crate) seed: u64,
}

/// A game build of about `total` bytes: ~30 % incompressible assets (128 KiB - 6 MiB),
/// ~14 % JSON tables (256 KiB - 12 MiB), ~11 % level records (512 KiB - 16 MiB), ~0.4 %
/// small scripts (1 - 48 KiB, 300 per GiB) and the rest in 3 large pack files.
pub(crate) fn plan_build(total: u64, seed: u64) -> Vec<GenFile> {
    let mut rng = Rng::new(seed);
    let mut files = Vec::new();
    let mut used = 0u64;
    let small = ((300 * total) >> 30).max(20);
    for n in 0..small {
        let size = rng.log_uniform(1 << 10, 48 << 10);
        files.push(GenFile {
            path: format!("scripts/{}/s{n:04}.lua", WORDS[(n % 10) as usize]),
            kind: Kind::Text,
            size: size as usize,
            seed: rng.next(),
        });
        used += size;
    }
    let mut bucket = |files: &mut Vec<GenFile>, rng: &mut Rng, budget: u64, lo: u64, hi: u64, kind: Kind, name: &dyn Fn(usize) -> String| {
        let mut sum = 0u64;
        let mut i = 0;
        while sum < budget {
            let size = rng.log_uniform(lo, hi).min(budget - sum).max(1);
            files.push(GenFile { path: name(i), kind, size: size as usize, seed: rng.next() });
            sum += size;
            i += 1;
        }
        used += sum;
    };
    let ext = ["ktx2", "ogg", "bk2"];
    bucket(&mut files, &mut rng, total * 30 / 100, 128 << 10, 6 << 20, Kind::Random, &|i| format!("assets/{}/a{i:04}.{}", ext[i % 3], ext[i % 3]));
    bucket(&mut files, &mut rng, total * 14 / 100, 256 << 10, 12 << 20, Kind::Text, &|i| format!("data/tables/t{i:03}.json"));
    bucket(&mut files, &mut rng, total * 11 / 100, 512 << 10, 16 << 20, Kind::Records, &|i| format!("data/levels/l{i:03}.bin"));
    let rest = total.saturating_sub(used);
    for i in 0..3 {
        files.push(GenFile { path: format!("packs/pak{i}.pak"), kind: Kind::Pack, size: (rest / 3) as usize, seed: rng.next() });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Overwrite,
    Insert,
    Delete,
}

#[derive(Clone, Copy)]
pub(crate) struct Edit {
    pub(crate) at: usize,
    pub(crate) len: usize,
    pub(crate) op: Op,
    pub(crate) seed: u64,
}

/// Scattered edits totalling `fraction` of the build's bytes: positions uniform over all
/// bytes, sizes log-uniform 16 B - 64 KiB, 45 % overwrites, 35 % insertions (shifting
/// the rest of the file), 20 % deletions. Per file, sorted by offset.
pub(crate) fn plan_edits(files: &[GenFile], fraction: f64, seed: u64) -> Vec<Vec<Edit>> {
    let mut rng = Rng::new(seed);
    let total: u64 = files.iter().map(|f| f.size as u64).sum();
    let mut ends = Vec::with_capacity(files.len());
    let mut acc = 0u64;
    for f in files {
        acc += f.size as u64;
        ends.push(acc);
    }
    let target = (total as f64 * fraction) as u64;
    let mut edits: Vec<Vec<Edit>> = files.iter().map(|_| Vec::new()).collect();
    let mut planned = 0u64;
    while planned < target {
        let p = rng.below(total);
        let fi = ends.partition_point(|&e| e <= p);
        let at = (p - (ends[fi] - files[fi].size as u64)) as usize;
        let op = match rng.below(100) {
            0..=44 => Op::Overwrite,
            45..=79 => Op::Insert,
            _ => Op::Delete,
        };
        let len = rng.log_uniform(16, 64 << 10) as usize;
        edits[fi].push(Edit { at, len, op, seed: rng.next() });
        planned += len as u64;
    }
    for e in &mut edits {
        e.sort_by_key(|e| e.at);
    }
    edits
}

#[derive(Default, Clone, Copy)]
pub(crate) struct EditTotals {
    pub(crate) overwrites: u64,
    pub(crate) inserts: u64,
    pub(crate) deletes: u64,
    pub(crate) overwritten: u64,
    pub(crate) inserted: u64,
    pub(crate) deleted: u64,
    pub(crate) files: u64,
}

impl EditTotals {
    pub(crate) fn count(&self) -> u64 {
        self.overwrites + self.inserts + self.deletes
    }
    pub(crate) fn bytes(&self) -> u64 {
        self.overwritten + self.inserted + self.deleted
    }
    pub(crate) fn add(&mut self, o: &EditTotals) {
        self.overwrites += o.overwrites;
        self.inserts += o.inserts;
        self.deletes += o.deletes;
        self.overwritten += o.overwritten;
        self.inserted += o.inserted;
        self.deleted += o.deleted;
        self.files += o.files;
    }
}

/// `data` with `edits` (sorted by offset in `data`) applied; new bytes are of `kind`.
pub(crate) fn apply_edits(data: &[u8], edits: &[Edit], kind: Kind, t: &mut EditTotals) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + edits.iter().map(|e| e.len).sum::<usize>());
    let mut pos = 0;
    for e in edits {
        let at = e.at.clamp(pos, data.len());
        out.extend_from_slice(&data[pos..at]);
        pos = at;
        let mut rng = Rng::new(e.seed);
        let kind = if kind == Kind::Pack { pack_entry_kind(&mut rng) } else { kind };
        match e.op {
            Op::Overwrite => {
                let n = e.len.min(data.len() - pos);
                out.extend(content(kind, &mut rng, n));
                pos += n;
                t.overwrites += 1;
                t.overwritten += n as u64;
            }
            Op::Insert => {
                out.extend(content(kind, &mut rng, e.len));
                t.inserts += 1;
                t.inserted += e.len as u64;
            }
            Op::Delete => {
                let n = e.len.min(data.len() - pos);
                pos += n;
                t.deletes += 1;
                t.deleted += n as u64;
            }
        }
    }
    out.extend_from_slice(&data[pos..]);
    t.files += u64::from(!edits.is_empty());
    out
}

/// Writes `files` under `old` (and, with `edits`, the edited build under `new`) on two
/// threads, then gives every file and folder of both trees the same mtime (so tools that
/// record metadata, like casync, see unchanged files as unchanged).
pub(crate) fn write_builds(files: &[GenFile], old: &std::path::Path, new: Option<(&std::path::Path, &[Vec<Edit>])>) -> anyhow::Result<EditTotals> {
    let next = AtomicU64::new(0);
    let totals = Mutex::new(EditTotals::default());
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(f) = files.get(i) else { return Ok(()) };
                        let data = content(f.kind, &mut Rng::new(f.seed), f.size);
                        write_file(&old.join(&f.path), &data)?;
                        if let Some((new, edits)) = new {
                            let mut t = EditTotals::default();
                            let edited = apply_edits(&data, &edits[i], f.kind, &mut t);
                            write_file(&new.join(&f.path), &edited)?;
                            totals.lock().unwrap().add(&t);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    let when = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    set_mtimes(old, when)?;
    if let Some((new, _)) = new {
        set_mtimes(new, when)?;
    }
    Ok(totals.into_inner().unwrap())
}

pub(crate) fn write_file(p: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(p.parent().context("parent")?)?;
    std::fs::write(p, data).with_context(|| format!("writing {}", p.display()))
}

pub(crate) fn set_mtimes(dir: &std::path::Path, when: std::time::SystemTime) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            set_mtimes(&e.path(), when)?;
        } else {
            std::fs::File::options().write(true).open(e.path())?.set_modified(when)?;
        }
    }
    std::fs::File::open(dir)?.set_modified(when)?;
    Ok(())
}
