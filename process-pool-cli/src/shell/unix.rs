//! Unix: command lines run as GNU parallel runs them, through `$PARALLEL_SHELL`, else `$SHELL`
//! (a POSIX shell), else `/bin/sh`; POSIX shell quoting puts a value into that line, and shows
//! a command run directly (joblog, `--dry-run`, messages) so it can be pasted into a shell.
//! Which lines can skip the shell and run directly with the same result is decided here too.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use process_pool::Job;

use super::ShellError;

/// The shell when neither `$PARALLEL_SHELL` nor a POSIX `$SHELL` names one.
const DEFAULT_SHELL: &str = "/bin/sh";

/// How the shell is named in messages.
pub(super) const NAME: &str = "$SHELL -c";

/// How the command's words are run, for `--help`.
pub(super) const HELP: &str = "\
As in GNU parallel, the words are joined into one line that runs through
$PARALLEL_SHELL, else $SHELL (a POSIX shell), else /bin/sh, its values quoted.
A line of plain words whose program is no builtin runs directly: the same result,
one process less. -q keeps each word one argument.";

/// Shells whose grammar is POSIX sh's (values quoted for `sh` read back the same), by the
/// basename of `$SHELL`. Another login shell (csh, tcsh, fish, ...) is not used: its quoting
/// differs, and `/bin/sh` runs the line instead (`$PARALLEL_SHELL` is taken as given).
const POSIX_SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "ksh", "ksh93", "mksh", "pdksh", "zsh", "yash", "posh", "busybox",
];

/// The shell that runs command lines, chosen once: `$PARALLEL_SHELL`, else `$SHELL` when it
/// is a POSIX shell, else `/bin/sh` (as GNU parallel, which takes the shell it was started
/// from).
fn shell() -> &'static OsStr {
    static SHELL: OnceLock<OsString> = OnceLock::new();
    SHELL.get_or_init(|| {
        let set = |name| std::env::var_os(name).filter(|v: &OsString| !v.is_empty());
        if let Some(chosen) = set("PARALLEL_SHELL") {
            return chosen;
        }
        set("SHELL")
            .filter(|shell| {
                Path::new(shell)
                    .file_name()
                    .and_then(OsStr::to_str)
                    .is_some_and(|name| POSIX_SHELLS.contains(&name))
            })
            .unwrap_or_else(|| DEFAULT_SHELL.into())
    })
}

/// Words a shell reads as its own at the start of a command (builtins and keywords of sh,
/// bash, ksh and zsh): such a command goes to the shell even where a program of the same name
/// is in `PATH` (`kill`, `printf`, `test`, `time`), except the few in [`same_as_shell`].
const BUILTINS: &[&str] = &[
    "!",
    ".",
    ":",
    "[",
    "[[",
    "]]",
    "{",
    "}",
    "alias",
    "autoload",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "coproc",
    "declare",
    "dirs",
    "disown",
    "do",
    "done",
    "echo",
    "elif",
    "else",
    "emulate",
    "enable",
    "esac",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "help",
    "history",
    "if",
    "in",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "noglob",
    "popd",
    "print",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "repeat",
    "return",
    "select",
    "set",
    "setopt",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "then",
    "time",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "whence",
    "while",
];

/// Builtins whose program in `PATH` does the same for the arguments [`same_as_shell`] lets
/// through, so that the commonest commands (`echo {}`, `true`) cost one process.
const SHADOWED: &[&str] = &["echo", "true", "false"];

/// Whether a command whose first word is `program` (text without shell syntax) runs the same
/// directly as through the shell: it names an executable file the shell would find (a path,
/// or a name in `PATH`), and is no assignment, no builtin or keyword the shell would run
/// itself (but those of [`SHADOWED`]), and no exported bash function.
pub(super) fn runs_directly(program: &[u8]) -> bool {
    let name = OsStr::from_bytes(program);
    if program.contains(&b'=') || is_exported_function(program) {
        return false;
    }
    if BUILTINS.iter().any(|b| b.as_bytes() == program)
        && !SHADOWED.iter().any(|b| b.as_bytes() == program)
    {
        return false;
    }
    crate::program::find(Path::new(name)).is_ok()
}

/// Whether bash would find a function of this name in the environment (`export -f`).
fn is_exported_function(name: &[u8]) -> bool {
    std::env::vars_os().any(|(key, _)| {
        let key = key.as_bytes();
        key.strip_prefix(b"BASH_FUNC_".as_slice())
            .and_then(|rest| rest.strip_prefix(name))
            .is_some_and(|end| end == b"%%" || end == b"()")
    })
}

/// Whether these words, run directly, do what the shell's builtin would: `echo` unless an
/// argument starts with `-` or holds a backslash (dash's and zsh's echo read escapes and no
/// options), `true` and `false` unless given `--help` or `--version` (which the programs
/// answer). Every other program was checked by [`runs_directly`].
pub(super) fn same_as_shell(words: &[Vec<u8>]) -> bool {
    let Some((program, args)) = words.split_first() else {
        return true;
    };
    match program.as_slice() {
        b"echo" => !args
            .iter()
            .any(|a| a.first() == Some(&b'-') || a.contains(&b'\\')),
        b"true" | b"false" => !args.iter().any(|a| a == b"--help" || a == b"--version"),
        _ => true,
    }
}

/// Bytes that make a one-word command need the shell.
pub(super) fn is_special(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"|&;<>()$`\\\"'*?[]#~!{}".contains(&byte)
}

/// The job that runs `line` through the shell.
pub(super) fn job(line: OsString) -> Result<Job, ShellError> {
    Ok(Job::new(shell()).arg("-c").arg(line))
}

/// Nothing to remove: `sh` needs no script.
pub(super) fn clean_up() {}

/// Bytes that never need quoting.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&byte)
}

/// Appends `value` to `out` so that `sh` reads it back as exactly one word with these bytes:
/// as it is when it needs no quoting, else in single quotes (`'` written as `'\''`).
/// Never fails: `sh` can be given any bytes.
pub(super) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) -> Result<(), ShellError> {
    quote(out, value);
    Ok(())
}

fn quote(out: &mut Vec<u8>, value: &[u8]) {
    if !value.is_empty() && value.iter().all(|&b| is_plain(b)) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// Words shown as one shell command line.
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

#[cfg(any(test, feature = "fuzzing"))]
/// The words `sh` reads from a line made of plain bytes, single-quoted strings and
/// backslash escapes separated by spaces: as much of the shell's grammar as quoting uses.
pub(super) fn read_back(line: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut word = Vec::new();
    let mut in_word = false;
    let mut bytes = line.iter().copied();
    while let Some(byte) = bytes.next() {
        match byte {
            b' ' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            b'\'' => {
                in_word = true;
                for quoted in bytes.by_ref() {
                    if quoted == b'\'' {
                        break;
                    }
                    word.push(quoted);
                }
            }
            b'\\' => {
                in_word = true;
                word.extend(bytes.next());
            }
            other => {
                assert!(
                    other.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&other),
                    "byte {other:#04x} left unquoted"
                );
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(value: &str) -> String {
        let mut out = Vec::new();
        push_quoted(&mut out, value.as_bytes()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(quoted("a.txt"), "a.txt");
        assert_eq!(quoted("dir/x-1,2=3"), "dir/x-1,2=3");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quoted(""), "''");
        assert_eq!(quoted("a b"), "'a b'");
        assert_eq!(quoted("$HOME"), "'$HOME'");
        assert_eq!(quoted("it's"), "'it'\\''s'");
    }

    #[test]
    fn sh_reads_quoted_values_back_unchanged() {
        let values = ["a b", "it's", "$(echo no)", "*", "\\n", "tab\there", ""];
        let line = join_quoted(values.iter().map(|v| v.as_bytes()));
        let script = format!("printf '%s\\n' {}", String::from_utf8(line).unwrap());
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let expected: String = values.iter().map(|v| format!("{v}\n")).collect();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    }
}
