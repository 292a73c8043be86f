//! Locations as URLs.

use url::Url;

use crate::StorageError;

/// A directory URL (ending in `/`) for a location: a URL as is, a local path made absolute.
pub fn dir_url(location: &str) -> Result<Url, StorageError> {
    let bad = |why: String| StorageError::Usage(format!("location {location:?}: {why}"));
    // Hadoop writes local locations `file:/path` (a Hive Metastore does).
    let location = match location.strip_prefix("file:") {
        Some(rest) if !rest.starts_with("//") => rest,
        _ => location,
    };
    let mut url = if location.contains("://") {
        Url::parse(location).map_err(|e| bad(e.to_string()))?
    } else {
        let path = normalize(&std::path::absolute(location).map_err(|e| bad(e.to_string()))?);
        Url::from_directory_path(&path).map_err(|_| bad("not an absolute path".into()))?
    };
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// `.` and `..` resolved lexically (object store paths cannot hold them).
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(dir_url("/data/t").unwrap().as_str(), "file:///data/t/");
        assert_eq!(
            dir_url("/data/x/../t/./").unwrap().as_str(),
            "file:///data/t/"
        );
        assert_eq!(
            dir_url("file:///data/t/").unwrap().as_str(),
            "file:///data/t/"
        );
        assert_eq!(dir_url("s3://b/p").unwrap().as_str(), "s3://b/p/");
        assert_eq!(dir_url("file:/data/t").unwrap().as_str(), "file:///data/t/");
    }
}
