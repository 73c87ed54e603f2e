//! Trunk files: small chunks packed into append-only files, as FastDFS does.
//!
//! One file per small chunk costs an inode, a directory entry, a rename and two fsyncs
//! per write, which dominates small PUTs. Instead, each store path has one writer
//! thread that appends every pending small chunk to the active trunk file and covers
//! them all with a single `fdatasync` (group commit for data). A chunk's identity and
//! dedup are unchanged: its record simply points at `(trunk, offset)`.
//!
//! Trunks are never rewritten. Garbage collection deletes a trunk once no chunk record
//! points into it and no append to it is still on its way to a commit (tracked by
//! [`SlotGuard`]); the active trunk is first rotated so that it can go too.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use bytes::Bytes;

use crate::ids::TrunkSlot;
use crate::store_path::sync_dir;

/// A trunk is sealed and a new one started past this size.
const TRUNK_MAX: u64 = 64 * 1024 * 1024;
/// Appends covered by one fdatasync at most.
const BATCH_MAX: usize = 512;

enum Req {
    Append(Bytes, mpsc::SyncSender<io::Result<TrunkSlot>>),
    /// Seal the active trunk (if it holds anything) and answer the sealed trunk's id.
    Rotate(mpsc::SyncSender<io::Result<Option<u32>>>),
}

/// The trunks of one store path.
pub struct Trunks {
    dir: PathBuf,
    tx: Mutex<mpsc::Sender<Req>>,
    /// Appends per trunk that are written but not yet committed or abandoned.
    inflight: Arc<Mutex<HashMap<u32, usize>>>,
    active: Arc<Mutex<u32>>,
}

/// Holds an appended slot's trunk alive until the metadata that references it has been
/// committed (or the request gave up).
pub struct SlotGuard {
    trunk: u32,
    inflight: Arc<Mutex<HashMap<u32, usize>>>,
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

/// Ids of the trunk files in `dir`.
pub fn list(dir: &Path) -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    for e in fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        if let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".trunk"))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

struct Writer {
    dir: PathBuf,
    id: u32,
    file: File,
    len: u64,
    inflight: Arc<Mutex<HashMap<u32, usize>>>,
    active: Arc<Mutex<u32>>,
}

impl Writer {
    fn open_new(&mut self, id: u32) -> io::Result<()> {
        self.file = File::create(trunk_path(&self.dir, id))?;
        sync_dir(&self.dir)?;
        self.id = id;
        self.len = 0;
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = id;
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> io::Result<TrunkSlot> {
        if self.len > 0 && self.len + data.len() as u64 > TRUNK_MAX {
            self.file.sync_data()?;
            self.open_new(self.id + 1)?;
        }
        self.file.write_all(data)?;
        let slot = TrunkSlot {
            trunk: self.id,
            offset: self.len,
        };
        self.len += data.len() as u64;
        *self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(self.id)
            .or_default() += 1;
        Ok(slot)
    }

    fn run(mut self, rx: mpsc::Receiver<Req>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            let mut done: Vec<(mpsc::SyncSender<io::Result<TrunkSlot>>, io::Result<TrunkSlot>)> = Vec::new();
            for req in batch {
                match req {
                    Req::Append(data, reply) => {
                        let res = self.append(&data);
                        done.push((reply, res));
                    }
                    Req::Rotate(reply) => {
                        let res = if self.len == 0 {
                            Ok(None)
                        } else {
                            let old = self.id;
                            self.file
                                .sync_data()
                                .and_then(|()| self.open_new(old + 1))
                                .map(|()| Some(old))
                        };
                        let _ = reply.send(res);
                    }
                }
            }
            // One fdatasync makes the whole batch durable.
            let synced = self.file.sync_data();
            for (reply, res) in done {
                let res = match (&synced, res) {
                    (Ok(()), r) => r,
                    (Err(e), _) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                let _ = reply.send(res);
            }
        }
    }
}

impl Trunks {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        // Appends always go to a fresh trunk: what a crash left at the end of the last
        // one was never acknowledged.
        let next = list(&dir)?.last().map_or(0, |id| id + 1);
        let inflight = Arc::new(Mutex::new(HashMap::new()));
        let active = Arc::new(Mutex::new(next));
        let file = File::create(trunk_path(&dir, next))?;
        sync_dir(&dir)?;
        let writer = Writer {
            dir: dir.clone(),
            id: next,
            file,
            len: 0,
            inflight: inflight.clone(),
            active: active.clone(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("fastgate-trunk".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self {
            dir,
            tx: Mutex::new(tx),
            inflight,
            active,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn send(&self, req: Req) -> io::Result<()> {
        self.tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(req)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "trunk writer stopped"))
    }

    /// Appends a small chunk and waits until it is durable. Blocking.
    pub fn append(&self, data: Bytes) -> io::Result<(TrunkSlot, SlotGuard)> {
        let (reply, wait) = mpsc::sync_channel(1);
        self.send(Req::Append(data, reply))?;
        let slot = wait
            .recv()
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "trunk writer stopped"))??;
        Ok((
            slot,
            SlotGuard {
                trunk: slot.trunk,
                inflight: self.inflight.clone(),
            },
        ))
    }

    pub fn active(&self) -> u32 {
        *self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn inflight(&self, trunk: u32) -> usize {
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&trunk)
            .copied()
            .unwrap_or(0)
    }

    /// Seals the active trunk if it holds anything. Blocking.
    pub fn rotate(&self) -> io::Result<Option<u32>> {
        let (reply, wait) = mpsc::sync_channel(1);
        self.send(Req::Rotate(reply))?;
        wait.recv()
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "trunk writer stopped"))?
    }
}
