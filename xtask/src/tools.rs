//! Finding and installing the peers the benchmark compares with: programs on the PATH or in
//! `target/tools/bin` (where `cargo xtask tools` installs them), and PyPI packages in one
//! virtual environment under `target/peers/venv`, installed on first use when `python3` is
//! present.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd::Cargo;

/// The crates `cargo xtask tools` installs: (crate, version, program it provides).
/// wasmtime-cli is pinned to the wasmtime the project depends on, so both run the same engine.
pub(crate) const CRATES: [(&str, &str, &str); 2] = [
    ("rust-parallel", "1", "rust-parallel"),
    ("wasmtime-cli", "=48.0.8", "wasmtime"),
];

/// Where `cargo xtask tools` installs (`--root`); programs land in its `bin/`.
pub(crate) fn tools_root(target: &Path) -> PathBuf {
    target.join("tools")
}

/// `program` as a path: itself if it contains a `/` and is a file, else the first match on the
/// PATH, else `target/tools/bin/program`.
pub(crate) fn find(program: &str, target: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| program.into());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let local = tools_root(target).join("bin").join(program);
        local.is_file().then_some(local)
    })
}

/// Whether the venv under `target/peers/` can import every one of `modules`.
pub(crate) fn python_has(target: &Path, modules: &[&str]) -> bool {
    let python = target.join("peers/venv/bin/python");
    let import = format!("import {}", modules.join(", "));
    Command::new(python)
        .args(["-c", &import])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A Python with the PyPI `package` importable as `module`: the venv's under `target/peers/`,
/// made and given the package on first use. Errors say why, ready for a "skipped" line.
pub(crate) fn python_with(target: &Path, package: &str, module: &str) -> Result<PathBuf, String> {
    let venv = target.join("peers/venv");
    let python = venv.join("bin/python");
    let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
    if python_has(target, &[module]) {
        return Ok(python);
    }
    let Some(python3) = find("python3", target) else {
        return Err("no `python3`: skipped".to_owned());
    };
    eprintln!(
        "==> python3 -m venv {0} && {0}/bin/pip install {package}",
        venv.display()
    );
    // Without a network pip would retry for minutes before giving up: fail fast instead.
    let pip = [
        "install",
        "-q",
        "--retries",
        "1",
        "--timeout",
        "15",
        package,
    ];
    let made = (python.is_file() || ok(Command::new(&python3).args(["-m", "venv"]).arg(&venv)))
        && ok(Command::new(venv.join("bin/pip")).args(pip));
    if made {
        Ok(python)
    } else {
        Err(format!(
            "could not install PyPI `{package}` into {}: skipped",
            venv.display()
        ))
    }
}

/// Writes the Python `script` to `target/peers/<name>`, runs it with `python` and `args`, and
/// reads the one number it prints; errors say why, ready for a "skipped" line.
pub(crate) fn run_python(
    python: &Path,
    target: &Path,
    name: &str,
    script: &str,
    args: &[&str],
) -> Result<f64, String> {
    let dir = target.join("peers");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "==> {} {} {}",
        python.display(),
        path.display(),
        args.join(" ")
    );
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .map_err(|e| format!("unexpected output of {name}: {e}"))
}

/// `cargo xtask tools`: installs the peers that come from crates.io into `target/tools/`
/// (rust-parallel, and the wasmtime CLI, which takes about 10 minutes to build on 2 cores).
pub(crate) fn install(args: &[String], target: &Path) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("unknown argument `{arg}` to `cargo xtask tools` (it takes none)");
    }
    let root = tools_root(target);
    let root = root.to_string_lossy();
    for (name, version, program) in CRATES {
        if let Some(found) = find(program, target) {
            eprintln!(
                "`{program}` is already at {}: not installed",
                found.display()
            );
            continue;
        }
        let spec = format!("{name}@{version}");
        Cargo::new(&["install", "--locked", "--root", &root, &spec])
            .run()
            .with_context(|| format!("installing {spec}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_the_path_and_by_path() {
        let target = Path::new("/nonexistent-target");
        let sh = find("sh", target).expect("sh is on the PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"));
        assert_eq!(find(&sh.to_string_lossy(), target), Some(sh));
        assert_eq!(find("surely-not-a-program-xyz", target), None);
        assert_eq!(find("/surely/not/here", target), None);
    }

    #[test]
    fn finds_programs_installed_under_target_tools() {
        let target = std::env::temp_dir().join(format!("xtask-tools-{}", std::process::id()));
        let bin = tools_root(&target).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("only-here-xyz"), "").unwrap();
        assert_eq!(
            find("only-here-xyz", &target),
            Some(bin.join("only-here-xyz"))
        );
        std::fs::remove_dir_all(&target).unwrap();
    }

    #[test]
    fn tools_takes_no_arguments() {
        let error = install(&["--all".to_owned()], Path::new("/t")).unwrap_err();
        assert!(error.to_string().contains("`--all`"), "{error}");
    }
}
