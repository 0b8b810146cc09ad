//! Unix: an argument is bytes, as they are.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use super::NotUnicode;

pub(super) fn to_bytes(word: OsString) -> Result<Vec<u8>, NotUnicode> {
    Ok(word.into_vec())
}

pub(super) fn to_os(bytes: Vec<u8>) -> Result<OsString, NotUnicode> {
    Ok(OsString::from_vec(bytes))
}

pub(super) fn is_separator(byte: u8) -> bool {
    byte == b'/'
}

// Only `--dir` (WASI) reads drives.
#[cfg_attr(not(feature = "wasi"), allow(dead_code))]
pub(super) fn drive_len(_spec: &str) -> usize {
    0
}
