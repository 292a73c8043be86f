//! Message files and folders from bad input: cut, corrupted or random bytes, broken manifests,
//! damaged `proto_df` Parquet. The promise: whole records come back unchanged, then a precise
//! error (never a panic), and no length read from a file is allocated before its bytes are there.
//!
//! `PROPTEST_CASES=N` runs N cases instead of each test's default.

use std::path::Path;

use onfs_file::frame::{write_record, FrameError, MAGIC};
use onfs_file::{read_messages, DirSink, FileError, Framed, OutFormat, RecordReader, RunInfo};
use proptest::prelude::*;

use crate::harness::{config, largest_allocation};

fn framed() -> impl Strategy<Value = Framed> {
    (
        any::<i64>(),
        any::<u32>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(intra_batch_id, rows, key, value)| Framed {
            intra_batch_id,
            rows,
            key,
            value,
        })
}

fn file_of(messages: &[Framed]) -> (Vec<u8>, Vec<usize>) {
    let mut buf = MAGIC.to_vec();
    let mut ends = Vec::new();
    for m in messages {
        write_record(&mut buf, m).unwrap();
        ends.push(buf.len());
    }
    (buf, ends)
}

/// Every record of `bytes` until the first error; never more items than records can fit.
fn read_all(bytes: &[u8]) -> (Result<Vec<Framed>, FrameError>, usize) {
    largest_allocation(|| {
        let reader = RecordReader::new(bytes, "f")?;
        let mut out = Vec::new();
        for r in reader {
            out.push(r?);
            assert!(
                out.len() <= bytes.len() / 24,
                "more records than the bytes hold"
            );
        }
        Ok(out)
    })
}

/// No allocation beyond a small multiple of the input (a grown buffer may double).
fn bounded(largest: usize, input: usize) -> bool {
    largest <= 2 * input + 128 * 1024
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_cut_file_gives_its_whole_records_then_truncated(
        messages in prop::collection::vec(framed(), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let (file, ends) = file_of(&messages);
        let at = cut.index(file.len() + 1);
        let (got, largest) = read_all(&file[..at]);
        prop_assert!(bounded(largest, at), "allocated {} for {} bytes", largest, at);
        let whole = ends.iter().filter(|&&e| e <= at).count();
        match got {
            Ok(got) => {
                prop_assert!(at == 8 || ends.contains(&at), "cut at {} read cleanly", at);
                prop_assert_eq!(&got[..], &messages[..whole]);
            }
            Err(FrameError::NotMessageFile { .. }) => prop_assert!(at < 8),
            Err(FrameError::Truncated { offset, .. }) => {
                let start = if whole == 0 { 8 } else { ends[whole - 1] };
                prop_assert_eq!(offset, start as u64);
            }
            Err(e) => prop_assert!(false, "unexpected {}", e),
        }
    }

    #[test]
    fn a_corrupted_byte_is_a_precise_error_or_a_record(
        messages in prop::collection::vec(framed(), 1..6),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let (mut file, _) = file_of(&messages);
        let at = at.index(file.len());
        file[at] ^= flip;
        let (got, largest) = read_all(&file);
        prop_assert!(bounded(largest, file.len()), "allocated {} for {} bytes", largest, file.len());
        match got {
            Err(FrameError::NotMessageFile { .. }) => prop_assert!(at < 8),
            Err(FrameError::Truncated { .. } | FrameError::Checksum { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected {}", e),
            // The id, row count and key are not checksummed: a flip there reads as another
            // value of the same length.
            Ok(got) => prop_assert_eq!(got.len(), messages.len()),
        }
    }

    #[test]
    fn random_bytes_are_a_precise_error(
        tail in prop::collection::vec(any::<u8>(), 0..512),
        magic in any::<bool>(),
    ) {
        let mut file = if magic { MAGIC.to_vec() } else { Vec::new() };
        file.extend_from_slice(&tail);
        let (got, largest) = read_all(&file);
        prop_assert!(bounded(largest, file.len()), "allocated {} for {} bytes", largest, file.len());
        if let Err(e) = got {
            prop_assert!(e.to_string().starts_with("f: "), "{}", e);
        }
    }
}

/// Found by `a_corrupted_byte_is_a_precise_error_or_a_record`: a header claiming a 4 GiB value
/// and a 2 GiB key made the reader allocate both before reading a byte of them.
#[test]
fn a_length_prefix_claiming_4_gib_is_not_allocated() {
    for (value_len, key_len) in [(u32::MAX, -1i32), (0, i32::MAX), (u32::MAX, i32::MAX)] {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&value_len.to_le_bytes());
        file.extend_from_slice(&[0; 16]);
        file.extend_from_slice(&key_len.to_le_bytes());
        file.extend_from_slice(b"a few bytes");
        let (got, largest) = read_all(&file);
        assert!(
            matches!(got, Err(FrameError::Truncated { offset: 8, .. })),
            "{got:?}"
        );
        assert!(largest <= 128 * 1024, "allocated {largest} bytes");
    }
}

// ---------------------------------------------------------------------------------------------
// Folders: manifests and proto_df Parquet

fn write_folder(dir: &Path, format: OutFormat, messages: &[Framed]) {
    let mut sink = DirSink::create(dir, format, false).unwrap();
    for m in messages {
        sink.write(m).unwrap();
    }
    sink.finish(RunInfo::default()).unwrap();
}

fn read_folder(path: &Path) -> Result<Vec<Framed>, FileError> {
    read_messages(path)?.collect()
}

fn sample() -> Vec<Framed> {
    (0..5)
        .map(|i| Framed {
            intra_batch_id: i,
            rows: 1,
            key: None,
            value: vec![0x22, 0x03, 0x0a, 0x01, b'0' + i as u8],
        })
        .collect()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn a_broken_manifest_is_a_precise_error(
        text in prop_oneof![
            ".{0,40}",
            Just("{\"files\": 3}".to_string()),
            prop::collection::vec("[a-z./]{0,12}", 0..3).prop_map(|files| format!(
                r#"{{"format": "frames", "version": 1, "files": {}, "messages": 0, "rows": 0, "bytes": 0, "dropped_null_key_rows": 0, "entity_label": "", "batch_size": 1, "created_by": ""}}"#,
                serde_json::to_string(&files).unwrap()
            )),
        ],
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_folder(&dir.path().join("m"), OutFormat::Frames, &sample());
        std::fs::write(dir.path().join("m/manifest.json"), &text).unwrap();
        if let Err(e) = read_folder(&dir.path().join("m")) {
            prop_assert!(e.to_string().contains(&dir.path().display().to_string()), "{}", e);
        }
    }

    #[test]
    fn damaged_proto_df_parquet_is_a_precise_error(
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m");
        write_folder(&m, OutFormat::Parquet, &sample());
        let file = std::fs::read_dir(&m)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "parquet"))
            .unwrap();
        let mut bytes = std::fs::read(&file).unwrap();
        let at = at.index(bytes.len());
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] ^= flip;
        }
        std::fs::write(&file, &bytes).unwrap();
        match read_folder(&file) {
            Ok(got) => prop_assert!(got.len() <= sample().len() || !cut),
            Err(e) => prop_assert!(e.to_string().contains(&file.display().to_string()), "{}", e),
        }
    }
}

/// Found by `a_broken_manifest_is_a_precise_error`: a manifest listing `/` (or `..`, or an
/// absolute path) made the reader open that path outside the folder, and the error named only
/// the outside path.
#[test]
fn a_manifest_listing_a_path_outside_its_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    write_folder(&m, OutFormat::Frames, &sample());
    let manifest = m.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    for outside in [
        "/",
        "..",
        "../m/manifest.json",
        "/etc/hostname",
        "./x",
        "a/b",
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["files"] = serde_json::json!([outside]);
        std::fs::write(&manifest, v.to_string()).unwrap();
        let e = read_folder(&m).unwrap_err();
        assert!(matches!(e, FileError::Usage(_)), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: lists {outside:?}, which is not a file name in its folder",
                manifest.display()
            )
        );
    }
}

/// Found by `damaged_proto_df_parquet_is_a_precise_error`: one bit flipped in the footer gave a
/// column chunk a negative offset, a dictionary-encoded page without its dictionary, or a broken
/// embedded Arrow schema, and the Parquet reader panicked ("column start and length should not
/// be negative", "Decoder for dict should have been set", arrow-ipc's schema decoder). A flip of
/// every byte of the footer (bit 5 and one of bits 0 to 4) is now an error naming the file, or
/// messages.
#[test]
fn bit_flips_in_a_proto_df_footer_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    write_folder(&m, OutFormat::Parquet, &sample());
    let file = m.join("part-00000.parquet");
    let good = std::fs::read(&file).unwrap();
    let footer_len = u32::from_le_bytes(good[good.len() - 8..good.len() - 4].try_into().unwrap());
    let footer = good.len() - 8 - footer_len as usize..good.len() - 8;
    let (mut negative, mut caught) = (0, 0);
    for at in footer {
        for bit in [5, at % 5] {
            let mut bytes = good.clone();
            bytes[at] ^= 1 << bit;
            std::fs::write(&file, &bytes).unwrap();
            if let Err(e) = read_folder(&file) {
                let text = e.to_string();
                assert!(text.contains(&file.display().to_string()), "{text}");
                negative += text.contains("the footer gives offset") as usize;
                caught += text.contains("the file is corrupted: ") as usize;
            }
        }
    }
    assert!(negative > 0, "no flip gave a chunk a negative offset");
    assert!(caught > 0, "no flip made the reader panic");
}
