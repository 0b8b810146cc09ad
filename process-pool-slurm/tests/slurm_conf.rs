//! A Slurm configuration file that cannot be used: the builders say so at once, as
//! [`SlurmError::Config`] naming the file, where they waited 30 s for `sinfo` (which retries
//! a missing file for a minute) and said only that it did not answer.
//!
//! `SLURM_CONF` is read from the environment by Slurm's commands, and the tests of one binary
//! run at once in one process: each test here runs its body in a copy of this test binary
//! started with `SLURM_CONF` set for it alone (see [`with_conf`]).
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::agent;
use process_pool_slurm::{SlurmError, SlurmSpawner, SlurmStepSpawner, SlurmWorker};

/// Set (to the test's name) in the copy that runs a test's body.
const CHILD: &str = "PROCESS_POOL_TEST_SLURM_CONF_BODY";
/// Well above the second the answer takes, well below the 30 s it took: catches a wait.
const PROMPT: Duration = Duration::from_secs(5);

/// Runs `body` in a copy of this test binary whose environment has `SLURM_CONF=conf`: here,
/// starts the copy with only the test `name` and fails unless it ran and passed; in the copy,
/// runs `body`.
fn with_conf(name: &str, conf: &Path, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some_and(|n| n == name) {
        body();
        return;
    }
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env("SLURM_CONF", conf)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the body of `{name}` with SLURM_CONF={} failed ({}):\n{stdout}\n{stderr}",
        conf.display(),
        out.status
    );
    for line in stderr.lines().filter(|l| l.starts_with("answered in")) {
        eprintln!("{name}: {line}");
    }
}

/// Runs `build` on a runtime of its own and checks that it failed within [`PROMPT`] with
/// [`SlurmError::Config`] naming `conf` (its path, and in its message).
fn assert_config_error<T: std::fmt::Debug>(
    conf: &Path,
    build: impl std::future::Future<Output = Result<T, SlurmError>>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    let result = runtime.block_on(build);
    let took = started.elapsed();
    let error = result.expect_err("a configuration Slurm cannot use");
    eprintln!("answered in {took:?}: {error}");
    assert!(took < PROMPT, "took {took:?} to say: {error}");
    let SlurmError::Config { path, .. } = &error else {
        panic!("expected SlurmError::Config, got {error:?}");
    };
    assert_eq!(path, conf, "{error}");
    assert!(
        error.to_string().contains(&conf.display().to_string()),
        "{error}"
    );
}

/// A path in a fresh directory where nothing is.
fn missing() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("slurm.conf");
    (dir, path)
}

#[test]
fn a_missing_configuration_is_named_at_once_by_the_agent_spawner() {
    let (_dir, conf) = missing();
    with_conf(
        "a_missing_configuration_is_named_at_once_by_the_agent_spawner",
        &conf,
        || {
            let conf = PathBuf::from(std::env::var_os("SLURM_CONF").unwrap());
            assert_config_error(
                &conf,
                SlurmSpawner::builder().agent_program(agent()).build(),
            );
        },
    );
}

#[test]
fn a_missing_configuration_is_named_at_once_by_the_step_spawner() {
    let (_dir, conf) = missing();
    with_conf(
        "a_missing_configuration_is_named_at_once_by_the_step_spawner",
        &conf,
        || {
            let conf = PathBuf::from(std::env::var_os("SLURM_CONF").unwrap());
            assert_config_error(&conf, SlurmStepSpawner::builder().build());
        },
    );
}

#[test]
fn a_missing_configuration_is_named_at_once_by_the_worker_spawner() {
    let (_dir, conf) = missing();
    with_conf(
        "a_missing_configuration_is_named_at_once_by_the_worker_spawner",
        &conf,
        || {
            let conf = PathBuf::from(std::env::var_os("SLURM_CONF").unwrap());
            assert_config_error(
                &conf,
                SlurmWorker::builder("true").agent_program(agent()).build(),
            );
        },
    );
}

/// `sinfo` fails at once on a directory, but said only that `ClusterName` is missing.
#[test]
fn a_directory_as_configuration_is_named() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    with_conf("a_directory_as_configuration_is_named", dir.path(), || {
        let conf = PathBuf::from(std::env::var_os("SLURM_CONF").unwrap());
        assert_config_error(
            &conf,
            SlurmSpawner::builder().agent_program(agent()).build(),
        );
        assert_config_error(&conf, SlurmStepSpawner::builder().build());
    });
}

/// Without `SLURM_CONF` the file is Slurm's to find; when the command says on stderr that it
/// cannot (and would retry for a minute), that line ends the wait. A stand-in `sinfo` says
/// it as Slurm 22 does, then waits.
#[test]
fn a_command_that_cannot_open_its_configuration_is_not_waited_for() {
    let bin = tempfile::tempdir().expect("a temporary directory");
    let sinfo = bin.path().join("sinfo");
    std::fs::write(
        &sinfo,
        "#!/bin/sh\n\
         echo 'sinfo: error: s_p_parse_file: cannot stat file /etc/slurm/gone.conf: No such file or directory, retrying in 1sec up to 60sec' >&2\n\
         exec sleep 60\n",
    )
    .expect("the stand-in is written");
    std::fs::set_permissions(&sinfo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_config_error(
        Path::new("/etc/slurm/gone.conf"),
        SlurmSpawner::builder()
            .agent_program(agent())
            .slurm_bin_dir(bin.path())
            .build(),
    );
}

/// A controller that does not answer is not a broken configuration: Slurm's own retries
/// stand, and the command's answer is taken; nor is a line of stderr that is not UTF-8.
#[test]
fn an_unreachable_controller_line_does_not_end_the_query() {
    let bin = tempfile::tempdir().expect("a temporary directory");
    let sinfo = bin.path().join("sinfo");
    std::fs::write(
        &sinfo,
        "#!/bin/sh\n\
         echo 'sinfo: error: Unable to contact slurm controller (connect failure)' >&2\n\
         printf 'sinfo: not UTF-8: \\377\\n' >&2\n\
         echo 'debug* 0+'\n",
    )
    .expect("the stand-in is written");
    std::fs::set_permissions(&sinfo, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // The step spawner's build asks `sinfo` only; `--cpus` above 0+ is not checked.
    let built = runtime.block_on(
        SlurmStepSpawner::builder()
            .slurm_bin_dir(bin.path())
            .allocation(process_pool_slurm::Allocation::Own)
            .build(),
    );
    assert!(built.is_ok(), "{:?}", built.err());
}
