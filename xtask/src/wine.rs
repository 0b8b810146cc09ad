//! Running the Windows tests on Linux: Wine, with the one DLL that Debian's Wine 8.0 lacks.
//!
//! Rust's standard library (since 1.78) imports `ProcessPrng` from `bcryptprimitives.dll`,
//! which Wine added only in 9.0: under Wine 8.0 every Rust program fails to start. A stand-in
//! (`xtask/src/wine/bcryptprimitives.c`, one function over `RtlGenRandom`) is built with
//! mingw-w64 into `target/wine/` and copied into the prefix's `system32`.
//!
//! - `cargo xtask wine-setup [PREFIX]` does that for a prefix of one's own (default:
//!   `$WINEPREFIX`, else `~/.wine`), so that
//!   `CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine cargo test --target x86_64-pc-windows-gnu`
//!   works by hand.
//! - `cargo xtask test --windows` uses a prefix under `target/wine/prefix`, made on first use,
//!   so that nothing outside the repository's target directory is read or changed (CI stays
//!   hermetic).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The Rust target the Windows tests are built for.
pub(crate) const TARGET: &str = "x86_64-pc-windows-gnu";

/// The C compiler (and linker) for [`TARGET`], from Debian's `gcc-mingw-w64-x86-64`.
pub(crate) const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// What to install when a tool is missing, as one line a user can paste.
pub(crate) const INSTALL_HINT: &str = "apt-get install -y wine gcc-mingw-w64-x86-64 \
     && rustup target add x86_64-pc-windows-gnu";

/// The stand-in DLL's source, relative to the workspace root.
const DLL_SOURCE: &str = "xtask/src/wine/bcryptprimitives.c";

/// The stand-in DLL's file name: the one Rust's standard library imports from.
const DLL_NAME: &str = "bcryptprimitives.dll";

/// The environment the Windows test binaries run in: cargo's runner for [`TARGET`], Wine's own
/// logging off, the given prefix, and the guests `cargo xtask guests` built (a Windows test
/// binary cannot build them: `process_pool_core::backend::conformance::guests`), as a Windows
/// path; and the large-stream checks at 256 MiB instead of 1 GiB (Wine moves a pipe's bytes an
/// order of magnitude slower than Linux, and the bounded-memory claim is Linux's 1 GiB run).
pub(crate) fn test_env(prefix: &Path, guests: &Path) -> [(&'static str, String); 5] {
    [
        (
            "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER",
            "wine".to_owned(),
        ),
        ("WINEDEBUG", "-all".to_owned()),
        ("WINEPREFIX", prefix.to_string_lossy().into_owned()),
        ("PROCESS_POOL_GUESTS", windows_path(guests)),
        ("PROCESS_POOL_BIG_STREAM", (256u64 << 20).to_string()),
    ]
}

/// An absolute `path` as Windows programs under Wine see it: on drive `Z:`, which Wine maps
/// to `/` in every new prefix.
pub(crate) fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.to_string_lossy().replace('/', "\\"))
}

/// The prefix `cargo xtask test --windows` uses: `target/wine/prefix`.
pub(crate) fn ci_prefix(target: &Path) -> PathBuf {
    target.join("wine/prefix")
}

/// What is missing to run the Windows tests: `wine`, the mingw-w64 C compiler, the Rust
/// standard library for [`TARGET`]. Empty when everything is there.
pub(crate) fn missing_tools(target: &Path) -> Vec<String> {
    let mut missing: Vec<String> = ["wine", MINGW_GCC]
        .into_iter()
        .filter(|tool| crate::tools::find(tool, target).is_none())
        .map(|tool| format!("`{tool}`"))
        .collect();
    if !crate::guests::target_installed(TARGET) {
        missing.push(format!("the Rust standard library for {TARGET}"));
    }
    missing
}

/// `cargo xtask wine-setup [PREFIX]`: the stand-in DLL built and installed into `PREFIX`
/// (default: `$WINEPREFIX`, else `~/.wine`), the prefix made first if it does not exist.
pub(crate) fn setup(args: &[String]) -> Result<()> {
    let prefix = match args {
        [] => default_prefix()?,
        [prefix] if !prefix.starts_with('-') => std::path::absolute(prefix)
            .with_context(|| format!("cannot make `{prefix}` an absolute path"))?,
        _ => bail!("`cargo xtask wine-setup` takes at most a prefix directory, got {args:?}"),
    };
    let target = crate::target_dir();
    let missing = missing_tools(&target);
    if !missing.is_empty() {
        bail!(
            "missing {}; install with `{INSTALL_HINT}`",
            missing.join(", ")
        );
    }
    install(&prefix, &target)?;
    eprintln!(
        "Wine prefix {} is ready; run Windows tests with\n  \
         WINEPREFIX={} CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine WINEDEBUG=-all \
         cargo test --target {TARGET} -p <crate>",
        prefix.display(),
        crate::cmd::quote(&prefix.to_string_lossy()),
    );
    Ok(())
}

/// `$WINEPREFIX` if set, else `~/.wine`: the prefix `wine` itself uses.
fn default_prefix() -> Result<PathBuf> {
    if let Some(prefix) = std::env::var_os("WINEPREFIX").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(prefix));
    }
    let home = std::env::var_os("HOME").context("neither WINEPREFIX nor HOME is set")?;
    Ok(Path::new(&home).join(".wine"))
}

/// Builds the stand-in DLL (when its source is newer than the built one), makes the prefix if
/// it has no `system32` yet, and copies the DLL there (when it differs). Idempotent, and safe
/// while Wine programs run in the prefix: the DLL is replaced by a rename, never rewritten.
pub(crate) fn install(prefix: &Path, target: &Path) -> Result<()> {
    let dll = build_dll(target)?;
    let system32 = prefix.join("drive_c/windows/system32");
    if !system32.is_dir() {
        make_prefix(prefix)?;
        if !system32.is_dir() {
            bail!(
                "`wineboot --init` made no {} (is {} a Wine prefix?)",
                system32.display(),
                prefix.display()
            );
        }
    }
    let installed = system32.join(DLL_NAME);
    let bytes = std::fs::read(&dll).with_context(|| format!("reading {}", dll.display()))?;
    if std::fs::read(&installed).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let staged = system32.join(format!("{DLL_NAME}.{}.new", std::process::id()));
    std::fs::write(&staged, &bytes).with_context(|| format!("writing {}", staged.display()))?;
    std::fs::rename(&staged, &installed)
        .with_context(|| format!("installing {}", installed.display()))?;
    eprintln!("installed {}", installed.display());
    Ok(())
}

/// How long the prefix's wineserver waits for a new client after the last one exited.
const SERVER_PERSISTS_SECONDS: u32 = 60;

/// Starts the prefix's wineserver (it puts itself in the background) so that it stays up for
/// [`SERVER_PERSISTS_SECONDS`] after its last client exits. By default it exits 3 s after the
/// last one, and a test binary started while it shuts down fails at once ("wine client error:
/// recvmsg: Connection reset by peer", seen in a CI run between two test binaries). It ends by
/// itself a minute after the tests, so nothing is left running.
pub(crate) fn keep_server(prefix: &Path) -> Result<()> {
    let status = Command::new("wineserver")
        .arg(format!("--persistent={SERVER_PERSISTS_SECONDS}"))
        .env("WINEPREFIX", prefix)
        .status()
        .context("starting `wineserver`")?;
    if !status.success() {
        bail!("`wineserver --persistent={SERVER_PERSISTS_SECONDS}` failed: {status}");
    }
    Ok(())
}

/// `target/wine/bcryptprimitives.dll`, built with mingw-w64 when missing or older than its
/// source.
fn build_dll(target: &Path) -> Result<PathBuf> {
    let source = crate::project_root().join(DLL_SOURCE);
    let dir = target.join("wine");
    let dll = dir.join(DLL_NAME);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let source_time = modified(&source).with_context(|| format!("{} is missing", DLL_SOURCE))?;
    if modified(&dll).is_some_and(|built| built >= source_time) {
        return Ok(dll);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut gcc = Command::new(MINGW_GCC);
    gcc.args(["-shared", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&dll)
        .arg(&source)
        .arg("-ladvapi32");
    run(&mut gcc)?;
    Ok(dll)
}

/// A new Wine prefix at `prefix` (`wineboot --init`, about 5 s), without the Mono and Gecko
/// installers Wine would otherwise offer: console programs need neither.
fn make_prefix(prefix: &Path) -> Result<()> {
    std::fs::create_dir_all(prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let mut wineboot = Command::new("wine");
    wineboot
        .args(["wineboot", "--init"])
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=");
    run(&mut wineboot)?;
    // wineboot returns before the server has written the prefix out: wait for it.
    let mut wait = Command::new("wineserver");
    wait.arg("--wait").env("WINEPREFIX", prefix);
    run(&mut wait)
}

/// Runs `command`, printing it first; fails if it cannot start or exits unsuccessfully.
fn run(command: &mut Command) -> Result<()> {
    let shown = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| crate::cmd::quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("==> {shown}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dll_source_is_committed() {
        let source = std::fs::read_to_string(crate::project_root().join(DLL_SOURCE)).unwrap();
        assert!(source.contains("ProcessPrng(PBYTE data, SIZE_T length)"));
    }

    #[test]
    fn tests_run_in_the_given_prefix_with_wine() {
        let env = test_env(Path::new("/t/wine/prefix"), Path::new("/t/guests"));
        assert_eq!(
            env[0],
            ("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine".into())
        );
        assert_eq!(env[2], ("WINEPREFIX", "/t/wine/prefix".into()));
        assert_eq!(env[3], ("PROCESS_POOL_GUESTS", r"Z:\t\guests".into()));
        assert_eq!(env[4], ("PROCESS_POOL_BIG_STREAM", "268435456".into()));
        assert_eq!(ci_prefix(Path::new("/t")), Path::new("/t/wine/prefix"));
    }

    #[test]
    fn setup_takes_at_most_a_prefix() {
        let error = setup(&["a".to_owned(), "b".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("at most a prefix"), "{error}");
        assert!(setup(&["--force".to_owned()]).is_err());
    }
}
