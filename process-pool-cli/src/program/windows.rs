//! Windows: a bare name is looked for in `PATH`, then in ppool's own directory and the system
//! directories (where the standard library's spawn also looks); a name without an extension is tried with each of `PATHEXT`'s
//! (`.COM;.EXE;.BAT;.CMD` when it is not set). Windows has no executable bit: a file is enough.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub(super) fn find(program: &Path) -> Result<PathBuf, String> {
    let shown = program.display();
    let with_extensions = candidates(program);
    let is_path = program.components().count() > 1 || program.has_root();
    if is_path {
        return with_extensions(program.to_owned())
            .into_iter()
            .find(|c| c.is_file())
            .ok_or_else(|| format!("`{shown}`: no such file"));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    // Where the standard library also looks: the directory of the running program, then the
    // system's.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.to_owned()))
    {
        dirs.push(dir);
    }
    if let Some(root) = std::env::var_os("SystemRoot") {
        let root = PathBuf::from(root);
        dirs.push(root.join("System32"));
        dirs.push(root);
    }
    dirs.into_iter()
        .flat_map(|dir| with_extensions(dir.join(program)))
        .find(|c| c.is_file())
        .ok_or_else(|| format!("command not found: `{shown}` (not in PATH)"))
}

/// The files `program` may name: itself when it has an extension, else itself with each of
/// `PATHEXT`'s extensions.
fn candidates(program: &Path) -> impl Fn(PathBuf) -> Vec<PathBuf> {
    let has_extension = program.extension().is_some();
    let extensions: Vec<OsString> = std::env::var_os("PATHEXT")
        .and_then(|e| e.into_string().ok())
        .unwrap_or_else(|| ".COM;.EXE;.BAT;.CMD".into())
        .split(';')
        .filter(|e| !e.is_empty())
        .map(OsString::from)
        .collect();
    move |path: PathBuf| {
        if has_extension {
            return vec![path];
        }
        extensions
            .iter()
            .map(|ext| {
                let mut name = path.clone().into_os_string();
                name.push(ext);
                PathBuf::from(name)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_with_their_extension_implied() {
        assert!(find(Path::new("cmd")).is_ok());
        assert!(find(Path::new("cmd.exe")).is_ok());
        let err = find(Path::new("surely-no-such-program")).unwrap_err();
        assert!(err.contains("command not found"), "{err}");
        let err = find(Path::new(r".\no\such\file")).unwrap_err();
        assert!(err.contains("no such file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool.cmd"), "@echo off\r\n").unwrap();
        assert!(find(&dir.path().join("tool")).is_ok());
        assert!(find(&dir.path().join("tool.cmd")).is_ok());
    }
}
