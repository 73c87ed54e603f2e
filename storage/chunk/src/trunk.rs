//! Trunk files: small chunks packed into append-only files, as FastDFS does.
//!
//! One file per small chunk costs an inode, a directory entry, a rename and two fsyncs
//! per write, which dominates small PUTs. Instead, small chunks are appended to the
//! active trunk of their store path, and the committer covers a whole batch of appends
//! with one `fdatasync`. A chunk's identity and dedup are unchanged: its record simply
//! points at `(trunk, offset)`.
//!
//! A trunk is zero-filled ahead of its appends ([`Room`]), so its file may be longer
//! than what was appended; chunk records say where each chunk is.
//!
//! Trunks are never rewritten. Garbage collection deletes a trunk once no chunk record
//! points into it and no append to it is still on its way to a commit (tracked by
//! [`SlotGuard`]); the active trunk is rotated first so that it can go too.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::dir::sync_dir;
use crate::ids::TrunkSlot;
use crate::room::Room;

/// A trunk is sealed and a new one started past this size.
const TRUNK_MAX: u64 = 64 * 1024 * 1024;

struct Active {
    id: u32,
    file: File,
    /// Length including the queued appends.
    len: u64,
    /// Appends not yet written: a batch's chunks go to the file in one `writev` at sync.
    queued: Vec<Bytes>,
    /// Written since the last sync.
    dirty: bool,
    /// A write failed part-way: take no more appends.
    broken: bool,
    room: Room,
}

impl Active {
    /// Writes the queued appends. After a failed write the file's end is unknown, so
    /// the next append starts a new trunk (the failed batch's slots are never committed).
    fn write_queued(&mut self) -> io::Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        self.room.reserve(&self.file, self.len)?;
        let queued = std::mem::take(&mut self.queued);
        let mut slices: Vec<IoSlice<'_>> = queued.iter().map(|b| IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        self.dirty = true;
        while !rest.is_empty() {
            // The kernel takes at most IOV_MAX (1024) slices per call.
            let n = rest.len().min(1024);
            match self.file.write_vectored(&rest[..n]) {
                Ok(0) => {
                    self.broken = true;
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Writes the queued appends and makes everything written durable.
    fn sync(&mut self) -> io::Result<()> {
        self.write_queued()?;
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

type Inflight = Arc<Mutex<HashMap<u32, usize>>>;

/// The trunks of one store path.
pub struct Trunks {
    dir: PathBuf,
    active: Mutex<Active>,
    /// Appends per trunk that are written but not yet committed or abandoned.
    inflight: Inflight,
}

/// Keeps the trunk a slot was appended to from being collected until the record that
/// references it is committed (or the request gave up).
pub struct SlotGuard {
    trunk: u32,
    inflight: Inflight,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut m = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.trunk) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.trunk);
            }
        }
    }
}

impl std::fmt::Debug for SlotGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotGuard(trunk {})", self.trunk)
    }
}

pub fn trunk_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08x}.trunk"))
}

/// Ids of the trunk files in `dir`, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for e in fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let id = name
            .to_str()
            .and_then(|n| n.strip_suffix(".trunk"))
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        if let Some(id) = id {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn create(dir: &Path, id: u32) -> io::Result<Active> {
    let file = File::create(trunk_path(dir, id))?;
    sync_dir(dir)?;
    Ok(Active {
        id,
        file,
        len: 0,
        queued: Vec::new(),
        dirty: false,
        broken: false,
        room: Room::default(),
    })
}

impl Trunks {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        // Appends always go to a fresh trunk: whatever a crash left at the end of the
        // last one was never acknowledged.
        let next = list(&dir)?.last().map_or(0, |id| id + 1);
        let active = create(&dir, next)?;
        Ok(Self {
            dir,
            active: Mutex::new(active),
            inflight: Arc::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Active> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a small chunk to the active trunk. Not written until [`Trunks::sync`],
    /// which writes a whole batch's appends at once and makes them durable.
    pub fn append(&self, data: Bytes) -> io::Result<(TrunkSlot, SlotGuard)> {
        let mut a = self.lock();
        if a.broken || (a.len > 0 && a.len + data.len() as u64 > TRUNK_MAX) {
            if !a.broken {
                a.sync()?;
            }
            *a = create(&self.dir, a.id + 1)?;
        }
        let slot = TrunkSlot {
            trunk: a.id,
            offset: a.len,
        };
        a.len += data.len() as u64;
        if !data.is_empty() {
            a.queued.push(data);
        }
        *self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(a.id)
            .or_default() += 1;
        Ok((
            slot,
            SlotGuard {
                trunk: a.id,
                inflight: self.inflight.clone(),
            },
        ))
    }

    /// Makes every append so far durable: one write and one fdatasync for a whole batch.
    pub fn sync(&self) -> io::Result<()> {
        self.lock().sync()
    }

    pub fn active(&self) -> u32 {
        self.lock().id
    }

    pub fn inflight(&self, trunk: u32) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&trunk)
            .copied()
            .unwrap_or(0)
    }

    /// Seals the active trunk if it holds anything, so that it can be collected.
    pub fn rotate(&self) -> io::Result<()> {
        let mut a = self.lock();
        if a.len > 0 {
            if !a.broken {
                a.sync()?;
            }
            *a = create(&self.dir, a.id + 1)?;
        }
        Ok(())
    }
}
