//! Removing files nobody can download any more: those of deleted messages, folders without
//! rows (a crash between writing and committing), and stale temporary files.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::domain::{MessageId, RoomId};
use crate::store::attachments::StoredFile;

use super::{message_dir, tmp_dir};

/// Temporary files younger than this may belong to an upload in progress.
const TMP_GRACE: Duration = Duration::from_secs(3600);

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

/// Sweeps `chat/{room}/{message}/` against the rows: keeps the files (and thumbnails) of
/// live messages, removes everything else.
pub fn sweep(uploads: &Path, stored: &[StoredFile]) -> io::Result<Report> {
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
    let mut report = Report::default();
    let chat = uploads.join("chat");
    for room in read_dir_ids(&chat)? {
        let room_dir = chat.join(room.to_string());
        for message in read_dir_ids(&room_dir)? {
            let dir = room_dir.join(message.to_string());
            match live.get(&(room, message)) {
                None => {
                    report.files_removed += count_files(&dir);
                    std::fs::remove_dir_all(&dir)?;
                    report.folders_removed += 1;
                }
                Some(names) => {
                    for sub in [dir.clone(), dir.join("thumbnails")] {
                        for entry in std::fs::read_dir(&sub).into_iter().flatten().flatten() {
                            let path = entry.path();
                            let known = entry.file_name().to_str().is_some_and(|n| names.contains(n));
                            if path.is_file() && !known {
                                std::fs::remove_file(&path)?;
                                report.files_removed += 1;
                            }
                        }
                    }
                }
            }
        }
        if std::fs::remove_dir(&room_dir).is_ok() {
            report.folders_removed += 1;
        }
    }
    let cutoff = SystemTime::now() - TMP_GRACE;
    for entry in std::fs::read_dir(tmp_dir(uploads)).into_iter().flatten().flatten() {
        let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
        if old && entry.path().is_file() {
            std::fs::remove_file(entry.path())?;
            report.files_removed += 1;
        }
    }
    Ok(report)
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

    #[test]
    fn the_sweep_keeps_live_files_only() {
        let root = tempfile::tempdir().unwrap();
        let up = root.path();
        let write = |p: std::path::PathBuf| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        };
        write(message_dir(up, RoomId(1), MessageId(10)).join("a.png"));
        write(message_dir(up, RoomId(1), MessageId(10)).join("thumbnails/a.png.jpg"));
        write(message_dir(up, RoomId(1), MessageId(10)).join("stray.bin"));
        write(message_dir(up, RoomId(1), MessageId(11)).join("b.pdf"));
        write(message_dir(up, RoomId(2), MessageId(12)).join("orphan.txt"));
        let stored = vec![
            (RoomId(1), MessageId(10), "a.png".to_owned(), Some("a.png.jpg".to_owned()), false),
            (RoomId(1), MessageId(11), "b.pdf".to_owned(), None, true),
        ];
        let report = sweep(up, &stored).unwrap();
        assert_eq!(report.files_removed, 3);
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("a.png").exists());
        assert!(message_dir(up, RoomId(1), MessageId(10)).join("thumbnails/a.png.jpg").exists());
        assert!(!message_dir(up, RoomId(1), MessageId(11)).exists());
        assert!(!up.join("chat/2").exists());
        remove_message_files(up, RoomId(1), MessageId(10)).unwrap();
        remove_message_files(up, RoomId(1), MessageId(10)).unwrap();
        assert!(!message_dir(up, RoomId(1), MessageId(10)).exists());
    }
}
