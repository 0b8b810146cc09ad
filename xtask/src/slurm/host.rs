//! What `up` installs and prepares on this host: root, Debian's packages (no service started
//! by their scripts), the user, the host name, the directories and the MUNGE key.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::*;

/// Fails with one line that says why and how, unless this runs as root.
pub(super) fn require_root(what: &str) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "`cargo xtask slurm {what}` needs root (it installs Debian packages and starts the \
             Slurm daemons): run it as root, e.g. `sudo -E env PATH=$PATH cargo xtask slurm {what}`"
        );
    }
    Ok(())
}

/// Installs the packages that are missing, keeping their scripts from starting any service.
pub(super) fn install() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if which("apt-get").is_none() {
        bail!(
            "Slurm is not installed and there is no apt-get to install it: install {} \
             (Slurm 22.05 or later, built with MULTIPLE_SLURMD) and run `cargo xtask slurm up` again",
            missing.join(", ")
        );
    }
    eprintln!("==> installing {} (about 45 s)", missing.join(" "));
    let _policy = NoServiceStarts::install()?;
    let log = crate::target_dir().join("slurm-apt.log");
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let apt = |args: &[&str]| -> Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed ({status}); see {}",
                args.join(" "),
                log.display()
            );
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)
}

pub(super) fn package_installed(name: &str) -> bool {
    run_ok(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]))
        .is_some_and(|s| s.contains("install ok installed"))
}

/// A `policy-rc.d` that forbids package scripts to start services, removed when dropped (only
/// if it was ours).
pub(super) struct NoServiceStarts(Option<PathBuf>);

impl NoServiceStarts {
    fn install() -> Result<Self> {
        let path = Path::new("/usr/sbin/policy-rc.d");
        if path.exists() {
            return Ok(Self(None));
        }
        std::fs::write(
            path,
            "#!/bin/sh\n# cargo xtask slurm up: start no service\nexit 101\n",
        )?;
        set_mode(path, 0o755)?;
        Ok(Self(Some(path.to_owned())))
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The user, the host name, the directories and the MUNGE key the daemons need. Returns the
/// host's short name.
pub(super) fn prepare_host() -> Result<String> {
    if !user_exists("slurm") {
        run_checked(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "slurm",
        ]))?;
    }
    if !user_exists("munge") {
        bail!("the user `munge` is missing: is the munge package broken?");
    }
    let host = run_ok(Command::new("hostname").arg("-s"))
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .context("cannot read this host's name (`hostname -s`)")?;
    // slurmd finds itself by the host's short name: it must resolve.
    if run_ok(Command::new("getent").args(["hosts", &host])).is_none() {
        eprintln!("==> {host} does not resolve: adding it to /etc/hosts");
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        if !hosts.ends_with('\n') && !hosts.is_empty() {
            hosts.push('\n');
        }
        let _ = writeln!(hosts, "127.0.0.1 {host} # cargo xtask slurm up");
        std::fs::write("/etc/hosts", hosts).context("cannot write /etc/hosts")?;
    }
    for dir in ["/run/munge", "/etc/munge", RUN_DIR, "/etc/slurm"] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {dir}"))?;
    }
    run_checked(Command::new("chown").args(["munge:munge", "/run/munge", "/etc/munge"]))?;
    set_mode(Path::new("/run/munge"), 0o755)?;
    set_mode(Path::new("/etc/munge"), 0o700)?;
    if std::fs::metadata(MUNGE_KEY).map_or(true, |m| m.len() == 0) {
        run_checked(Command::new("mungekey").args([
            "--create",
            "--force",
            "--keyfile",
            MUNGE_KEY,
        ]))?;
    }
    run_checked(Command::new("chown").args(["munge:munge", MUNGE_KEY]))?;
    set_mode(Path::new(MUNGE_KEY), 0o600)?;
    Ok(host)
}

/// The state and log directories of the controller and of nodes `n1..n{nodes}`.
pub(super) fn prepare_dirs(nodes: u32) -> Result<()> {
    let ctld = Path::new(SPOOL).join("ctld");
    for dir in [ctld.as_path(), Path::new(LOG_DIR)] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        run_checked(Command::new("chown").arg("slurm:slurm").arg(dir))?;
    }
    for i in 1..=nodes {
        let dir = Path::new(SPOOL).join(format!("d-n{i}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

pub(super) fn user_exists(name: &str) -> bool {
    run_ok(Command::new("getent").args(["passwd", name])).is_some()
}

pub(super) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

pub(super) fn which(program: &str) -> Option<PathBuf> {
    crate::tools::find(program, &crate::target_dir())
}
