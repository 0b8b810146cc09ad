//! POSIX shell quoting: how a value is put into a `sh -c` command line, and how a command run
//! directly is shown (joblog, `--dry-run`, messages) so it can be pasted into a shell.

/// Bytes that never need quoting.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&byte)
}

/// Appends `value` to `out` so that `sh` reads it back as exactly one word with these bytes:
/// as it is when it needs no quoting, else in single quotes (`'` written as `'\''`).
pub(crate) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
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
pub(crate) fn join_quoted<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, word) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_quoted(&mut out, word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(value: &str) -> String {
        let mut out = Vec::new();
        push_quoted(&mut out, value.as_bytes());
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
