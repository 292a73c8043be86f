//! What a source's partition holds, as a fingerprint of its files: another fingerprint for the
//! same partition means it was rewritten or added to since it was read (a job with
//! `repush_on_change` pushes it again). Parquet: every object under the partition's folder (the
//! whole location when the partition is a column's value), by path, size and entity tag (else
//! modification time). Delta: the data files of the table's current version holding the
//! partition (every file when the column is not a partition column), by path, size and
//! deletion vector.

use sha2::{Digest, Sha256};

/// `<what>:<number of files>:<the first 16 hex digits of the SHA-256 of their sorted lines>`.
pub(crate) fn fingerprint(what: &str, mut lines: Vec<String>) -> String {
    lines.sort_unstable();
    let mut h = Sha256::new();
    for l in &lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{what}:{}:{hex}", lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_files_are_listed_in_does_not_matter() {
        let a = fingerprint("files", vec!["a\t1\tx".into(), "b\t2\ty".into()]);
        let b = fingerprint("files", vec!["b\t2\ty".into(), "a\t1\tx".into()]);
        assert_eq!(a, b);
        assert!(
            a.starts_with("files:2:") && a.len() == "files:2:".len() + 16,
            "{a}"
        );
    }

    #[test]
    fn another_size_or_tag_is_another_version() {
        let base = fingerprint("files", vec!["a\t1\tx".into()]);
        assert_ne!(base, fingerprint("files", vec!["a\t2\tx".into()]));
        assert_ne!(base, fingerprint("files", vec!["a\t1\ty".into()]));
        assert_ne!(base, fingerprint("delta", vec!["a\t1\tx".into()]));
        assert_ne!(
            base,
            fingerprint("files", vec!["a\t1\tx".into(), "b\t1\tx".into()])
        );
    }
}
