//! One store path (`M00`, `M01`, ...): a directory on one disk holding chunk files in
//! two levels of fan-out directories, plus a `tmp/` for chunks being written.
//! Temp files live on the same file system as their final place, so that publishing a
//! chunk is one atomic rename.

use std::fs;
use std::io;
use std::path::PathBuf;

use crate::ids::{ChunkHash, ChunkLocation};
use crate::trunk::{self, Trunks};

pub struct StorePath {
    pub location: ChunkLocation,
    pub root: PathBuf,
    pub trunks: Trunks,
}

impl std::fmt::Debug for StorePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePath")
            .field("location", &self.location)
            .field("root", &self.root)
            .finish()
    }
}

impl StorePath {
    pub fn open(location: ChunkLocation, root: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(root.join("data"))?;
        fs::create_dir_all(root.join("tmp"))?;
        let trunks = Trunks::open(root.join("trunk"))?;
        Ok(Self { location, root, trunks })
    }

    /// Where a chunk's bytes start: its own file, or its slot in a trunk file.
    pub fn locate(&self, loc: &ChunkLocation, hash: &ChunkHash) -> (PathBuf, u64) {
        match loc.slot {
            Some(s) => (trunk::trunk_path(self.trunks.dir(), s.trunk), s.offset),
            None => (self.chunk_path(hash), 0),
        }
    }

    /// `M00`, `M01`, ...: the FastDFS name of this store path.
    pub fn name(&self) -> String {
        format!("M{:02X}", self.location.store_path)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `data/3f/a2/<hex>`: two levels of 256 directories keep directories small.
    pub fn chunk_path(&self, hash: &ChunkHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("data").join(&hex[0..2]).join(&hex[2..4]).join(hex)
    }

    /// Free and total bytes of the file system under this store path.
    pub fn space(&self) -> io::Result<(u64, u64)> {
        let st = rustix::fs::statvfs(&self.root).map_err(io::Error::from)?;
        Ok((
            st.f_bavail.saturating_mul(st.f_frsize),
            st.f_blocks.saturating_mul(st.f_frsize),
        ))
    }
}
