//! Unix: one-string commands run through `/bin/sh -c`; POSIX shell quoting puts a value into
//! that line, and shows a command run directly (joblog, `--dry-run`, messages) so it can be
//! pasted into a shell.

use std::ffi::OsString;

use process_pool::Job;

use super::ShellError;

/// The shell that runs a command given as one string.
const SHELL: &str = "/bin/sh";

/// How the shell is named in help and messages.
pub(super) const NAME: &str = "sh -c";

/// Bytes that make a one-word command need the shell.
pub(super) fn is_special(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"|&;<>()$`\\\"'*?[]#~!{}".contains(&byte)
}

/// The job that runs `line` through the shell.
pub(super) fn job(line: OsString) -> Result<Job, ShellError> {
    Ok(Job::new(SHELL).arg("-c").arg(line))
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
