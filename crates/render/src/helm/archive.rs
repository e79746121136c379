//! Reading a packaged chart (`.tgz`) from bytes: gzip, then a minimal tar reader that
//! accepts regular files and directories (with ustar prefixes, GNU long names and PAX
//! paths) and refuses links, devices, absolute paths, `..` and oversized content — the
//! limits Helm applies, written so that nothing is ever written to disk.

use super::error::Error;
use std::io::Read;

/// Helm's `MaxDecompressedChartSize`: all files of one archive together.
pub const MAX_ARCHIVE_BYTES: u64 = 100 * 1024 * 1024;
/// Helm's `MaxDecompressedFileSize`: one file.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

/// The files of a chart archive, with the top directory (the chart's name) stripped, as
/// Helm's `LoadArchiveFiles` returns them.
pub(crate) fn read_tgz(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    read_entries(name, bytes, Layout::Chart, true)
}

/// The files of a gzipped tarball as Flux's `tar.Untar` extracts an artifact: paths kept
/// (`./` dropped), a name with `\`, a leading `/` or `../` refused, links and other
/// special entries refused, at most [`MAX_ARCHIVE_BYTES`] in all.
pub(crate) fn read_artifact(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    read_entries(name, bytes, Layout::Artifact, true)
}

/// [`read_artifact`] for a tarball that is not compressed (an OCI layer of media type
/// `…tar`).
pub(crate) fn read_tar_artifact(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    read_entries(name, bytes, Layout::Artifact, false)
}

/// Whose rules an archive is read by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A Helm chart: one top directory, stripped; Helm's refusals and limits.
    Chart,
    /// A Flux artifact: paths as they are; `tar.Untar`'s refusals.
    Artifact,
}

fn read_entries(
    name: &str,
    bytes: &[u8],
    layout: Layout,
    gzipped: bool,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let bad = |reason: String| Error::Archive {
        archive: name.to_string(),
        reason,
    };
    let mut tar = Vec::new();
    if gzipped {
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_ARCHIVE_BYTES + 1024 * 1024)
            .read_to_end(&mut tar)
            .map_err(|e| bad(format!("not a gzip archive: {e}")))?;
    } else {
        tar.extend_from_slice(&bytes[..bytes.len().min(MAX_ARCHIVE_BYTES as usize + 1024 * 1024)]);
    }
    if tar.len() as u64 > MAX_ARCHIVE_BYTES + 1024 * 512 {
        return Err(bad(match layout {
            Layout::Chart => {
                format!("decompressed chart is larger than the maximum size {MAX_ARCHIVE_BYTES}")
            }
            Layout::Artifact => {
                format!("the tarball is bigger than max archive size of {MAX_ARCHIVE_BYTES} bytes")
            }
        }));
    }
    let mut files = Vec::new();
    let mut pos = 0usize;
    let mut long_name: Option<String> = None;
    let mut total: u64 = 0;
    while pos + 512 <= tar.len() {
        let h = &tar[pos..pos + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let size =
            parse_size(&h[124..136]).ok_or_else(|| bad("corrupt tar header (size)".into()))?;
        let typeflag = h[156];
        let data_start = pos + 512;
        let data_end = data_start
            .checked_add(usize::try_from(size).map_err(|_| bad("entry too large".into()))?)
            .filter(|&e| e <= tar.len())
            .ok_or_else(|| bad("truncated tar archive".into()))?;
        pos = data_start + (size as usize).div_ceil(512) * 512;
        let data = &tar[data_start..data_end];
        let header_name = || {
            let name = cstr(&h[0..100]);
            let prefix = if &h[257..262] == b"ustar" {
                cstr(&h[345..500])
            } else {
                String::new()
            };
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            }
        };
        match typeflag {
            b'L' => {
                long_name = Some(cstr(data));
                continue;
            }
            b'x' => {
                if let Some(p) = pax_path(data) {
                    long_name = Some(p);
                }
                continue;
            }
            b'g' => continue,
            b'5' => {
                long_name = None;
                continue;
            }
            b'0' | 0 | b'7' => {}
            other => {
                let entry = long_name.take().unwrap_or_else(header_name);
                if layout == Layout::Artifact {
                    return Err(bad(match other {
                        b'2' => format!(
                            "tar file entry {entry} is a symlink, which is not allowed in this context"
                        ),
                        _ => format!("tar file entry {entry} contained unsupported file type"),
                    }));
                }
                let kind = match other {
                    b'1' => "a hard link",
                    b'2' => "a symlink",
                    _ => "not a regular file",
                };
                return Err(bad(format!(
                    "entry {entry:?} is {kind}; charts may hold only regular files"
                )));
            }
        }
        let entry = long_name.take().unwrap_or_else(header_name);
        if entry.ends_with('/') {
            continue;
        }
        if layout == Layout::Artifact {
            total += size;
            if total > MAX_ARCHIVE_BYTES {
                return Err(bad(format!(
                    "tar {entry:?} is bigger than max archive size of {MAX_ARCHIVE_BYTES} bytes"
                )));
            }
            let rel = artifact_path(&entry)
                .ok_or_else(|| bad(format!("tar contained invalid name error {entry:?}")))?;
            files.push((rel, data.to_vec()));
            continue;
        }
        let rel = strip_top(&entry).map_err(|reason| bad(format!("entry {entry:?}: {reason}")))?;
        if size > MAX_FILE_BYTES {
            return Err(bad(format!(
                "decompressed chart file {entry:?} is larger than the maximum file size {MAX_FILE_BYTES}"
            )));
        }
        total += size;
        if total > MAX_ARCHIVE_BYTES {
            return Err(bad(format!(
                "decompressed chart is larger than the maximum size {MAX_ARCHIVE_BYTES}"
            )));
        }
        let data = data
            .strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .unwrap_or(data);
        files.push((rel, data.to_vec()));
    }
    if files.is_empty() && layout == Layout::Chart {
        return Err(bad("no files in chart archive".into()));
    }
    Ok(files)
}

/// Flux's `validRelPath`, then the path cleaned as `filepath.Join` cleans it.
fn artifact_path(entry: &str) -> Option<String> {
    if entry.is_empty() || entry.contains('\\') || entry.starts_with('/') || entry.contains("../") {
        return None;
    }
    let parts: Vec<&str> = entry
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    // A last `..` (no slash after it) is what `validRelPath` lets through; it would leave.
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

/// Drops the first path component and refuses anything that would leave the chart.
fn strip_top(entry: &str) -> Result<String, String> {
    let entry = entry.replace('\\', "/");
    if entry.starts_with('/') {
        return Err("chart illegally contains absolute paths".into());
    }
    let mut parts = entry.split('/');
    let top = parts.next().unwrap_or_default();
    if top == "Chart.yaml" {
        return Err("chart yaml not in base directory".into());
    }
    let mut out: Vec<&str> = Vec::new();
    for p in parts {
        match p {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err("chart illegally references parent directory".into());
                }
            }
            p if p.len() == 2 && p.ends_with(':') => {
                return Err("chart contains illegally named files".into());
            }
            p => out.push(p),
        }
    }
    if top == ".." {
        return Err("chart illegally references parent directory".into());
    }
    if out.is_empty() {
        return Err("chart illegally contains content outside the base directory".into());
    }
    Ok(out.join("/"))
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Octal, or GNU base-256 when the high bit is set.
fn parse_size(b: &[u8]) -> Option<u64> {
    if b[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(b[0] & 0x7f);
        for &c in &b[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    let s = cstr(b);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// The `path` record of a PAX extended header (`"<len> path=<value>\n"` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let mut rest: &str = &text;
    let mut found = None;
    while !rest.is_empty() {
        let (len, _) = rest.split_once(' ')?;
        let n: usize = len.parse().ok()?;
        let record = rest.get(..n)?;
        rest = &rest[n..];
        let body = record.split_once(' ')?.1.strip_suffix('\n')?;
        if let Some(p) = body.strip_prefix("path=") {
            found = Some(p.to_string());
        }
    }
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a ustar header + data for tests (the format written by `tar`).
    pub(crate) fn entry(name: &str, typeflag: u8, data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        let size = format!("{:011o}", data.len());
        h[124..135].copy_from_slice(size.as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        let mut out = h;
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    pub(crate) fn tgz(entries: &[Vec<u8>]) -> Vec<u8> {
        use std::io::Write;
        let mut tar: Vec<u8> = entries.concat();
        tar.extend_from_slice(&[0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn reads_regular_files_and_strips_the_top_directory() {
        let t = tgz(&[
            entry("c/Chart.yaml", b'0', b"name: c\n"),
            entry("c/templates/", b'5', b""),
            entry("c/templates/a.yaml", b'0', b"a"),
        ]);
        let files = read_tgz("c.tgz", &t).unwrap();
        assert_eq!(
            files,
            vec![
                ("Chart.yaml".to_string(), b"name: c\n".to_vec()),
                ("templates/a.yaml".to_string(), b"a".to_vec())
            ]
        );
    }

    #[test]
    fn refuses_escapes_links_and_garbage() {
        let up = read_tgz("x.tgz", &tgz(&[entry("c/../../etc/passwd", b'0', b"x")])).unwrap_err();
        assert!(up.to_string().contains("parent directory"), "{up}");
        let abs = read_tgz("x.tgz", &tgz(&[entry("/etc/passwd", b'0', b"x")])).unwrap_err();
        assert!(abs.to_string().contains("absolute"), "{abs}");
        let link = read_tgz("x.tgz", &tgz(&[entry("c/values.yaml", b'2', b"")])).unwrap_err();
        assert!(link.to_string().contains("symlink"), "{link}");
        assert!(read_tgz("x.tgz", b"not gzip").is_err());
    }

    /// Flux's `tar.Untar`: paths kept (`./` dropped), `validRelPath`'s refusals, links
    /// refused in its words.
    #[test]
    fn an_artifact_keeps_its_paths_and_refuses_what_flux_refuses() {
        let t = tgz(&[
            entry("./", b'5', b""),
            entry("./deploy/app.yaml", b'0', b"kind: ConfigMap\n"),
            entry("kustomization.yaml", b'0', b"resources: []\n"),
        ]);
        let files = read_artifact("a.tgz", &t).unwrap();
        assert_eq!(
            files,
            vec![
                ("deploy/app.yaml".to_string(), b"kind: ConfigMap\n".to_vec()),
                (
                    "kustomization.yaml".to_string(),
                    b"resources: []\n".to_vec()
                )
            ]
        );
        for name in [
            "../etc/passwd",
            "deploy/../../x",
            "/etc/passwd",
            "a\\b",
            "deploy/..",
        ] {
            let error = read_artifact("a.tgz", &tgz(&[entry(name, b'0', b"x")])).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("tar contained invalid name error"),
                "{name}: {error}"
            );
        }
        let link = read_artifact("a.tgz", &tgz(&[entry("deploy/x", b'2', b"")])).unwrap_err();
        assert!(
            link.to_string().contains(
                "tar file entry deploy/x is a symlink, which is not allowed in this context"
            ),
            "{link}"
        );
        let hard = read_artifact("a.tgz", &tgz(&[entry("deploy/x", b'1', b"")])).unwrap_err();
        assert!(hard.to_string().contains("unsupported file type"), "{hard}");
        // An empty artifact is empty, not an error.
        assert_eq!(read_artifact("a.tgz", &tgz(&[])).unwrap(), Vec::new());
    }

    /// A gzip bomb (a small layer expanding past the limit) is refused after reading at
    /// most the limit, never inflated whole.
    #[test]
    fn an_artifact_expanding_past_the_limit_is_refused_bounded() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        let mut header = entry("big", b'0', b"");
        // The header claims a file of 120 MiB; the zeros that follow are its content.
        let size = format!("{:011o}", 120u64 << 20);
        header[124..135].copy_from_slice(size.as_bytes());
        gz.write_all(&header[..512]).unwrap();
        for _ in 0..120 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{} bytes compressed", bomb.len());
        let error = read_artifact("bomb.tgz", &bomb).unwrap_err();
        assert!(
            error.to_string().contains("bigger than max archive size"),
            "{error}"
        );
    }

    /// Whatever the names, an artifact's paths stay inside it: no absolute path, no `..`,
    /// no empty component.
    #[test]
    fn artifact_paths_never_leave_the_artifact() {
        let parts = ["..", ".", "", "a", "b.yaml", "/", "\\", "c:", "..."];
        let mut names = Vec::new();
        for a in parts {
            for b in parts {
                for c in parts {
                    names.push(format!("{a}/{b}/{c}"));
                    names.push(format!("{a}{b}/{c}"));
                }
            }
        }
        for name in names {
            if let Some(path) = artifact_path(&name) {
                assert!(!path.starts_with('/'), "{name} → {path}");
                assert!(
                    path.split('/')
                        .all(|p| !p.is_empty() && p != ".." && p != "."),
                    "{name} → {path}"
                );
                assert!(!path.contains('\\'), "{name} → {path}");
            }
        }
    }
}
