//! Compiles Kubernetes' own `generated.proto` files into a protobuf descriptor set that
//! `src/protobuf` uses to read `application/vnd.kubernetes.protobuf` request bodies.
//!
//! The `.proto` files are not in this repository: they ship inside the `k8s-rs-pb` crate (a
//! build-dependency with no features, so none of its generated code is compiled); `protox`
//! (a protobuf compiler in Rust) turns them into a `FileDescriptorSet` in `OUT_DIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate that carries the upstream `.proto` files, and the Kubernetes release inside it
/// whose files we compile (its `src/<release>/` holds them, laid out by Go import path).
const PROTO_CRATE: &str = "k8s-rs-pb";
const PROTO_RELEASE: &str = "v1_35";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(message) = run() {
        // A build script reports failure by panicking; say what failed and why.
        panic!("building the Kubernetes protobuf descriptors failed: {message}");
    }
}

fn run() -> Result<(), String> {
    let root = proto_root()?;
    let files = proto_files(&root)?;
    let mut compiler = protox::Compiler::new([&root]).map_err(|e| e.to_string())?;
    compiler.include_imports(true).include_source_info(false);
    compiler
        .open_files(&files)
        .map_err(|e| format!("compiling the .proto files under {}: {e}", root.display()))?;
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    std::fs::write(
        out.join("kubernetes.fds"),
        compiler.encode_file_descriptor_set(),
    )
    .map_err(|e| format!("writing the descriptor set: {e}"))?;
    Ok(())
}

/// `src/<release>` of the proto crate. Cargo tells build scripts nothing about where a
/// dependency's sources are, so we ask `cargo metadata` — about a throwaway manifest in
/// `OUT_DIR` that depends on exactly the version in `Cargo.lock` and nothing else. Asking
/// about this workspace instead would need every member's dev-dependencies downloaded.
fn proto_root() -> Result<PathBuf, String> {
    let version = locked_version()?;
    let probe = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?)
        .join("proto-crate-probe");
    std::fs::create_dir_all(probe.join("src")).map_err(|e| e.to_string())?;
    // An empty [workspace] keeps cargo from taking this for a member of an enclosing one.
    let manifest = format!(
        "[package]\nname = \"proto-crate-probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
         [dependencies]\n{PROTO_CRATE} = {{ version = \"={version}\", default-features = false }}\n\n\
         [workspace]\n"
    );
    std::fs::write(probe.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(probe.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // A build-dependency is built for the host.
    let host = std::env::var("HOST").map_err(|e| e.to_string())?;
    // Offline: the build already downloaded the crate, and a build script has no business
    // touching the network. Filtered to the host: without it cargo wants every platform's
    // dependencies (android_system_properties, …) on disk, which a fresh machine's build
    // never downloaded.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .arg("--manifest-path")
        .arg(probe.join("Cargo.toml"))
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("reading cargo metadata: {e}"))?;
    let manifest_path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == PROTO_CRATE)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| format!("cargo metadata lists no {PROTO_CRATE} package"))?;
    let root = PathBuf::from(manifest_path)
        .parent()
        .ok_or("the proto crate's manifest has no parent directory")?
        .join("src")
        .join(PROTO_RELEASE);
    if !root.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    Ok(root)
}

/// The version of the proto crate in the nearest `Cargo.lock` above this crate: the one
/// this build compiled.
fn locked_version() -> Result<String, String> {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let lock = manifest_dir
        .ancestors()
        .map(|dir| dir.join("Cargo.lock"))
        .find(|path| path.is_file())
        .ok_or("no Cargo.lock above the crate")?;
    println!("cargo:rerun-if-changed={}", lock.display());
    let text =
        std::fs::read_to_string(&lock).map_err(|e| format!("reading {}: {e}", lock.display()))?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{PROTO_CRATE}\"") {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'));
            if let Some(version) = version {
                return Ok(version.to_owned());
            }
        }
    }
    Err(format!("{} has no {PROTO_CRATE} package", lock.display()))
}

/// Every stable `generated.proto` below `root`, as paths relative to it (the form imports
/// use), sorted so the descriptor set is the same on every machine.
fn proto_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("listing {}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).map_err(|e| e.to_string())?;
            if relative.extension().is_some_and(|ext| ext == "proto") && is_stable(relative) {
                files.push(relative.to_path_buf());
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files under {}", root.display()));
    }
    Ok(files)
}

/// Whether a `.proto` file is of a stable API version. kubesim serves only those, and the
/// alpha and beta files would double the descriptors' size and the time to load them.
fn is_stable(path: &Path) -> bool {
    !path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c.contains("alpha") || c.contains("beta") || c == "testapigroup"
    })
}
