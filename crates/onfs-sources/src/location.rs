//! Source locations as URLs: local paths and `file://` today; object store URLs register their
//! store in one place.

use url::Url;

use crate::SourceError;

/// A directory URL (ending in `/`) for a location: a URL as is, a local path made absolute.
pub fn dir_url(location: &str) -> Result<Url, SourceError> {
    Ok(onfs_stores::dir_url(location)?)
}

/// `base` + `segment/` (a partition folder).
pub fn child_dir(base: &Url, segment: &str) -> Url {
    let mut u = base.clone();
    let p = format!("{}{}/", base.path(), segment);
    u.set_path(&p);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_folders() {
        let u = dir_url("/data/t").unwrap();
        assert_eq!(child_dir(&u, "ts=1").as_str(), "file:///data/t/ts=1/");
    }
}
