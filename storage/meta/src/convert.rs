//! Moving a metadata directory to the other engine, offline: every key is copied into a
//! new directory beside it, compared back, and only then swapped in. The old directory
//! stays as a backup, so an interrupted or failed conversion leaves the store as it was.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::{MetaEngine, MetaError, MetaStore, PgStore, WriteBatch, engine_of, open, path_error};

/// Keys copied per write batch.
const COPY_BATCH: usize = 4096;

/// What a conversion did.
#[derive(Debug)]
pub struct Converted {
    pub from: MetaEngine,
    pub keys: u64,
    /// Where the old engine's directory now is.
    pub backup: PathBuf,
}

/// Converts the metadata in `dir` to `to`. Needs the server stopped (the engines' locks
/// make sure of it).
pub fn convert(dir: &Path, to: MetaEngine) -> Result<Converted, MetaError> {
    if !to.is_embedded() {
        return Err(MetaError(format!(
            "{to} keeps its metadata in a database: convert with its URL (--meta-url)"
        )));
    }
    let from = engine_of(dir)?.ok_or_else(|| MetaError(format!("{}: no metadata to convert", dir.display())))?;
    if from == to {
        return Err(MetaError(format!("{}: the metadata is already {to}'s", dir.display())));
    }
    let staging = sibling(dir, &format!("{to}-new"))?;
    let backup = sibling(dir, &format!("{from}-backup"))?;
    if backup.exists() {
        return Err(MetaError(format!(
            "{} exists (a backup of an earlier conversion); move it away first",
            backup.display()
        )));
    }
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| path_error(&staging, e))?;
    }
    let keys = {
        let src = open(from, dir)?;
        let dst = open(to, &staging)?;
        let keys = copy(&*src, &*dst)?;
        dst.flush()?;
        let checked = compare(&*src, &*dst)?;
        if checked != keys {
            return Err(MetaError(format!("copied {keys} keys but read back {checked}")));
        }
        keys
    };
    std::fs::rename(dir, &backup).map_err(|e| path_error(dir, e))?;
    std::fs::rename(&staging, dir).map_err(|e| path_error(&staging, e))?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent)
            .and_then(|f| f.sync_all())
            .map_err(|e| path_error(parent, e))?;
    }
    Ok(Converted { from, keys, backup })
}

/// Copies the metadata in `dir` (a stopped single node's) into the empty PostgreSQL
/// database at `url`, and compares it back. The directory is left as it was, as the
/// backup: the conversion's `backup` is `dir` itself.
pub fn convert_to_database(dir: &Path, url: &str) -> Result<Converted, MetaError> {
    let from = engine_of(dir)?.ok_or_else(|| MetaError(format!("{}: no metadata to convert", dir.display())))?;
    let src = open(from, dir)?;
    let dst = PgStore::open(url)?;
    // Merging two stores' metadata would mix their reference counts and chunk records.
    if dst.range(Bound::Unbounded, Bound::Unbounded).next().is_some() {
        return Err(MetaError(
            "the database already holds metadata: convert into an empty one".into(),
        ));
    }
    let keys = copy(&*src, &dst)?;
    let checked = compare(&*src, &dst)?;
    if checked != keys {
        return Err(MetaError(format!("copied {keys} keys but read back {checked}")));
    }
    Ok(Converted {
        from,
        keys,
        backup: dir.to_path_buf(),
    })
}

fn copy(src: &dyn MetaStore, dst: &dyn MetaStore) -> Result<u64, MetaError> {
    let mut batch = WriteBatch::default();
    let (mut keys, mut pending) = (0u64, 0usize);
    for entry in src.range(Bound::Unbounded, Bound::Unbounded) {
        let (k, v) = entry?;
        batch.put(&k, &v);
        keys += 1;
        pending += 1;
        if pending == COPY_BATCH {
            dst.apply(std::mem::take(&mut batch))?;
            // Each flush lets the engine move the batch out of memory (sled's journal
            // holds applied batches in memory until then).
            dst.flush()?;
            pending = 0;
        }
    }
    if pending > 0 {
        dst.apply(batch)?;
    }
    Ok(keys)
}

/// Reads both stores side by side; fails on the first difference.
fn compare(a: &dyn MetaStore, b: &dyn MetaStore) -> Result<u64, MetaError> {
    let mut left = a.range(Bound::Unbounded, Bound::Unbounded);
    let mut right = b.range(Bound::Unbounded, Bound::Unbounded);
    let mut n = 0u64;
    loop {
        match (left.next().transpose()?, right.next().transpose()?) {
            (None, None) => return Ok(n),
            (Some(x), Some(y)) if x == y => n += 1,
            (x, y) => {
                let key = |e: Option<(Vec<u8>, Vec<u8>)>| e.map(|(k, _)| String::from_utf8_lossy(&k).into_owned());
                return Err(MetaError(format!(
                    "the copy differs after {n} keys: {:?} vs {:?}",
                    key(x),
                    key(y)
                )));
            }
        }
    }
}

fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf, MetaError> {
    let name = dir
        .file_name()
        .ok_or_else(|| MetaError(format!("{}: not a directory name", dir.display())))?;
    let mut name = name.to_os_string();
    name.push(format!(".{suffix}"));
    Ok(dir.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(store: &dyn MetaStore, n: u32) {
        let mut b = WriteBatch::default();
        for i in 0..n {
            b.put(format!("k{i:06}").as_bytes(), &i.to_be_bytes());
        }
        store.apply(b).unwrap();
        store.flush().unwrap();
    }

    /// sled releases its lock from a background thread after the last handle drops.
    fn retry<T>(mut f: impl FnMut() -> Result<T, MetaError>) -> T {
        for _ in 0..100 {
            if let Ok(v) = f() {
                return v;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        f().unwrap()
    }

    #[test]
    fn every_key_moves_to_the_other_engine_and_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("meta");
        fill(&*open(MetaEngine::Sled, &dir).unwrap(), 10_000);

        let done = retry(|| convert(&dir, MetaEngine::Fjall));
        assert_eq!((done.from, done.keys), (MetaEngine::Sled, 10_000));
        assert_eq!(done.backup, root.path().join("meta.sled-backup"));
        assert_eq!(engine_of(&dir).unwrap(), Some(MetaEngine::Fjall));
        {
            let fj = open(MetaEngine::Fjall, &dir).unwrap();
            assert_eq!(fj.get(b"k009999").unwrap(), Some(9999u32.to_be_bytes().to_vec()));
            assert_eq!(fj.range(Bound::Unbounded, Bound::Unbounded).count(), 10_000);
        }
        let back = convert(&dir, MetaEngine::Sled).unwrap();
        assert_eq!((back.from, back.keys), (MetaEngine::Fjall, 10_000));
        assert_eq!(back.backup, root.path().join("meta.fjall-backup"));
        {
            let sled = retry(|| open(MetaEngine::Sled, &dir));
            assert_eq!(sled.get(b"k000000").unwrap(), Some(0u32.to_be_bytes().to_vec()));
        }
        assert!(convert(&dir, MetaEngine::Sled).is_err(), "already sled");
        // A backup is never overwritten: the first conversion's is still there.
        let refused = convert(&dir, MetaEngine::Fjall).expect_err("backup in the way");
        assert!(refused.0.contains("meta.sled-backup exists"), "{refused}");
        assert_eq!(engine_of(&dir).unwrap(), Some(MetaEngine::Sled));
    }
}
