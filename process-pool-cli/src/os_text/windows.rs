//! Windows: an argument is UTF-16, carried as UTF-8 bytes in between.

use std::ffi::OsString;

use super::NotUnicode;

pub(super) fn to_bytes(word: OsString) -> Result<Vec<u8>, NotUnicode> {
    word.into_string()
        .map(String::into_bytes)
        .map_err(|word| NotUnicode::Argument {
            shown: word.to_string_lossy().into_owned(),
        })
}

pub(super) fn to_os(bytes: Vec<u8>) -> Result<OsString, NotUnicode> {
    String::from_utf8(bytes)
        .map(OsString::from)
        .map_err(|e| NotUnicode::Bytes {
            shown: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
}

pub(super) fn is_separator(byte: u8) -> bool {
    byte == b'/' || byte == b'\\'
}

// Only `--dir` (WASI) reads drives.
#[cfg_attr(not(feature = "wasi"), allow(dead_code))]
pub(super) fn drive_len(spec: &str) -> usize {
    match spec.as_bytes() {
        [letter, b':', separator, ..]
            if letter.is_ascii_alphabetic() && is_separator(*separator) =>
        {
            2
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_goes_both_ways_unchanged() {
        let word = OsString::from("Grüße, 世界 {}");
        let bytes = to_bytes(word.clone()).unwrap();
        assert_eq!(bytes, "Grüße, 世界 {}".as_bytes());
        assert_eq!(to_os(bytes).unwrap(), word);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_by_name() {
        let err = to_os(b"caf\xe9.txt".to_vec()).unwrap_err();
        assert_eq!(
            err,
            NotUnicode::Bytes {
                shown: "caf\u{fffd}.txt".into()
            }
        );
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn a_drive_is_kept_with_its_path() {
        assert_eq!(drive_len(r"C:\data:/data:ro"), 2);
        assert_eq!(drive_len("d:/x"), 2);
        assert_eq!(drive_len("data:/data"), 0);
        assert_eq!(drive_len("C:"), 0);
    }

    #[test]
    fn backslashes_separate_paths() {
        assert!(is_separator(b'\\') && is_separator(b'/') && !is_separator(b':'));
    }
}
