//! The command template: GNU parallel's replacement strings, and how a command becomes a job.
//!
//! Supported (the common subset of GNU parallel's): `{}` the input, `{.}` without extension,
//! `{/}` basename, `{//}` dirname, `{/.}` basename without extension, `{#}` the job's sequence
//! number, `{%}` its slot, and positional `{n}` (input source or column `n`; negative counts
//! from the end) with the same modifiers (`{2.}`, `{1/}`, `{-1//}`, `{3/.}`). A command with no
//! replacement string gets the input appended, as in GNU parallel.
//!
//! Words given as several arguments run directly (no shell); one argument that holds shell
//! syntax or spaces runs through the shell (`sh -c`; `cmd.exe` on Windows, see
//! [`crate::shell`]), its replaced values quoted so the shell reads each as one word (a
//! replacement string at the very start is not quoted: the input is the command). On Windows
//! `{/}`, `{//}` and `{.}` take `\` as a path separator too.

use process_pool::Job;

use crate::os_text::{self, NotUnicode, is_separator};
use crate::shell::{self, ShellError, join_quoted, push_quoted};

/// Why one input's job cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RenderError {
    /// A value the shell cannot be given unchanged, or no way to run the shell.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// A word this OS cannot take as an argument.
    #[error(transparent)]
    NotUnicode(#[from] NotUnicode),
}

/// What a replacement string stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// `{}`: every input value, separated by spaces.
    All,
    /// `{n}`: input source (or column) n, from 1; negative counts from the end.
    Positional(isize),
    /// `{#}`: the job's sequence number.
    Seq,
    /// `{%}`: the job's slot.
    Slot,
}

/// How a value is changed before it is put in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Whole,
    NoExtension,
    Basename,
    Dirname,
    BasenameNoExtension,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Value(What, Edit),
}

/// How the command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The words are the program and its arguments.
    Direct,
    /// One command line for the shell.
    Shell,
}

/// One input's values: the input sources' values (or their columns), in order.
pub(crate) type Args = [Vec<u8>];

/// A parsed command: words of pieces, and how it runs.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    mode: Mode,
    /// Direct: one entry per word. Shell: one entry, the whole command line.
    words: Vec<Vec<Piece>>,
    /// Shell only: the line starts with a replacement string, put in unquoted.
    raw_first: bool,
}

impl Template {
    /// Parses the command's words. `shell`: join the words into one shell line, as GNU
    /// parallel does. `direct_only`: never use a shell (WASI modules).
    pub(crate) fn parse(words: &[Vec<u8>], shell: bool, direct_only: bool) -> Result<Self, String> {
        if words.is_empty() {
            if direct_only {
                return Err("no module given to run".into());
            }
            // GNU parallel without a command: each input is a command line.
            return Ok(Template {
                mode: Mode::Shell,
                words: vec![vec![Piece::Value(What::All, Edit::Whole)]],
                raw_first: true,
            });
        }
        let single = words.len() == 1 || shell;
        let line = words.join(&b' ');
        if single && !direct_only {
            let pieces = parse_word(&line)?;
            let raw_first = matches!(pieces.first(), Some(Piece::Value(..)));
            if shell || raw_first || needs_shell(&pieces) {
                let mut template = Template {
                    mode: Mode::Shell,
                    words: vec![pieces],
                    raw_first,
                };
                template.append_input_if_unused();
                return Ok(template);
            }
        }
        if direct_only && words.len() == 1 && words[0].iter().any(u8::is_ascii_whitespace) {
            return Err(
                "--wasi runs a module, not a shell command: give the module and its arguments as separate words"
                    .into(),
            );
        }
        let words = words
            .iter()
            .map(|w| parse_word(w))
            .collect::<Result<_, _>>()?;
        let mut template = Template {
            mode: Mode::Direct,
            words,
            raw_first: false,
        };
        template.append_input_if_unused();
        Ok(template)
    }

    fn append_input_if_unused(&mut self) {
        let uses_any = self
            .words
            .iter()
            .flatten()
            .any(|p| matches!(p, Piece::Value(..)));
        if uses_any {
            return;
        }
        let all = Piece::Value(What::All, Edit::Whole);
        match self.mode {
            Mode::Direct => self.words.push(vec![all]),
            Mode::Shell => {
                let line = &mut self.words[0];
                line.push(Piece::Text(b" ".to_vec()));
                line.push(all);
            }
        }
    }

    /// How the command runs.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// The program when it is fixed text (no replacement string in it), to check before any job.
    pub(crate) fn fixed_program(&self) -> Option<&[u8]> {
        match (self.mode, self.words.first()?.as_slice()) {
            (Mode::Direct, [Piece::Text(text)]) => Some(text),
            _ => None,
        }
    }

    /// The words of the command for one input: program first (direct mode), or the one
    /// command line (shell mode).
    pub(crate) fn render(
        &self,
        args: &Args,
        seq: u64,
        slot: usize,
    ) -> Result<Vec<Vec<u8>>, ShellError> {
        let ctx = Context { args, seq, slot };
        match self.mode {
            Mode::Direct => {
                let mut out = Vec::with_capacity(self.words.len() + args.len());
                for word in &self.words {
                    let mut current = Vec::new();
                    // A word made only of values that are not there (`{3}` with two inputs)
                    // is left out, as a shell drops GNU parallel's empty unquoted value.
                    let mut present = false;
                    for piece in word {
                        match piece {
                            Piece::Text(text) => {
                                present = true;
                                current.extend_from_slice(text);
                            }
                            Piece::Value(what, edit) => {
                                // Several values: each its own word, as a shell would split
                                // GNU parallel's quoted values ("x{}y" with a, b: "xa", "by").
                                for (i, value) in ctx.values(*what, *edit).into_iter().enumerate() {
                                    if i > 0 {
                                        out.push(std::mem::take(&mut current));
                                    }
                                    present = true;
                                    current.extend_from_slice(&value);
                                }
                            }
                        }
                    }
                    if present {
                        out.push(current);
                    }
                }
                Ok(out)
            }
            Mode::Shell => {
                let mut line = Vec::new();
                for (index, piece) in self.words[0].iter().enumerate() {
                    match piece {
                        Piece::Text(text) => line.extend_from_slice(text),
                        Piece::Value(what, edit) => {
                            for (i, value) in ctx.values(*what, *edit).into_iter().enumerate() {
                                if i > 0 {
                                    line.push(b' ');
                                }
                                if index == 0 && self.raw_first {
                                    line.extend_from_slice(&value);
                                } else {
                                    push_quoted(&mut line, &value)?;
                                }
                            }
                        }
                    }
                }
                Ok(vec![line])
            }
        }
    }

    /// The job for one input.
    pub(crate) fn job(&self, args: &Args, seq: u64, slot: usize) -> Result<Job, RenderError> {
        let words = self.render(args, seq, slot)?;
        match self.mode {
            Mode::Direct => {
                let mut words = words.into_iter().map(os_text::to_os);
                let program = words.next().transpose()?.unwrap_or_default();
                Ok(Job::new(program).args(words.collect::<Result<Vec<_>, _>>()?))
            }
            Mode::Shell => {
                let line = words.into_iter().next().unwrap_or_default();
                Ok(shell::job(os_text::to_os(line)?)?)
            }
        }
    }

    /// The command for one input as a shell would take it: for the joblog, `--dry-run` and
    /// messages (the reason instead, for a command that cannot be made).
    pub(crate) fn text(&self, args: &Args, seq: u64, slot: usize) -> String {
        let words = match self.render(args, seq, slot) {
            Ok(words) => words,
            Err(error) => return format!("({error})"),
        };
        let bytes = match self.mode {
            Mode::Direct => join_quoted(words.iter().map(Vec::as_slice)),
            Mode::Shell => words.into_iter().next().unwrap_or_default(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// What a replacement string is given to render.
struct Context<'a> {
    args: &'a Args,
    seq: u64,
    slot: usize,
}

impl Context<'_> {
    fn values(&self, what: What, edit: Edit) -> Vec<Vec<u8>> {
        match what {
            What::All => self.args.iter().map(|a| apply(edit, a)).collect(),
            What::Positional(n) => {
                let len = self.args.len() as isize;
                let index = if n > 0 { n - 1 } else { len + n };
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.args.get(i))
                    .map(|a| apply(edit, a))
                    .into_iter()
                    .collect()
            }
            What::Seq => vec![self.seq.to_string().into_bytes()],
            What::Slot => vec![self.slot.to_string().into_bytes()],
        }
    }
}

/// Splits one word into text and replacement strings.
fn parse_word(word: &[u8]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < word.len() {
        let close = (word[i] == b'{')
            .then(|| word[i..].iter().position(|&b| b == b'}'))
            .flatten();
        if let Some(close) = close {
            let inner = &word[i + 1..i + close];
            if inner.first() == Some(&b'=') {
                return Err(format!(
                    "`{}`: perl expressions ({{= ... =}}) are not supported",
                    String::from_utf8_lossy(word)
                ));
            }
            if let Some((what, edit)) = replacement(inner) {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Value(what, edit));
                i += close + 1;
                continue;
            }
        }
        text.push(word[i]);
        i += 1;
    }
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Reads the inside of `{...}` as a replacement string, if it is one.
fn replacement(inner: &[u8]) -> Option<(What, Edit)> {
    match inner {
        b"#" => return Some((What::Seq, Edit::Whole)),
        b"%" => return Some((What::Slot, Edit::Whole)),
        _ => {}
    }
    let sign = usize::from(inner.first() == Some(&b'-'));
    let digits = inner[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let edit = match &inner[sign + digits..] {
        b"" => Edit::Whole,
        b"." => Edit::NoExtension,
        b"/" => Edit::Basename,
        b"//" => Edit::Dirname,
        b"/." => Edit::BasenameNoExtension,
        _ => return None,
    };
    if digits == 0 {
        return (sign == 0).then_some((What::All, edit));
    }
    let number: isize = std::str::from_utf8(&inner[..sign + digits])
        .ok()?
        .parse()
        .ok()?;
    (number != 0).then_some((What::Positional(number), edit))
}

/// Whether a single-word command needs a shell: spaces or shell syntax outside replacement
/// strings.
fn needs_shell(pieces: &[Piece]) -> bool {
    pieces.iter().any(|piece| match piece {
        Piece::Text(text) => text.iter().any(|&b| shell::is_special(b)),
        Piece::Value(..) => false,
    })
}

/// GNU parallel's edits: `{.}` is `s:\.[^/.]*$::`, `{/}` is `s:.*/::`, `{//}` is `dirname`.
fn apply(edit: Edit, value: &[u8]) -> Vec<u8> {
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

#[cfg(test)]
mod tests;
