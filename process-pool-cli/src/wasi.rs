//! `--wasi`: jobs that are WebAssembly modules, run by the facade's `WasiSpawner`, with
//! `--dir`, `--max-memory` and `--fuel`.

use std::io::Read;
use std::path::{Path, PathBuf};

use process_pool::{DirAccess, WasiSpawner};

use crate::units::parse_bytes;

/// The sandbox's settings, checked.
#[derive(Debug)]
pub(crate) struct WasiSettings {
    dirs: Vec<(PathBuf, String, DirAccess)>,
    max_memory: Option<usize>,
    fuel: Option<u64>,
}

impl WasiSettings {
    /// Reads `--dir HOST[:GUEST][:ro]`, `--max-memory` and `--fuel`.
    pub(crate) fn parse(
        dirs: &[String],
        max_memory: Option<&str>,
        fuel: Option<u64>,
    ) -> Result<Self, String> {
        let dirs = dirs
            .iter()
            .map(|d| parse_dir(d))
            .collect::<Result<_, _>>()?;
        let max_memory = max_memory
            .map(|m| {
                parse_bytes(m)
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                    .map_err(|e| format!("--max-memory: {e}"))
            })
            .transpose()?;
        Ok(WasiSettings {
            dirs,
            max_memory,
            fuel,
        })
    }

    /// The spawner: its engine is built here, only for a WASI run.
    pub(crate) fn spawner(&self, workers: usize) -> Result<WasiSpawner, String> {
        let instances = u32::try_from(workers).unwrap_or(u32::MAX);
        let mut builder = WasiSpawner::builder().max_instances(instances);
        if let Some(bytes) = self.max_memory {
            builder = builder.max_memory(bytes);
        }
        if let Some(units) = self.fuel {
            builder = builder.fuel(units);
        }
        for (host, guest, access) in &self.dirs {
            builder = builder.preopen(host, guest.clone(), *access);
        }
        builder.build().map_err(|e| format!("--wasi: {e}"))
    }
}

/// `HOST`, `HOST:GUEST`, `HOST:ro`, `HOST:GUEST:ro` (or `:rw`); on Windows a HOST may start
/// with a drive (`C:\data:/data:ro`).
fn parse_dir(spec: &str) -> Result<(PathBuf, String, DirAccess), String> {
    let drive = crate::os_text::drive_len(spec);
    let mut parts: Vec<&str> = spec[drive..].split(':').collect();
    parts[0] = &spec[..drive + parts[0].len()];
    let access = match parts.last() {
        Some(&"ro") if parts.len() > 1 => DirAccess::ReadOnly,
        Some(&"rw") if parts.len() > 1 => DirAccess::ReadWrite,
        _ => {
            parts.push("rw");
            DirAccess::ReadWrite
        }
    };
    parts.pop();
    let (host, guest) = match parts.as_slice() {
        [host] if !host.is_empty() => (*host, *host),
        [host, guest] if !host.is_empty() && !guest.is_empty() => (*host, *guest),
        _ => return Err(format!("--dir `{spec}`: expected HOST[:GUEST][:ro]")),
    };
    if !Path::new(host).is_dir() {
        return Err(format!("--dir `{spec}`: `{host}` is not a directory"));
    }
    Ok((PathBuf::from(host), guest.to_owned(), access))
}

/// A module must exist and be WebAssembly: binary (`\0asm`) or, in a `.wat` file, text.
pub(crate) fn check_module(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("cannot read module `{shown}`: {e}"))?;
    if head[..read] == *b"\0asm" || path.extension().is_some_and(|e| e == "wat") {
        return Ok(());
    }
    Err(format!(
        "`{shown}` is not a WebAssembly module (no `\\0asm` header, and not a .wat file)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_read_host_guest_and_access() {
        let tmp = std::env::temp_dir();
        let host = tmp.to_str().unwrap();
        let (h, g, a) = parse_dir(host).unwrap();
        assert_eq!(
            (h.to_str().unwrap(), g.as_str(), a),
            (host, host, DirAccess::ReadWrite)
        );
        let (_, g, a) = parse_dir(&format!("{host}:/data:ro")).unwrap();
        assert_eq!((g.as_str(), a), ("/data", DirAccess::ReadOnly));
        let (_, g, a) = parse_dir(&format!("{host}:ro")).unwrap();
        assert_eq!((g.as_str(), a), (host, DirAccess::ReadOnly));
        assert!(
            parse_dir("/no/such/dir")
                .unwrap_err()
                .contains("not a directory")
        );
        assert!(parse_dir(":x").is_err());
    }

    #[test]
    fn modules_are_checked_by_their_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("m.wasm");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        assert!(
            check_module(&text)
                .unwrap_err()
                .contains("not a WebAssembly module")
        );
        let wasm = dir.path().join("ok.wasm");
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
        assert!(check_module(&wasm).is_ok());
        assert!(
            check_module(&dir.path().join("none.wasm"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
