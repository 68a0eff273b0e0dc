//! The probe image: netcheck's own static binary in a FROM-scratch image, imported
//! through the engine's API. No registry, no pull: it works on an engine with no images.

use bollard::Docker;
use bollard::query_parameters::ImportImageOptionsBuilder;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

use netcheck_model::error::Error;

mod build_id;

pub const REPO: &str = "netcheck-probe";

/// Ensures the probe image for this very binary exists and returns its reference.
///
/// The tag is a hash of the binary, so a rebuilt netcheck gets a fresh image and an
/// unchanged one reuses the old: the import (~130 ms) happens once per build.
pub async fn ensure(docker: &Docker) -> Result<String, Error> {
    let reference = reference().await?;
    if docker.inspect_image(&reference).await.is_ok() {
        return Ok(reference);
    }
    let exe = own_binary().await?;
    let archive = archive(&reference, &exe)
        .map_err(|e| Error::Probe(format!("building the probe image: {e}")))?;
    // Loaded as a docker-archive (`docker save`'s format), not imported from a root
    // filesystem: Podman's import drops the tag and mangles the ENTRYPOINT of `changes`,
    // while every engine keeps a loaded image's tag and configuration as written.
    docker
        .import_image(
            ImportImageOptionsBuilder::new().quiet(true).build(),
            bollard::body_full(archive.into()),
            None,
        )
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| Error::Probe(format!("loading the probe image: {e}")))?;
    Ok(reference)
}

/// The probe image's reference for this binary, whether the engine has it or not.
pub async fn reference() -> Result<String, Error> {
    Ok(format!("{REPO}:{}", tag().await?))
}

/// The image tag of this binary: its identity, found once per process, so that
/// `serve`'s runs do not look again.
///
/// The identity is the linker's build ID where the binary has one (GNU ld and lld write
/// a hash of the linked output into a note): a few KB of headers to read. Hashing the
/// whole binary (megabytes) instead cost 35 to 50 ms on the critical path of every run,
/// and twice in a run with the agent. Without a build ID, the binary is hashed.
async fn tag() -> Result<String, Error> {
    static TAG: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TAG.get_or_try_init(|| async {
        let digest = tokio::task::spawn_blocking(|| -> std::io::Result<Vec<u8>> {
            if let Some(id) = build_id::of_file(std::path::Path::new("/proc/self/exe")) {
                return Ok(id);
            }
            // Streamed: holding the whole binary (megabytes) to hash it would be most of
            // a run's peak memory. Only a missing image needs it read whole.
            let mut exe = std::fs::File::open("/proc/self/exe")?;
            let mut hasher = Sha256::new();
            std::io::copy(&mut exe, &mut hasher)?;
            Ok(hasher.finalize().to_vec())
        })
        .await
        .map_err(|e| Error::Probe(format!("identifying netcheck's own binary: {e}")))?
        .map_err(|e| Error::Probe(format!("reading netcheck's own binary: {e}")))?;
        Ok(hex(&digest[..8]))
    })
    .await
    .cloned()
}

async fn own_binary() -> Result<Vec<u8>, Error> {
    let exe = tokio::fs::read("/proc/self/exe")
        .await
        .map_err(|e| Error::Probe(format!("reading netcheck's own binary: {e}")))?;
    if has_interpreter(&exe) {
        return Err(Error::Probe(
            "this netcheck binary is dynamically linked, so it cannot run alone in the probe image; \
             build it from the repository (cargo build picks up .cargo/config.toml's static linking)"
                .into(),
        ));
    }
    Ok(exe)
}

/// A root filesystem of one file, plus the mount points the runtime fills in.
fn rootfs_tar(exe: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::with_capacity(exe.len() + 4096));
    for dir in ["etc", "proc", "sys", "dev", "tmp"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        tar.append_data(&mut h, dir, std::io::empty())?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(exe.len() as u64);
    tar.append_data(&mut h, "netcheck", exe)?;
    tar.into_inner()
}

/// The probe image as a docker-archive: its one layer (the root filesystem), the image
/// configuration that names the entrypoint and the label, and the manifest that tags it.
/// The configuration's name is its own digest, and the layer's diff ID the digest of its
/// tar, as the format asks.
fn archive(reference: &str, exe: &[u8]) -> std::io::Result<Vec<u8>> {
    let layer = rootfs_tar(exe)?;
    let layer_digest = hex(&Sha256::digest(&layer));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": goarch(),
        "os": "linux",
        "config": {
            "Entrypoint": ["/netcheck"],
            "Labels": {"netcheck": "probe"},
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    }))?;
    let config_name = format!("{}.json", hex(&Sha256::digest(&config)));
    let layer_name = format!("{layer_digest}/layer.tar");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [reference],
        "Layers": [layer_name],
    }]))?;
    let mut tar = tar::Builder::new(Vec::with_capacity(layer.len() + 8192));
    for (name, data) in [
        (config_name.as_str(), &config[..]),
        (layer_name.as_str(), &layer[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, name, data)?;
    }
    tar.into_inner()
}

/// The image architecture in the engines' (Go's) names for the one this binary runs on.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an ELF binary asks for a dynamic loader (a PT_INTERP program header).
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    // 64-bit little-endian ELF only: the one target netcheck builds for.
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == Some(PT_INTERP))
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_test_binary_is_static() {
        // The test binary is built with the same flags as netcheck itself.
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert!(!super::has_interpreter(&exe), "built without +crt-static?");
        assert!(!super::has_interpreter(b"not an elf"));
    }
}
