//! Windows: one-string commands run through `cmd.exe`.
//!
//! The line reaches cmd through an environment variable and a batch script: once per run,
//! ppool writes `ppool-PID.cmd` to the temporary directory (two lines: `@echo off` and
//! `%PPOOL_COMMAND%`), and each shell job runs that script with `PPOOL_COMMAND` set to its line.
//! A Windows program's arguments are quoted by the standard library for the C runtime's rules
//! (a `"` becomes `\"`), which cmd does not read, so a line holding quotes given to
//! `cmd /C` as an argument would reach it changed. In a batch script cmd expands
//! `%PPOOL_COMMAND%` first and then parses what it got (quotes, `&`, `|`, `<`, `>`, `^`,
//! parentheses) as if it had been written there: the line runs exactly as written, and its
//! exit status (`exit /b N` too) is the job's. The script runs as the standard library runs
//! every batch file: `cmd.exe /e:ON /v:OFF /d /c`, so AutoRun commands are skipped and `!` is
//! plain text. `%NAME%` in the line is not expanded a second time (at a cmd prompt, the prompt
//! has expanded it before ppool saw it; from PowerShell, write `$env:NAME`). The script is
//! removed when the run ends.
//!
//! Values are quoted in two layers: first as the C runtime splits a command line into
//! arguments (in `"` when they hold a space, a tab or `"`, with `\"` and doubled backslashes
//! before a quote), then for cmd: a value without `"` sits inside those quotes, where cmd's
//! special characters are plain text; one with `"` has every special character, quotes too,
//! escaped with `^`, so cmd never enters or leaves a quoted part and hands the program the
//! first layer unchanged. cmd ends a command at a line break, and no argument holds a NUL:
//! values with either are refused ([`ShellError::Unquotable`]).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use process_pool::Job;

use super::ShellError;

/// How the shell is named in help and messages.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) const NAME: &str = "cmd.exe";

/// How the command's words are run, for `--help`.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) const HELP: &str = "\
Several words run directly; one word with spaces or cmd syntax runs through
cmd.exe, its values quoted.";

/// The environment variable that carries the line to cmd.
pub(super) const LINE_VARIABLE: &str = "PPOOL_COMMAND";

/// The batch script that runs the line it is given.
const SCRIPT: &str = "@echo off\r\n%PPOOL_COMMAND%\r\n";

/// Characters that cmd reads as syntax outside quotes (`%` and `!` are not among them here:
/// the line is expanded once, before any of it, and delayed expansion is off).
const CMD_SYNTAX: &[u8] = b"()^\"<>&|";

/// Bytes that make a one-word command need the shell.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn is_special(byte: u8) -> bool {
    byte.is_ascii_whitespace() || CMD_SYNTAX.contains(&byte)
}

/// This run's script, written on first use.
static WRITTEN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
/// The script to remove when the run ends.
static TO_REMOVE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The job that runs `line` through cmd.
pub(super) fn job(line: OsString) -> Result<Job, ShellError> {
    let script = WRITTEN.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("ppool-{}.cmd", std::process::id()));
        std::fs::write(&path, SCRIPT)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        if let Ok(mut to_remove) = TO_REMOVE.lock() {
            *to_remove = Some(path.clone());
        }
        Ok(path)
    });
    match script {
        Ok(path) => Ok(Job::new(path).env(LINE_VARIABLE, line)),
        Err(reason) => Err(ShellError::Script {
            reason: reason.clone(),
        }),
    }
}

/// Removes this run's script, if one was written.
pub(super) fn clean_up() {
    let path = TO_REMOVE.lock().ok().and_then(|mut p| p.take());
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

/// Quotes `value` into `out` for cmd and the C runtime; refuses line breaks and NULs.
pub(super) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) -> Result<(), ShellError> {
    if value.iter().any(|&b| matches!(b, b'\n' | b'\r' | 0)) {
        return Err(ShellError::Unquotable {
            shown: String::from_utf8_lossy(value).into_owned(),
        });
    }
    quote(out, value);
    Ok(())
}

/// Words shown as one cmd line (a value cmd cannot take is shown quoted as it is).
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn join_quoted<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, word) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        quote(&mut out, word);
    }
    out
}

fn quote(out: &mut Vec<u8>, value: &[u8]) {
    let syntax = value.iter().any(|&b| CMD_SYNTAX.contains(&b));
    if value.contains(&b'"') {
        for b in runtime_quoted(value, false) {
            if CMD_SYNTAX.contains(&b) {
                out.push(b'^');
            }
            out.push(b);
        }
    } else {
        // In the runtime's quotes, cmd's syntax is plain text (`a&b` is quoted for that alone).
        out.extend(runtime_quoted(value, syntax));
    }
}

/// `value` as the C runtime reads it back as one argument; `force`: in quotes even when it
/// would not need them.
fn runtime_quoted(value: &[u8], force: bool) -> Vec<u8> {
    let plain = !value.is_empty() && !value.iter().any(|&b| matches!(b, b' ' | b'\t' | b'"'));
    if plain && !force {
        return value.to_vec();
    }
    let mut out = vec![b'"'];
    let mut backslashes = 0;
    for &b in value {
        match b {
            b'\\' => backslashes += 1,
            b'"' => {
                out.extend(std::iter::repeat_n(b'\\', backslashes + 1));
                backslashes = 0;
            }
            _ => backslashes = 0,
        }
        out.push(b);
    }
    out.extend(std::iter::repeat_n(b'\\', backslashes));
    out.push(b'"');
    out
}

/// The arguments a program reads from a line of quoted values, through cmd and the C runtime.
#[cfg(any(test, feature = "fuzzing"))]
pub(super) fn read_back(line: &[u8]) -> Vec<Vec<u8>> {
    runtime_arguments(&through_cmd(line))
}

/// What cmd hands the program for a line made of quoted values: `^` escapes the next byte
/// outside quotes (and is dropped), `"` enters and leaves a quoted part (and is kept). Syntax
/// that is neither escaped nor quoted would be an operator: the quoting failed.
#[cfg(any(test, feature = "fuzzing"))]
fn through_cmd(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut bytes = line.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'"' => {
                quoted = !quoted;
                out.push(b);
            }
            b'^' if !quoted => out.extend(bytes.next()),
            b if !quoted && CMD_SYNTAX.contains(&b) => panic!("`{}` left to cmd", b as char),
            b => out.push(b),
        }
    }
    out
}

/// The arguments the C runtime reads from a command line (after the program's name).
#[cfg(any(test, feature = "fuzzing"))]
fn runtime_arguments(line: &[u8]) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let mut word = Vec::new();
    let (mut in_word, mut quoted) = (false, false);
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\\' => {
                let run = line[i..].iter().take_while(|&&b| b == b'\\').count();
                if line.get(i + run) == Some(&b'"') {
                    word.extend(std::iter::repeat_n(b'\\', run / 2));
                    if run % 2 == 1 {
                        word.push(b'"');
                        i += 1;
                    }
                } else {
                    word.extend(std::iter::repeat_n(b'\\', run));
                }
                in_word = true;
                i += run;
                continue;
            }
            b'"' if quoted && line.get(i + 1) == Some(&b'"') => {
                word.push(b'"');
                i += 1;
            }
            b'"' => {
                quoted = !quoted;
                in_word = true;
            }
            b' ' | b'\t' if !quoted => {
                if in_word {
                    args.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            b => {
                word.push(b);
                in_word = true;
            }
        }
        i += 1;
    }
    if in_word {
        args.push(word);
    }
    args
}

#[cfg(test)]
mod tests;
