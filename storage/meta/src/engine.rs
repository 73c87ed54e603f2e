//! Choosing the engine, and making sure a data directory is always opened with the one
//! that wrote it: another engine would see an empty catalog, and garbage collection
//! would then take every chunk for an orphan.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::{FjallStore, MetaError, MetaStore, PgStore, SledStore, path_error};

/// The metadata engines: two embedded ones, and PostgreSQL for several gateways.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetaEngine {
    /// sled 0.34: the default.
    #[default]
    Sled,
    /// fjall (an LSM tree): a group commit is one journal append and one
    /// `fdatasync`, about half the CPU of sled per small write.
    Fjall,
    /// A PostgreSQL database (`[metadata] url`), shared by every gateway over it.
    Postgres,
}

impl MetaEngine {
    /// The embedded engines, whose metadata lives in a directory.
    pub const ALL: [MetaEngine; 2] = [MetaEngine::Sled, MetaEngine::Fjall];

    pub fn name(self) -> &'static str {
        match self {
            MetaEngine::Sled => "sled",
            MetaEngine::Fjall => "fjall",
            MetaEngine::Postgres => "postgres",
        }
    }

    /// Whether the metadata lives in a directory of this process (else in a database
    /// server named by a URL).
    pub fn is_embedded(self) -> bool {
        self != MetaEngine::Postgres
    }
}

impl std::fmt::Display for MetaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MetaEngine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [MetaEngine::Sled, MetaEngine::Fjall, MetaEngine::Postgres]
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown metadata engine {s:?} (expected sled, fjall or postgres)"))
    }
}

/// The file in the metadata directory that names its engine.
const MARKER: &str = "ENGINE";

/// The engine that wrote `dir`, or `None` for a new (missing or empty) directory. A
/// directory with files but no marker predates the choice of engines and is sled's.
pub fn engine_of(dir: &Path) -> Result<Option<MetaEngine>, MetaError> {
    match std::fs::read_to_string(dir.join(MARKER)) {
        Ok(text) => Ok(Some(text.trim().parse::<MetaEngine>().map_err(MetaError)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match std::fs::read_dir(dir) {
            Ok(entries) => {
                // A marker half written by a crash does not make a directory sled's.
                let tmp = format!("{MARKER}.tmp");
                let used = entries.flatten().any(|e| e.file_name() != tmp.as_str());
                Ok(used.then_some(MetaEngine::Sled))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(path_error(dir, e)),
        },
        Err(e) => Err(path_error(&dir.join(MARKER), e)),
    }
}

/// Opens the metadata in `dir` with `engine`, or fails when `dir` was written by
/// another engine.
pub fn open(engine: MetaEngine, dir: &Path) -> Result<Arc<dyn MetaStore>, MetaError> {
    open_at(engine, dir, None)
}

/// Opens the metadata of `engine`: in `dir` for an embedded engine, in the database at
/// `url` for postgres.
pub fn open_at(engine: MetaEngine, dir: &Path, url: Option<&str>) -> Result<Arc<dyn MetaStore>, MetaError> {
    if engine == MetaEngine::Postgres {
        let url = url.ok_or_else(|| {
            MetaError("the postgres engine needs a URL: `[metadata] url`, --meta-url or FASTGATE_META_URL".into())
        })?;
        return Ok(Arc::new(PgStore::open(url)?));
    }
    match engine_of(dir)? {
        Some(found) if found != engine => {
            return Err(MetaError(format!(
                "the metadata in {} was written by the {found} engine, not {engine}; \
                 start with `--meta-engine {found}` (or `[metadata] engine = \"{found}\"`), \
                 or convert it with `fastgate convert-meta --to {engine}`",
                dir.display()
            )));
        }
        Some(_) if dir.join(MARKER).exists() => {}
        _ => {
            std::fs::create_dir_all(dir).map_err(|e| path_error(dir, e))?;
            write_marker(dir, engine)?;
        }
    }
    Ok(match engine {
        MetaEngine::Sled => Arc::new(SledStore::open(dir)?),
        MetaEngine::Fjall => Arc::new(FjallStore::open(dir)?),
        MetaEngine::Postgres => return Err(MetaError("postgres has no metadata directory".into())),
    })
}

fn write_marker(dir: &Path, engine: MetaEngine) -> Result<(), MetaError> {
    let marker = dir.join(MARKER);
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, format!("{engine}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &marker)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| path_error(&marker, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_opens_only_with_the_engine_that_wrote_it() {
        for engine in MetaEngine::ALL {
            let dir = tempfile::tempdir().unwrap();
            drop(open(engine, dir.path()).unwrap());
            for other in MetaEngine::ALL.into_iter().filter(|o| *o != engine) {
                let e = open(other, dir.path()).err().expect("other engine refused");
                assert!(e.0.contains(&format!("--meta-engine {engine}")), "{e}");
            }
        }
    }

    #[test]
    fn a_directory_without_marker_but_with_files_is_sleds() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path()).unwrap());
        assert!(open(MetaEngine::Fjall, dir.path()).is_err());
        // sled releases its lock from a background thread after the last handle drops.
        let reopened = (0..100).find_map(|_| {
            open(MetaEngine::Sled, dir.path()).ok().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            })
        });
        assert!(reopened.is_some());
        assert_eq!(std::fs::read_to_string(dir.path().join(MARKER)).unwrap(), "sled\n");
    }

    #[test]
    fn names_round_trip() {
        for engine in [MetaEngine::Sled, MetaEngine::Fjall, MetaEngine::Postgres] {
            assert_eq!(engine.name().parse::<MetaEngine>(), Ok(engine));
        }
        assert!("rocksdb".parse::<MetaEngine>().is_err());
    }
}
