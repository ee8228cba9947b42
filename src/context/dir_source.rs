//! [`DirSource`]: files under a root directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::id::ContextId;
use super::static_source::page_after;
use super::{
    Content, ContextEntry, ContextMeta, ContextSource, ListRequest, Page, SourceError,
    SourceRequest, content_version,
};
use crate::error::ConfigError;

/// Default largest file served: 8 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Default largest number of files a listing walks.
pub const DEFAULT_MAX_LIST_ENTRIES: usize = 100_000;

/// Serves the files under a root directory; the id `docs/intro.md` is the file
/// `<root>/docs/intro.md`.
///
/// Never leaves the root: ids cannot hold `..`, and every path is resolved (symlinks
/// included) and checked to lie under the resolved root before it is opened. Files whose
/// names are not valid id segments are neither listed nor served. The MIME type comes from
/// the extension, the version is a hash of the content, and files over the size limit are
/// refused with [`SourceError::TooLarge`]. A listing walks the tree (up to a bounded number
/// of entries) on each call, so this source suits modest trees.
///
/// ```
/// use mcp_bastion::context::{ContextId, ContextSource, DirSource, SourceRequest};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let root = tempfile::tempdir()?;
/// std::fs::write(root.path().join("intro.md"), "# Intro")?;
/// let source = DirSource::new(root.path())?.with_max_file_bytes(1024);
/// let context = source.get(&ContextId::parse("intro.md")?, &SourceRequest::default()).await?;
/// assert_eq!(context.data.mime_type, "text/markdown");
/// assert_eq!(context.data.content.as_text(), Some("# Intro"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DirSource {
    inner: Arc<DirConfig>,
}

#[derive(Debug, Clone)]
struct DirConfig {
    root: PathBuf,
    max_file_bytes: u64,
    max_list_entries: usize,
}

impl DirSource {
    /// A source over `root`, which must be an existing directory.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let given = root.as_ref();
        let root = fs::canonicalize(given)
            .map_err(|err| ConfigError::new(format!("context root {}: {err}", given.display())))?;
        if !root.is_dir() {
            return Err(ConfigError::new(format!(
                "context root {} is not a directory",
                given.display()
            )));
        }
        Ok(Self {
            inner: Arc::new(DirConfig {
                root,
                max_file_bytes: DEFAULT_MAX_FILE_BYTES,
                max_list_entries: DEFAULT_MAX_LIST_ENTRIES,
            }),
        })
    }

    fn config_mut(&mut self) -> &mut DirConfig {
        Arc::make_mut(&mut self.inner)
    }

    /// Largest file served, in bytes.
    #[must_use]
    pub fn with_max_file_bytes(mut self, limit: u64) -> Self {
        self.config_mut().max_file_bytes = limit;
        self
    }

    /// Most files a listing walks.
    #[must_use]
    pub fn with_max_list_entries(mut self, limit: usize) -> Self {
        self.config_mut().max_list_entries = limit;
        self
    }

    /// The resolved root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }
}

impl DirConfig {
    /// The resolved path of `id`, if it is a regular file under the root.
    fn resolve(&self, id: &ContextId) -> Result<(PathBuf, fs::Metadata), SourceError> {
        let mut path = self.root.clone();
        path.extend(id.segments());
        let resolved = match fs::canonicalize(&path) {
            Ok(resolved) => resolved,
            Err(err) if is_missing(&err) => return Err(SourceError::NotFound),
            Err(err) => return Err(SourceError::Internal(err.into())),
        };
        // A symlink pointing outside the root is treated as absent, not as forbidden, so the
        // answer reveals nothing about the rest of the file system.
        if !resolved.starts_with(&self.root) {
            return Err(SourceError::NotFound);
        }
        let metadata = fs::metadata(&resolved).map_err(|err| {
            if is_missing(&err) {
                SourceError::NotFound
            } else {
                SourceError::Internal(err.into())
            }
        })?;
        if !metadata.is_file() {
            return Err(SourceError::NotFound);
        }
        Ok((resolved, metadata))
    }

    fn read(&self, id: &ContextId) -> Result<ContextEntry, SourceError> {
        let (path, metadata) = self.resolve(id)?;
        if metadata.len() > self.max_file_bytes {
            return Err(SourceError::TooLarge {
                limit: self.max_file_bytes,
            });
        }
        let file = fs::File::open(&path).map_err(|err| SourceError::Internal(err.into()))?;
        // The file may grow between stat and read: never read past the limit.
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        file.take(self.max_file_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| SourceError::Internal(err.into()))?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(SourceError::TooLarge {
                limit: self.max_file_bytes,
            });
        }
        let mime = mime_guess::from_path(&path).first_or_octet_stream();
        let version = content_version(&bytes);
        let content = if is_textual(&mime) {
            match String::from_utf8(bytes) {
                Ok(text) => Content::Text(text),
                Err(err) => Content::Binary(Bytes::from(err.into_bytes())),
            }
        } else {
            Content::Binary(Bytes::from(bytes))
        };
        let format = match (&content, mime.subtype().as_str()) {
            (Content::Binary(_), _) => "binary",
            (Content::Text(_), "json") => "json",
            (Content::Text(_), "markdown") => "markdown",
            (Content::Text(_), _) => "text",
        };
        let mut context = ContextEntry::new("file", format, content)
            .with_mime_type(mime.essence_str())
            .with_version(version);
        if let Ok(modified) = metadata.modified() {
            context = context.with_last_modified(modified);
        }
        Ok(context)
    }

    fn walk(&self) -> Result<BTreeMap<ContextId, ContextMeta>, SourceError> {
        let mut found = BTreeMap::new();
        let mut pending = vec![(self.root.clone(), String::new())];
        let mut visited = 0usize;
        while let Some((dir, prefix)) = pending.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if is_missing(&err) => continue,
                Err(err) => return Err(SourceError::Internal(err.into())),
            };
            for entry in entries {
                visited += 1;
                if visited > self.max_list_entries {
                    return Ok(found);
                }
                let Ok(entry) = entry else { continue };
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let id_text = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                let Ok(id) = ContextId::parse(&id_text) else {
                    continue;
                };
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                if file_type.is_dir() {
                    pending.push((entry.path(), id_text));
                } else if let Ok((path, metadata)) = self.resolve(&id) {
                    // Symlinked files are listed only when they resolve inside the root;
                    // symlinked directories are not descended (no loops).
                    let mime = mime_guess::from_path(&path).first_or_octet_stream();
                    let mut meta = ContextMeta::new(id.clone(), "file", mime.essence_str());
                    meta.size = Some(metadata.len());
                    found.insert(id, meta);
                }
            }
        }
        Ok(found)
    }
}

fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    )
}

fn is_textual(mime: &mime_guess::Mime) -> bool {
    mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.subtype().as_str(),
            "json" | "xml" | "javascript" | "yaml" | "toml" | "x-yaml" | "x-toml"
        )
        || mime.suffix().is_some_and(|s| s == "json" || s == "xml")
}

async fn blocking<T, F>(work: F) -> Result<T, SourceError>
where
    F: FnOnce() -> Result<T, SourceError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| SourceError::Internal(err.into()))?
}

impl ContextSource for DirSource {
    async fn get(
        &self,
        id: &ContextId,
        _request: &SourceRequest,
    ) -> Result<ContextEntry, SourceError> {
        let config = Arc::clone(&self.inner);
        let id = id.clone();
        blocking(move || config.read(&id)).await
    }

    async fn list(&self, request: &ListRequest) -> Result<Page<ContextMeta>, SourceError> {
        let config = Arc::clone(&self.inner);
        let all = blocking(move || config.walk()).await?;
        Ok(page_after(&all, request, |_, meta| meta.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ContextId {
        ContextId::parse(raw).unwrap()
    }

    async fn get(source: &DirSource, raw: &str) -> Result<ContextEntry, SourceError> {
        source.get(&id(raw), &SourceRequest::default()).await
    }

    #[tokio::test]
    async fn serves_files_with_type_version_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("docs")).unwrap();
        fs::write(dir.path().join("docs/a.json"), br#"{"a":1}"#).unwrap();
        fs::write(dir.path().join("docs/b.bin"), [0u8, 159, 146, 150]).unwrap();
        fs::write(dir.path().join("big.txt"), vec![b'x'; 2048]).unwrap();
        let source = DirSource::new(dir.path())
            .unwrap()
            .with_max_file_bytes(1024);

        let json = get(&source, "docs/a.json").await.unwrap();
        assert_eq!(json.data.mime_type, "application/json");
        assert_eq!(json.data.format, "json");
        assert_eq!(json.version, content_version(br#"{"a":1}"#));
        assert!(json.last_modified.is_some());

        let bin = get(&source, "docs/b.bin").await.unwrap();
        assert_eq!(
            bin.data.content,
            Content::Binary(Bytes::from_static(&[0, 159, 146, 150]))
        );

        assert!(matches!(
            get(&source, "big.txt").await,
            Err(SourceError::TooLarge { limit: 1024 })
        ));
        assert!(matches!(
            get(&source, "docs").await,
            Err(SourceError::NotFound)
        ));
        assert!(matches!(
            get(&source, "nope").await,
            Err(SourceError::NotFound)
        ));
        assert!(matches!(
            get(&source, "docs/a.json/x").await,
            Err(SourceError::NotFound)
        ));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn never_follows_symlinks_out_of_the_root() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("inside.txt"), "inside").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            dir.path().join("leak.txt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("inside.txt"), dir.path().join("alias.txt"))
            .unwrap();
        let source = DirSource::new(dir.path()).unwrap();

        assert!(matches!(
            get(&source, "leak.txt").await,
            Err(SourceError::NotFound)
        ));
        assert!(matches!(
            get(&source, "out/secret.txt").await,
            Err(SourceError::NotFound)
        ));
        assert_eq!(
            get(&source, "alias.txt")
                .await
                .unwrap()
                .data
                .content
                .as_text(),
            Some("inside")
        );

        let page = source.list(&ListRequest::new(100)).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["alias.txt", "inside.txt"]);
    }

    #[tokio::test]
    async fn lists_in_pages_with_prefix() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("p/q")).unwrap();
        for name in ["p/1.txt", "p/2.txt", "p/q/3.txt", "z.txt", "bad name.txt"] {
            fs::write(dir.path().join(name), name).unwrap();
        }
        let source = DirSource::new(dir.path()).unwrap();
        let first = source
            .list(&ListRequest::new(2).with_prefix("p/"))
            .await
            .unwrap();
        let ids: Vec<_> = first.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["p/1.txt", "p/2.txt"]);
        let second = source
            .list(
                &ListRequest::new(2)
                    .with_prefix("p/")
                    .with_cursor(first.next_cursor.unwrap()),
            )
            .await
            .unwrap();
        let ids: Vec<_> = second.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["p/q/3.txt"]);
        assert_eq!(second.next_cursor, None);
    }

    #[test]
    fn root_must_be_a_directory() {
        assert!(DirSource::new("/definitely/not/here").is_err());
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = DirSource::new(file.path()).unwrap_err();
        assert!(err.to_string().contains("not a directory"));
    }
}
