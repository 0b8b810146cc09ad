//! `cargo xtask test [--windows | --macos]`: the project's full check and test sequence.
//!
//! With no argument: everything, on Linux, and the Windows and macOS steps too. Those need tools
//! a Linux machine may not have (`wine` and mingw-w64 for Windows; the Rust standard library
//! for the Apple targets, added with `rustup` when missing). In CI (`CI=true`) a missing tool
//! fails the run; on a developer's machine the step is skipped with a line saying what to
//! install, so that `cargo xtask test` stays the one command to run before a commit.
//! `--windows` and `--macos` run only that platform's steps, and fail when a tool is missing.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd::Cargo;
use crate::wine;

/// The crates whose tests are built for Windows and run under Wine: every crate that runs
/// there (the Slurm crate is Unix only; the facade and the benches add nothing to test).
pub(crate) const WINDOWS_PACKAGES: [&str; 5] = [
    "process-pool-core",
    "process-pool-protocol",
    "process-pool-native",
    "process-pool-wasi",
    "process-pool-cli",
];

/// The Apple targets the macOS step checks (Apple silicon, then Intel).
pub(crate) const MACOS_TARGETS: [&str; 2] = ["aarch64-apple-darwin", "x86_64-apple-darwin"];

/// One step of the sequence, printed as the command that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A cargo command.
    Cargo(Cargo),
    /// `cargo xtask msrv`: the declared `rust-version` is the true minimum.
    Msrv,
    /// `cargo xtask wine-setup PREFIX`: a Wine prefix under `target/` that runs Rust programs,
    /// and its wineserver kept up between the test binaries ([`wine::keep_server`]).
    WineSetup(PathBuf),
    /// `cargo xtask fuzz --time S`: every fuzz target for a bounded time.
    Fuzz,
    /// In CI only: removes a build's output once the steps that use it passed, so that the
    /// debug, Windows, release and fuzz builds never hold the disk at once (each is several
    /// GB; a CI run once stopped on a full disk).
    Free(PathBuf),
}

impl Step {
    /// Runs the step.
    fn run(&self) -> Result<()> {
        match self {
            Self::Cargo(cargo) => cargo.run(),
            Self::Msrv => crate::msrv::check(),
            Self::WineSetup(prefix) => {
                wine::install(prefix, &crate::target_dir())?;
                wine::keep_server(prefix)
            }
            Self::Fuzz => {
                let targets: Vec<String> = crate::fuzz::TARGETS
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect();
                crate::fuzz::run(&targets, crate::fuzz::TEST_SECONDS, false)
            }
            Self::Free(dir) => match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("removing {}", dir.display()))
                }
                _ => Ok(()),
            },
        }
    }
}

impl fmt::Display for Step {
    /// The command that runs the step, ready to copy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cargo(cargo) => cargo.fmt(f),
            Self::Msrv => f.write_str("cargo xtask msrv"),
            Self::WineSetup(prefix) => write!(
                f,
                "cargo xtask wine-setup {}",
                crate::cmd::quote(&prefix.to_string_lossy())
            ),
            Self::Fuzz => write!(f, "cargo xtask fuzz --time {}", crate::fuzz::TEST_SECONDS),
            Self::Free(dir) => write!(f, "rm -rf {}", crate::cmd::quote(&dir.to_string_lossy())),
        }
    }
}

/// Which of the cross-platform steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Platforms {
    /// The Windows build, checked by clippy and tested under Wine.
    windows: bool,
    /// The macOS build, checked by clippy.
    macos: bool,
}

/// What `cargo xtask test` was asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Every step.
    All,
    /// The Windows steps only (`--windows`).
    Windows,
    /// The macOS steps only (`--macos`).
    Macos,
}

/// The full sequence, in order: cheapest and most likely to fail first. With `free` (in CI),
/// each build's output is removed once the last step that uses it passed ([`Step::Free`]).
fn plan(platforms: Platforms, target: &Path, free: bool) -> Vec<Step> {
    let free_step = |dir: PathBuf| free.then_some(Step::Free(dir));
    let mut steps = vec![
        Step::Cargo(Cargo::new(&["fmt", "--all", "--", "--check"])),
        Step::Msrv,
        Step::Cargo(Cargo::new(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])),
    ];
    if platforms.macos {
        steps.extend(macos_steps());
    }
    steps.push(Step::Cargo(Cargo::new(&["test", "--workspace"])));
    if platforms.windows {
        steps.extend(windows_steps(target));
        steps.extend(free_step(target.join(wine::TARGET)));
    }
    steps.push(Step::Cargo(
        Cargo::new(&["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-Dwarnings"),
    ));
    steps.extend(free_step(target.join("debug")));
    steps.push(Step::Cargo(Cargo::new(&[
        "bench",
        "--workspace",
        "--no-run",
    ])));
    steps.extend(free_step(target.join("release")));
    steps.push(Step::Fuzz);
    steps
}

/// clippy for each Apple target over every crate that builds without Apple's SDK. Anything
/// that links wasmtime does not: its build script compiles a C file (`helpers.c`) with the
/// target's C compiler, which needs the macOS SDK. So the facade is checked without `wasi`
/// (and without `--all-targets`: its tests turn `wasi` on), `ppool` without its default
/// `wasi`, and the WASI backend not at all: on macOS it is wasmtime's own support, unchecked
/// here.
fn macos_steps() -> Vec<Step> {
    let mut steps = Vec::new();
    for target in MACOS_TARGETS {
        let clippy = |args: &[&str]| {
            let cargo = Cargo::new(&["clippy", "--target", target]).args(args);
            Step::Cargo(cargo.args(&["--", "-D", "warnings"]))
        };
        steps.extend([
            clippy(&[
                "--all-targets",
                "-p",
                "process-pool-core",
                "-p",
                "process-pool-protocol",
                "-p",
                "process-pool-native",
                "-p",
                "process-pool-slurm",
            ]),
            clippy(&["-p", "process-pool", "--features", "slurm"]),
            clippy(&[
                "--all-targets",
                "-p",
                "process-pool-cli",
                "--no-default-features",
            ]),
        ]);
    }
    steps
}

/// The Windows build: a Wine prefix under `target/` (hermetic: `~/.wine` is never read),
/// clippy, then the tests of [`WINDOWS_PACKAGES`] cross-compiled and run under Wine. Doc tests
/// are left out: the examples run Unix programs (`echo`, `sleep`); they run on Linux.
fn windows_steps(target: &Path) -> Vec<Step> {
    let packages: Vec<&str> = WINDOWS_PACKAGES
        .iter()
        .flat_map(|package| ["-p", package])
        .collect();
    let prefix = wine::ci_prefix(target);
    let mut test = Cargo::new(&["test", "--target", wine::TARGET, "--all-targets"]).args(&packages);
    for (key, value) in wine::test_env(&prefix, &crate::guests::dir(target)) {
        test = test.env(key, &value);
    }
    vec![
        Step::WineSetup(prefix),
        Step::Cargo(
            Cargo::new(&["clippy", "--target", wine::TARGET, "--all-targets"])
                .args(&packages)
                .args(&["--", "-D", "warnings"]),
        ),
        // The native tests run its example programs (`test_job`, `test_worker`) as they are:
        // under Wine a test cannot run cargo to build them, and `--all-targets` builds
        // examples as test harnesses, not as the programs.
        Step::Cargo(Cargo::new(&[
            "build",
            "--target",
            wine::TARGET,
            "-p",
            "process-pool-native",
            "--examples",
        ])),
        Step::Cargo(test),
    ]
}

/// Whether this runs in CI (`CI=true`, as GitHub Actions and most CI systems set it).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether a platform's steps can run: `missing` is what is not installed, `hint` how to
/// install it. Missing tools fail when the steps are `required`; otherwise the steps are
/// skipped with a line saying so.
fn available(name: &str, missing: &[String], hint: &str, required: bool) -> Result<bool> {
    if missing.is_empty() {
        return Ok(true);
    }
    let what = missing.join(", ");
    if required {
        bail!("the {name} steps need {what}; install with `{hint}`");
    }
    eprintln!("==> skipped: the {name} steps (no {what}; install with `{hint}`)");
    Ok(false)
}

/// Whether the Windows steps can run; [`available`] says what happens when they cannot.
fn windows_available(target: &Path, required: bool) -> Result<bool> {
    crate::guests::add_targets(&[wine::TARGET]);
    let missing = wine::missing_tools(target);
    available("Windows", &missing, wine::INSTALL_HINT, required)
}

/// Whether the macOS steps can run (the Apple targets' standard library, added with rustup
/// when missing); [`available`] says what happens when they cannot.
fn macos_available(required: bool) -> Result<bool> {
    let missing: Vec<String> = crate::guests::add_targets(&MACOS_TARGETS)
        .into_iter()
        .map(|t| format!("the Rust standard library for {t}"))
        .collect();
    let hint = format!("rustup target add {}", MACOS_TARGETS.join(" "));
    available("macOS", &missing, &hint, required)
}

/// Runs `cargo xtask test [--windows | --macos]`: builds the WASI guests (the WASI tests run
/// them), makes sure a Slurm answers for the Slurm tests (starting ours as root:
/// [`crate::slurm::ensure_up`]), then runs every step, printing each before it runs, and stops
/// at the first failure.
pub(crate) fn test(args: &[String]) -> Result<()> {
    let scope = match args {
        [] => Scope::All,
        [arg] if arg == "--windows" => Scope::Windows,
        [arg] if arg == "--macos" => Scope::Macos,
        [arg, ..] => {
            bail!("`cargo xtask test` takes nothing, `--windows` or `--macos`, got `{arg}`")
        }
    };
    let target = crate::target_dir();
    let steps = match scope {
        Scope::All => {
            let platforms = Platforms {
                macos: macos_available(in_ci())?,
                windows: windows_available(&target, in_ci())?,
            };
            eprintln!("==> cargo xtask guests");
            crate::guests::build()?;
            crate::slurm::ensure_up()?;
            plan(platforms, &target, in_ci())
        }
        Scope::Windows => {
            windows_available(&target, true)?;
            eprintln!("==> cargo xtask guests");
            crate::guests::build()?;
            windows_steps(&target)
        }
        Scope::Macos => {
            macos_available(true)?;
            macos_steps()
        }
    };
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        eprintln!("\n==> [{}/{total}] {step}", i + 1);
        step.run()
            .with_context(|| format!("step {}/{total} failed; stopping here", i + 1))?;
    }
    eprintln!("\n==> all {total} steps passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(steps: &[Step]) -> Vec<String> {
        steps.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn runs_the_documented_sequence() {
        let none = Platforms {
            windows: false,
            macos: false,
        };
        assert_eq!(
            shown(&plan(none, Path::new("/t"), false)),
            [
                "cargo fmt --all -- --check",
                "cargo xtask msrv",
                "cargo clippy --workspace --all-targets -- -D warnings",
                "cargo test --workspace",
                "RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps",
                "cargo bench --workspace --no-run",
                "cargo xtask fuzz --time 12",
            ]
        );
    }

    #[test]
    fn the_platform_steps_follow_the_linux_step_they_mirror() {
        let all = Platforms {
            windows: true,
            macos: true,
        };
        let target = Path::new("/t");
        let steps = plan(all, target, false);
        let clippy = 2;
        assert_eq!(steps[clippy + 1..clippy + 7], macos_steps()[..]);
        let test = clippy + 7;
        assert_eq!(steps[test].to_string(), "cargo test --workspace");
        assert_eq!(steps[test + 1..test + 5], windows_steps(target)[..]);
        assert_eq!(steps.len(), 7 + 6 + 4);
    }

    #[test]
    fn ci_frees_each_build_once_the_steps_that_use_it_passed() {
        let all = Platforms {
            windows: true,
            macos: false,
        };
        let steps = shown(&plan(all, Path::new("/t"), true));
        let at = |step: &str| {
            steps
                .iter()
                .position(|s| s == step)
                .unwrap_or_else(|| panic!("no `{step}` in {steps:#?}"))
        };
        let windows_tests = steps
            .iter()
            .position(|s| s.contains("cargo test --target"))
            .expect("the Windows tests");
        assert_eq!(at("rm -rf /t/x86_64-pc-windows-gnu"), windows_tests + 1);
        let doc = at("RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps");
        assert_eq!(at("rm -rf /t/debug"), doc + 1);
        let bench = at("cargo bench --workspace --no-run");
        assert_eq!(at("rm -rf /t/release"), bench + 1);
        assert_eq!(steps.last().unwrap(), "cargo xtask fuzz --time 12");
        let kept = plan(all, Path::new("/t"), false);
        assert!(!kept.iter().any(|s| matches!(s, Step::Free(_))));
    }

    #[test]
    fn macos_checks_what_builds_without_apples_sdk_for_both_targets() {
        let expected = |target: &str| {
            [
                format!(
                    "cargo clippy --target {target} --all-targets -p process-pool-core \
                     -p process-pool-protocol -p process-pool-native -p process-pool-slurm \
                     -- -D warnings"
                ),
                format!(
                    "cargo clippy --target {target} -p process-pool --features slurm \
                     -- -D warnings"
                ),
                format!(
                    "cargo clippy --target {target} --all-targets -p process-pool-cli \
                     --no-default-features -- -D warnings"
                ),
            ]
        };
        let mut all = expected("aarch64-apple-darwin").to_vec();
        all.extend(expected("x86_64-apple-darwin"));
        assert_eq!(shown(&macos_steps()), all);
        assert!(!all.iter().any(|s| s.contains("wasi")));
    }

    #[test]
    fn windows_tests_run_under_wine_in_a_prefix_under_target() {
        assert_eq!(
            shown(&windows_steps(Path::new("/t"))),
            [
                "cargo xtask wine-setup /t/wine/prefix",
                "cargo clippy --target x86_64-pc-windows-gnu --all-targets \
                 -p process-pool-core -p process-pool-protocol -p process-pool-native \
                 -p process-pool-wasi -p process-pool-cli -- -D warnings",
                "cargo build --target x86_64-pc-windows-gnu -p process-pool-native --examples",
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine WINEDEBUG=-all \
                 WINEPREFIX=/t/wine/prefix PROCESS_POOL_GUESTS='Z:\\t\\guests' \
                 PROCESS_POOL_BIG_STREAM=268435456 cargo test --target x86_64-pc-windows-gnu \
                 --all-targets -p process-pool-core -p process-pool-protocol \
                 -p process-pool-native -p process-pool-wasi -p process-pool-cli",
            ]
        );
    }

    #[test]
    fn missing_tools_fail_when_required_and_skip_otherwise() {
        let missing = ["`wine`".to_owned()];
        let error = available("Windows", &missing, "apt-get install wine", true).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the Windows steps need `wine`; install with `apt-get install wine`"
        );
        assert!(!available("Windows", &missing, "apt-get install wine", false).unwrap());
        assert!(available("Windows", &[], "apt-get install wine", true).unwrap());
    }

    #[test]
    fn the_github_workflow_tests_the_same_crates_on_windows() {
        let path = crate::project_root().join(".github/workflows/ci.yml");
        let workflow = std::fs::read_to_string(path).unwrap();
        let windows = workflow
            .split_once("\n  windows:\n")
            .expect("a windows job")
            .1;
        let packages = WINDOWS_PACKAGES.map(|p| format!("-p {p}")).join(" ");
        for command in ["cargo clippy --all-targets", "cargo test --all-targets"] {
            let line = windows
                .lines()
                .find(|l| l.contains(command))
                .unwrap_or_else(|| panic!("no `{command}` in the windows job"));
            assert!(line.contains(&packages), "{line}\nwants {packages}");
        }
    }

    #[test]
    fn rejects_other_arguments() {
        let error = test(&["--fast".to_owned()]).unwrap_err();
        assert!(error.to_string().contains("`--fast`"), "{error}");
        assert!(test(&["--windows".to_owned(), "--macos".to_owned()]).is_err());
    }
}
