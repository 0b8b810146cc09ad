//! Windows: one-string commands run through `cmd.exe`.
//!
//! The line reaches cmd through an environment variable: the job is
//! `cmd.exe /D /V:OFF /C %PPOOL_COMMAND%` with `PPOOL_COMMAND` set to the line. An argument of
//! a Windows program is quoted by the standard library for the C runtime's rules (a `"` becomes
//! `\"`), which cmd does not read: a line holding quotes would reach it changed. cmd expands
//! `%PPOOL_COMMAND%` once, first, and then parses what it got (quotes, `&`, `|`, `<`, `>`,
//! `^`, parentheses) as if typed: so the line runs exactly as written. The cost: `%NAME%` in the
//! line is not expanded a second time (in cmd.exe, the prompt you type ppool at has expanded
//! it already; from PowerShell, write `$env:NAME`). `/D` skips AutoRun commands; `/V:OFF`
//! keeps `!` literal.
//!
//! Values are quoted in two layers: first as the C runtime splits a command line into
//! arguments (in `"` when they hold a space, a tab or `"`, with `\"` and doubled backslashes
//! before a quote), then for cmd: a value without `"` sits inside those quotes, where cmd's
//! special characters are plain text; one with `"` has every special character, quotes too,
//! escaped with `^`, so cmd never enters or leaves a quoted part and hands the program the
//! first layer unchanged. cmd ends a command at a line break, and no argument holds a NUL:
//! values with either are refused ([`Unquotable`]).

use std::ffi::OsString;

use process_pool::Job;

use super::Unquotable;

/// How the shell is named in help and messages.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) const NAME: &str = "cmd.exe /C";

/// The environment variable that carries the line to cmd.
pub(super) const LINE_VARIABLE: &str = "PPOOL_COMMAND";

/// Characters that cmd reads as syntax outside quotes (`%` and `!` are not among them here:
/// the line is expanded once, before any of it, and delayed expansion is off).
const CMD_SYNTAX: &[u8] = b"()^\"<>&|";

/// Bytes that make a one-word command need the shell.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn is_special(byte: u8) -> bool {
    byte.is_ascii_whitespace() || CMD_SYNTAX.contains(&byte)
}

/// The job that runs `line` through cmd.
#[cfg_attr(not(windows), allow(dead_code))]
pub(super) fn job(line: OsString) -> Job {
    let cmd = std::env::var_os("ComSpec").unwrap_or_else(|| "cmd.exe".into());
    Job::new(cmd)
        .args(["/D", "/V:OFF", "/C"])
        .arg(format!("%{LINE_VARIABLE}%"))
        .env(LINE_VARIABLE, line)
}

/// Quotes `value` into `out` for cmd and the C runtime; refuses line breaks and NULs.
pub(super) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) -> Result<(), Unquotable> {
    if value.iter().any(|&b| matches!(b, b'\n' | b'\r' | 0)) {
        return Err(Unquotable {
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
