//! `fs-escape DIR [HOST_PATH]`: tries to get out of its preopened directory DIR and prints
//! one line per attempt, `<attempt>: ok: <what it got>` or `<attempt>: denied: <error>`.
//!
//! A test arranges `DIR/inside.txt` (the one read that should work), `outside.txt` next to DIR
//! on the host, and symlinks in DIR pointing out of it; HOST_PATH is a file's absolute path on
//! the host.

use std::fs;

fn report<T: std::fmt::Display>(attempt: &str, result: std::io::Result<T>) {
    match result {
        Ok(got) => println!("{attempt}: ok: {got}"),
        Err(error) => println!("{attempt}: denied: {error}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| ".".into());
    let read = |path: &str| fs::read_to_string(path);

    report("read inside", read(&format!("{dir}/inside.txt")));
    report("read /etc/passwd", read("/etc/passwd"));
    report("read dotdot", read(&format!("{dir}/../outside.txt")));
    report("read relative dotdot", read("../outside.txt"));
    report("read symlink out", read(&format!("{dir}/link-out")));
    report("read symlink absolute", read(&format!("{dir}/link-abs")));
    if let Some(host) = args.get(2) {
        report("read host path", read(host));
    }
    report(
        "list root",
        fs::read_dir("/").map(|entries| {
            let names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.join(",")
        }),
    );
    report(
        "write inside",
        fs::write(format!("{dir}/written.txt"), "written").map(|()| "written"),
    );
    report(
        "write dotdot",
        fs::write(format!("{dir}/../escaped.txt"), "escaped").map(|()| "written"),
    );
    report(
        "write through symlink",
        fs::write(format!("{dir}/link-out"), "overwritten").map(|()| "written"),
    );
    report(
        "rename out",
        fs::rename(format!("{dir}/inside.txt"), format!("{dir}/../moved.txt")).map(|()| "renamed"),
    );
    report(
        "remove inside",
        fs::remove_file(format!("{dir}/inside.txt")).map(|()| "removed"),
    );
}
