//! Listings that survive a cut answer. object_store retries a list request that fails, but not
//! one whose answer is cut while its body is read (a connection reset mid-answer): the listing
//! would fail the run. This store tries such a listing again, continuing after the last object
//! it gave (listings come in key order), a few times with a growing pause.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Tries after the first.
const RETRIES: u32 = 3;

fn pause(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt))
}

/// Whether `e` is the transport failing (a reset, a cut or timed-out answer), not the store
/// refusing: worth trying again.
pub fn is_transient(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(http) = err.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
                    | HttpErrorKind::Decode
            );
        }
        source = err.source();
    }
    false
}

#[derive(Debug)]
pub struct ListRetry {
    inner: Arc<dyn ObjectStore>,
}

impl ListRetry {
    pub fn new(inner: Arc<dyn ObjectStore>) -> ListRetry {
        ListRetry { inner }
    }

    /// The objects under `prefix` after `offset`, the listing taken up again after a cut.
    fn list_after(
        &self,
        prefix: Option<&Path>,
        offset: Option<&Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        struct State {
            inner: Arc<dyn ObjectStore>,
            prefix: Option<Path>,
            last: Option<Path>,
            stream: Option<BoxStream<'static, Result<ObjectMeta>>>,
            retries: u32,
            done: bool,
        }
        let state = State {
            inner: self.inner.clone(),
            prefix: prefix.cloned(),
            last: offset.cloned(),
            stream: None,
            retries: 0,
            done: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            if s.done {
                return None;
            }
            loop {
                let stream = s.stream.get_or_insert_with(|| match &s.last {
                    Some(last) => s.inner.list_with_offset(s.prefix.as_ref(), last),
                    None => s.inner.list(s.prefix.as_ref()),
                });
                match stream.next().await {
                    Some(Ok(meta)) => {
                        s.last = Some(meta.location.clone());
                        return Some((Ok(meta), s));
                    }
                    Some(Err(e)) if s.retries < RETRIES && is_transient(&e) => {
                        tracing::warn!(
                            "listing {}: {e}; listing again after {}",
                            s.prefix.as_ref().map(Path::as_ref).unwrap_or("/"),
                            s.last.as_ref().map(Path::as_ref).unwrap_or("the start")
                        );
                        tokio::time::sleep(pause(s.retries)).await;
                        s.retries += 1;
                        s.stream = None;
                    }
                    Some(Err(e)) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                    None => return None,
                }
            }
        })
        .boxed()
    }
}

impl fmt::Display for ListRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for ListRetry {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_after(prefix, None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_after(prefix, Some(offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut attempt = 0;
        loop {
            match self.inner.list_with_delimiter(prefix).await {
                Err(e) if attempt < RETRIES && is_transient(&e) => {
                    tracing::warn!("listing {prefix:?}: {e}; listing again");
                    tokio::time::sleep(pause(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    use super::*;

    /// An in-memory store whose listings fail after `cut_after` objects, `cuts` times, with
    /// the transport error a reset gives (or a refusal, with `transient` false).
    #[derive(Debug)]
    struct Cutting {
        inner: InMemory,
        cut_after: usize,
        cuts: AtomicU32,
        transient: bool,
        listings: AtomicU32,
    }

    impl fmt::Display for Cutting {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cutting")
        }
    }

    fn cut_error(transient: bool) -> object_store::Error {
        let source: Box<dyn std::error::Error + Send + Sync> = if transient {
            Box::new(HttpError::new(
                HttpErrorKind::Decode,
                std::io::Error::other("request or response body error"),
            ))
        } else {
            Box::new(std::io::Error::other("access denied"))
        };
        object_store::Error::Generic {
            store: "S3",
            source,
        }
    }

    #[async_trait]
    impl ObjectStore for Cutting {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
            self.inner.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(l, o).await
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
            self.inner.get_opts(l, o).await
        }
        fn delete_stream(
            &self,
            l: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.inner.delete_stream(l)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.cut(self.inner.list(prefix))
        }
        fn list_with_offset(
            &self,
            prefix: Option<&Path>,
            offset: &Path,
        ) -> BoxStream<'static, Result<ObjectMeta>> {
            self.cut(self.inner.list_with_offset(prefix, offset))
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.listings.fetch_add(1, Ordering::Relaxed);
            if self.take_cut() {
                return Err(cut_error(self.transient));
            }
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> Result<()> {
            self.inner.copy_opts(f, t, o).await
        }
    }

    impl Cutting {
        fn take_cut(&self) -> bool {
            self.cuts
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1))
                .is_ok()
        }

        fn cut(
            &self,
            s: BoxStream<'static, Result<ObjectMeta>>,
        ) -> BoxStream<'static, Result<ObjectMeta>> {
            self.listings.fetch_add(1, Ordering::Relaxed);
            let cut = self.take_cut();
            let (after, transient) = (self.cut_after, self.transient);
            // Key order, as the cloud stores list.
            futures::stream::once(async move {
                let mut all: Vec<Result<ObjectMeta>> = s.collect().await;
                all.sort_by(|a, b| match (a, b) {
                    (Ok(a), Ok(b)) => a.location.cmp(&b.location),
                    _ => std::cmp::Ordering::Equal,
                });
                if cut {
                    all.truncate(after);
                    all.push(Err(cut_error(transient)));
                }
                futures::stream::iter(all)
            })
            .flatten()
            .boxed()
        }
    }

    async fn store(cuts: u32, transient: bool) -> Arc<Cutting> {
        let inner = InMemory::new();
        for i in 0..10 {
            inner
                .put(
                    &Path::from(format!("t/part-{i:02}.parquet")),
                    PutPayload::from("x"),
                )
                .await
                .unwrap();
        }
        Arc::new(Cutting {
            inner,
            cut_after: 4,
            cuts: AtomicU32::new(cuts),
            transient,
            listings: AtomicU32::new(0),
        })
    }

    async fn names(store: &ListRetry) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut s = store.list(Some(&Path::from("t")));
        while let Some(m) = s.next().await {
            out.push(m?.location.to_string());
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_cut_listing_continues_after_the_last_object_given() {
        let cutting = store(2, true).await;
        let retry = ListRetry::new(cutting.clone());
        let got = names(&retry).await.unwrap();
        let want: Vec<String> = (0..10).map(|i| format!("t/part-{i:02}.parquet")).collect();
        assert_eq!(got, want, "each object once, in order");
        assert_eq!(cutting.listings.load(Ordering::Relaxed), 3);
        let listed = retry.list_with_delimiter(Some(&Path::from("t"))).await;
        assert_eq!(listed.unwrap().objects.len(), 10);
    }

    #[tokio::test]
    async fn a_refusal_or_too_many_cuts_fail_the_listing() {
        let retry = ListRetry::new(store(1, false).await);
        assert!(names(&retry).await.is_err(), "not retried");
        let cutting = store(10, true).await;
        let retry = ListRetry::new(cutting.clone());
        assert!(names(&retry).await.is_err());
        assert_eq!(cutting.listings.load(Ordering::Relaxed), 1 + RETRIES);
    }
}
