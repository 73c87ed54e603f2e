//! Directory durability, shared by chunk files and trunks (kept apart from both so that
//! neither imports the other for it).

use std::fs;
use std::io;
use std::path::Path;

/// fsyncs a directory so that a rename or unlink inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
