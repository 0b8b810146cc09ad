//! Unix: as `execvp` finds a program.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub(super) fn find(program: &Path) -> Result<PathBuf, String> {
    let shown = program.display();
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_os_str().as_bytes().contains(&b'/') {
        return match program.metadata() {
            Err(_) => Err(format!("`{shown}`: no such file")),
            Ok(_) if !executable(program) => Err(format!("`{shown}`: not an executable file")),
            Ok(_) => Ok(program.to_owned()),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| format!("command not found: `{shown}` (not in PATH)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_path_or_named_as_missing() {
        assert!(find(Path::new("sh")).is_ok());
        let err = find(Path::new("surely-no-such-program")).unwrap_err();
        assert!(err.contains("command not found"), "{err}");
        let err = find(Path::new("./no/such/file")).unwrap_err();
        assert!(err.contains("no such file"), "{err}");
        let err = find(Path::new("/etc/passwd")).unwrap_err();
        assert!(err.contains("not an executable"), "{err}");
    }
}
