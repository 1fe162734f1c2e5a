//! Removing files nobody can download any more: those of deleted messages, folders without
//! rows (a crash between writing and committing), and stale temporary files. The server may
//! be writing and committing uploads meanwhile: only what is older than `GRACE` goes, and
//! only when the rows read again after the walk do not name it.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::domain::{MessageId, RoomId};
use crate::store::attachments::StoredFile;

use super::{message_dir, tmp_dir};

/// Files and folders younger than this may belong to an upload in progress or a message
/// being committed: the sweep leaves them alone.
pub const GRACE: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub files_removed: usize,
    pub folders_removed: usize,
}

/// Removes a deleted message's files (its folder); nothing there is not an error.
pub fn remove_message_files(uploads: &Path, room_id: RoomId, message_id: MessageId) -> io::Result<()> {
    match std::fs::remove_dir_all(message_dir(uploads, room_id, message_id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The files that rows name, by message, for messages not deleted.
struct Live<'a>(HashMap<(i64, i64), HashSet<&'a str>>);

impl<'a> Live<'a> {
    fn of(stored: &'a [StoredFile]) -> Self {
        let mut live: HashMap<(i64, i64), HashSet<&str>> = HashMap::new();
        for (room_id, message_id, name, thumbnail, deleted) in stored {
            if !deleted {
                let names = live.entry((room_id.get(), message_id.get())).or_default();
                names.insert(name);
                if let Some(thumbnail) = thumbnail {
                    names.insert(thumbnail);
                }
            }
        }
        Self(live)
    }

    fn message(&self, room: i64, message: i64) -> Option<&HashSet<&'a str>> {
        self.0.get(&(room, message))
    }
}

/// What a walk of the folders found to remove: each is checked again before it goes.
#[derive(Debug, Default)]
pub struct Plan {
    /// Message folders no row names: `(room, message)`.
    folders: Vec<(i64, i64)>,
    /// Files in a live message's folder that no row names: `(room, message, path)`.
    files: Vec<(i64, i64, PathBuf)>,
    rooms: Vec<PathBuf>,
    tmp: Vec<PathBuf>,
}

/// Sweeps `chat/{room}/{message}/` against the rows: keeps the files (and thumbnails) of
/// live messages, removes everything else that is older than `cutoff`.
pub fn sweep(uploads: &Path, stored: &[StoredFile], cutoff: SystemTime) -> io::Result<Report> {
    let plan = plan(uploads, stored, cutoff)?;
    carry_out(uploads, plan, stored, cutoff)
}

/// The time before which a file may be removed: `GRACE` ago.
pub fn cutoff() -> SystemTime {
    SystemTime::now() - GRACE
}

/// Walks the folders against the rows read before, and lists what no row names and is
/// older than `cutoff`.
pub fn plan(uploads: &Path, stored: &[StoredFile], cutoff: SystemTime) -> io::Result<Plan> {
    let live = Live::of(stored);
    let mut plan = Plan::default();
    let chat = uploads.join("chat");
    for room in read_dir_ids(&chat)? {
        let room_dir = chat.join(room.to_string());
        for message in read_dir_ids(&room_dir)? {
            let dir = room_dir.join(message.to_string());
            match live.message(room, message) {
                None if newest_change(&dir) < cutoff => plan.folders.push((room, message)),
                None => {}
                Some(names) => {
                    for path in files_in(&dir) {
                        let known = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| names.contains(n));
                        if !known && modified(&path) < cutoff {
                            plan.files.push((room, message, path));
                        }
                    }
                }
            }
        }
        plan.rooms.push(room_dir);
    }
    for entry in std::fs::read_dir(tmp_dir(uploads)).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_file() && modified(&path) < cutoff {
            plan.tmp.push(path);
        }
    }
    Ok(plan)
}

/// Removes what the plan lists, unless `stored_now` (the rows read again after the walk)
/// names it or it changed after `cutoff` meanwhile: a message committed during the walk
/// keeps its files.
pub fn carry_out(uploads: &Path, plan: Plan, stored_now: &[StoredFile], cutoff: SystemTime) -> io::Result<Report> {
    let live = Live::of(stored_now);
    let mut report = Report::default();
    for (room, message) in plan.folders {
        let dir = message_dir(uploads, RoomId(room), MessageId(message));
        if live.message(room, message).is_none() && newest_change(&dir) < cutoff {
            report.files_removed += count_files(&dir);
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => report.folders_removed += 1,
            }
        }
    }
    for (room, message, path) in plan.files {
        let named = live
            .message(room, message)
            .is_some_and(|names| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| names.contains(n)));
        // A message deleted meanwhile: its folder goes with the next sweep.
        if !named && modified(&path) < cutoff && remove_file(&path)? {
            report.files_removed += 1;
        }
    }
    // Only when empty, and not just made for a message being committed.
    for room_dir in plan.rooms {
        if modified(&room_dir) < cutoff && std::fs::remove_dir(&room_dir).is_ok() {
            report.folders_removed += 1;
        }
    }
    for path in plan.tmp {
        if modified(&path) < cutoff && remove_file(&path)? {
            report.files_removed += 1;
        }
    }
    Ok(report)
}

/// Removes a file; `false` when it was gone already.
fn remove_file(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// When a file or folder last changed; one that cannot be read counts as new (kept).
fn modified(path: &Path) -> SystemTime {
    std::fs::symlink_metadata(path).and_then(|m| m.modified()).unwrap_or_else(|_| SystemTime::now())
}

/// The latest change in a message's folder: the folder, its thumbnails folder, their files.
fn newest_change(dir: &Path) -> SystemTime {
    let folders = [dir.to_path_buf(), dir.join("thumbnails")];
    let mut newest = modified(dir);
    for path in files_in(dir).into_iter().chain(folders.iter().filter(|p| p.exists()).cloned()) {
        newest = newest.max(modified(&path));
    }
    newest
}

/// The files of a message's folder and of its thumbnails folder.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    [dir.to_path_buf(), dir.join("thumbnails")]
        .iter()
        .flat_map(|sub| std::fs::read_dir(sub).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect()
}

/// The numeric entries of a folder (room or message ids); a missing folder has none.
fn read_dir_ids(dir: &Path) -> io::Result<Vec<i64>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: PathBuf) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    /// A cutoff after every file written so far: all of them count as old.
    fn after_now() -> SystemTime {
        SystemTime::now() + Duration::from_secs(1)
    }

    #[test]
    fn the_sweep_keeps_live_files_only() {
        let root = tempfile::tempdir().unwrap();
        let up = root.path();
        write(message_dir(up, RoomId(1), MessageId(10)).join("a.png"));
        write(message_dir(up, RoomId(1), MessageId(10)).join("thumbnails/a.png.jpg"));
        write(message_dir(up, RoomId(1), MessageId(10)).join("stray.bin"));
        write(message_dir(up, RoomId(1), MessageId(11)).join("b.pdf"));
        write(message_dir(up, RoomId(2), MessageId(12)).join("orphan.txt"));
        let stored = vec![
            (RoomId(1), MessageId(10), "a.png".to_owned(), Some("a.png.jpg".to_owned()), false),
            (RoomId(1), MessageId(11), "b.pdf".to_owned(), None, true),
        ];
        let report = sweep(up, &stored, after_now()).unwrap();
        assert_eq!(report.files_removed, 3);
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("a.png").exists());
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("thumbnails/a.png.jpg").exists());
        assert!(!message_dir(up, RoomId(1), MessageId(11)).exists());
        assert!(!up.join("chat/2").exists());
        remove_message_files(up, RoomId(1), MessageId(10)).unwrap();
        remove_message_files(up, RoomId(1), MessageId(10)).unwrap();
        assert!(!message_dir(up, RoomId(1), MessageId(10)).exists());
    }

    #[test]
    fn files_younger_than_the_grace_period_stay() {
        let root = tempfile::tempdir().unwrap();
        let up = root.path();
        write(message_dir(up, RoomId(1), MessageId(10)).join("being-committed.png"));
        write(message_dir(up, RoomId(1), MessageId(11)).join("stray.bin"));
        write(tmp_dir(up).join("in-flight.part"));
        let stored = vec![(RoomId(1), MessageId(11), "kept.pdf".to_owned(), None, false)];
        let report = sweep(up, &stored, cutoff()).unwrap();
        assert_eq!(report, Report::default());
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("being-committed.png").exists());
        assert!(message_dir(up, RoomId(1), MessageId(11)).join("stray.bin").exists());
        assert!(tmp_dir(up).join("in-flight.part").exists());
    }

    #[test]
    fn a_message_committed_during_the_walk_keeps_its_files() {
        let root = tempfile::tempdir().unwrap();
        let up = root.path();
        write(message_dir(up, RoomId(1), MessageId(10)).join("a.png"));
        write(message_dir(up, RoomId(1), MessageId(10)).join("thumbnails/a.png.jpg"));
        write(message_dir(up, RoomId(1), MessageId(12)).join("orphan.txt"));
        let cutoff = after_now();
        // The rows read before the walk do not know message 10 yet; those read after do.
        let plan = plan(up, &[], cutoff).unwrap();
        let committed = vec![(RoomId(1), MessageId(10), "a.png".to_owned(), Some("a.png.jpg".to_owned()), false)];
        let report = carry_out(up, plan, &committed, cutoff).unwrap();
        assert_eq!(report, Report { files_removed: 1, folders_removed: 1 });
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("a.png").exists());
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("thumbnails/a.png.jpg").exists());
        assert!(!message_dir(up, RoomId(1), MessageId(12)).exists());
    }
}
