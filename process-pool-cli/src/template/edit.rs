//! GNU parallel's edits of a value: `{.}` without extension, `{/}` basename, `{//}` dirname,
//! `{/.}` basename without extension (on Windows `\\` is a separator too).

use crate::os_text::is_separator;

/// How a value is changed before it is put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Edit {
    Whole,
    NoExtension,
    Basename,
    Dirname,
    BasenameNoExtension,
}

/// GNU parallel's edits: `{.}` is `s:\.[^/.]*$::`, `{/}` is `s:.*/::`, `{//}` is `dirname`.
pub(super) fn apply(edit: Edit, value: &[u8]) -> Vec<u8> {
    match edit {
        Edit::Whole => value.to_vec(),
        Edit::NoExtension => strip_extension(value).to_vec(),
        Edit::Basename => basename(value).to_vec(),
        Edit::Dirname => dirname(value),
        Edit::BasenameNoExtension => strip_extension(basename(value)).to_vec(),
    }
}

fn strip_extension(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| b == b'.' || is_separator(b)) {
        Some(dot) if value[dot] == b'.' => &value[..dot],
        _ => value,
    }
}

fn basename(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| is_separator(b)) {
        Some(slash) => &value[slash + 1..],
        None => value,
    }
}

/// POSIX `dirname`: trailing slashes ignored, `.` for a bare name, `/` for the root (the
/// root's own separator, `\` on Windows).
fn dirname(value: &[u8]) -> Vec<u8> {
    let trimmed_len = value
        .iter()
        .rposition(|&b| !is_separator(b))
        .map_or(0, |i| i + 1);
    if trimmed_len == 0 {
        return if value.is_empty() {
            b".".to_vec()
        } else {
            value[..1].to_vec()
        };
    }
    let trimmed = &value[..trimmed_len];
    match trimmed.iter().rposition(|&b| is_separator(b)) {
        None => b".".to_vec(),
        Some(slash) => {
            let parent_len = trimmed[..slash]
                .iter()
                .rposition(|&b| !is_separator(b))
                .map_or(0, |i| i + 1);
            if parent_len == 0 {
                trimmed[..1].to_vec()
            } else {
                trimmed[..parent_len].to_vec()
            }
        }
    }
}
