//! The command template: GNU parallel's replacement strings, and how a command becomes a job.
//!
//! Supported (the common subset of GNU parallel's): `{}` the input, `{.}` without extension,
//! `{/}` basename, `{//}` dirname, `{/.}` basename without extension, `{#}` the job's sequence
//! number, `{%}` its slot, and positional `{n}` (input source or column `n`; negative counts
//! from the end) with the same modifiers (`{2.}`, `{1/}`, `{-1//}`, `{3/.}`). A command with no
//! replacement string gets the input appended, as in GNU parallel.
//!
//! As in GNU parallel, the command's words are joined with spaces into one line that the shell
//! runs (see [`crate::shell`] for which), its replaced values quoted so the shell reads each as
//! one word (a replacement string at the very start is not quoted: the input is the command).
//! A line that the shell would only split into words, whose program the shell would run as it
//! is, runs directly instead: the same result for one process, not two ([`Words::Line`]). On
//! Windows several words run directly, a one-word command with spaces or cmd syntax through
//! `cmd.exe`; `{/}`, `{//}` and `{.}` take `\` as a path separator too.

use process_pool::Job;

use crate::os_text::{self, NotUnicode};
use crate::shell::{self, ShellError, join_quoted, push_quoted};

mod edit;
mod tag;

use edit::{Edit, apply};
pub(crate) use tag::Tag;

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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    Value(What, Edit),
}

/// How the command's words are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Words {
    /// As GNU parallel: joined with spaces into one line for the shell, values quoted; run
    /// directly instead when the line is only plain words and the program is one the shell
    /// would run as it is (see [`shell::runs_directly`]). On Windows several words run
    /// directly, and only a one-word command with spaces or cmd syntax goes to cmd.
    Line,
    /// `-q`: each word one argument, as given (values put in as they are).
    Quoted,
    /// `--shell`: always one line for the shell, never run directly.
    Shell,
    /// `--wasi`: a module and its arguments, never a shell.
    Module,
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
    /// Direct only: a module's words, never given to a shell.
    module: bool,
    /// `-X`: a word holding `{}` among other text is repeated for each value.
    context: bool,
    /// The command named no input: `{}` was added at its end.
    appended: bool,
}

impl Template {
    /// Parses the command's words, to be run as `how` says.
    pub(crate) fn parse(words: &[Vec<u8>], how: Words) -> Result<Self, String> {
        if words.is_empty() {
            if how == Words::Module {
                return Err("no module given to run".into());
            }
            // GNU parallel without a command: each input is a command line.
            return Ok(Template {
                mode: Mode::Shell,
                words: vec![vec![Piece::Value(What::All, Edit::Whole)]],
                raw_first: true,
                module: false,
                context: false,
                appended: false,
            });
        }
        match how {
            Words::Module => {
                if words.len() == 1 && words[0].iter().any(u8::is_ascii_whitespace) {
                    return Err(
                        "--wasi runs a module, not a shell command: give the module and its arguments as separate words"
                            .into(),
                    );
                }
                let mut template = Template::direct(
                    words
                        .iter()
                        .map(|w| parse_word(w))
                        .collect::<Result<_, _>>()?,
                )?;
                template.module = true;
                return Ok(template);
            }
            Words::Quoted => return Template::quoted(words),
            Words::Line if words.len() > 1 && !shell::JOINS_WORDS => {
                return Template::direct(
                    words
                        .iter()
                        .map(|w| parse_word(w))
                        .collect::<Result<_, _>>()?,
                );
            }
            Words::Line | Words::Shell => {}
        }
        let pieces = parse_word(&words.join(&b' '))?;
        let raw_first = matches!(pieces.first(), Some(Piece::Value(..)));
        if how == Words::Line
            && !raw_first
            && let Some(words) = plain_words(&pieces)
        {
            return Template::direct(words);
        }
        Ok(Template::line(pieces, raw_first))
    }

    /// `-q`: each word as it is given, one argument each (through the shell, each quoted,
    /// when the program is the shell's own).
    fn quoted(words: &[Vec<u8>]) -> Result<Self, String> {
        let words: Vec<Vec<Piece>> = words
            .iter()
            .map(|w| parse_word(w))
            .collect::<Result<_, _>>()?;
        if let [Piece::Text(program)] = words[0].as_slice()
            && shell::runs_directly(program)
        {
            return Template::direct(words);
        }
        let mut line = Vec::new();
        for (i, word) in words.into_iter().enumerate() {
            if i > 0 {
                line.push(Piece::Text(b" ".to_vec()));
            }
            for piece in word {
                line.push(match piece {
                    Piece::Text(text) => {
                        let mut quoted = Vec::new();
                        shell::push_quoted(&mut quoted, &text).map_err(|e| e.to_string())?;
                        Piece::Text(quoted)
                    }
                    value => value,
                });
            }
        }
        Ok(Template::line(line, false))
    }

    /// Words run directly, the program first.
    fn direct(words: Vec<Vec<Piece>>) -> Result<Self, String> {
        let mut template = Template {
            mode: Mode::Direct,
            words,
            raw_first: false,
            module: false,
            context: false,
            appended: false,
        };
        template.append_input_if_unused();
        Ok(template)
    }

    /// One line for the shell.
    fn line(pieces: Vec<Piece>, raw_first: bool) -> Self {
        let mut template = Template {
            mode: Mode::Shell,
            words: vec![pieces],
            raw_first,
            module: false,
            context: false,
            appended: false,
        };
        template.append_input_if_unused();
        template
    }

    /// `-X`: a word that holds `{}` among other text is repeated for each value (`pre-{}-post`
    /// with a and b gives `pre-a-post pre-b-post`), as GNU parallel's context replace.
    pub(crate) fn context_replace(mut self, on: bool) -> Self {
        self.context = on;
        self
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
        self.appended = true;
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

    /// Whether the command named no input, so that it gets the input at its end (`--pipe`
    /// gives such a command nothing there).
    pub(crate) fn appends_input(&self) -> bool {
        self.appended
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
                    if self.context && is_context_word(word) {
                        for value in &ctx.values(What::All, Edit::Whole) {
                            out.push(ctx.with_all(value).word(word));
                        }
                        continue;
                    }
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
            Mode::Shell if self.context => Ok(vec![self.context_line(&ctx)?]),
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
            Mode::Direct if !self.module && !shell::same_as_shell(&words) => {
                let line = join_quoted(words.iter().map(Vec::as_slice));
                Ok(shell::job(os_text::to_os(line)?)?)
            }
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

impl Template {
    /// The shell line with `-X`'s context replace: each word (text between blanks) holding
    /// `{}` among other text, once per value, each rendering quoted.
    fn context_line(&self, ctx: &Context<'_>) -> Result<Vec<u8>, ShellError> {
        let mut line = Vec::new();
        let mut word: Vec<Piece> = Vec::new();
        let flush = |word: &mut Vec<Piece>, line: &mut Vec<u8>| -> Result<(), ShellError> {
            if is_context_word(word) {
                for (i, value) in ctx.values(What::All, Edit::Whole).iter().enumerate() {
                    if i > 0 {
                        line.push(b' ');
                    }
                    ctx.with_all(value).push_shell_word(word, line)?;
                }
            } else {
                ctx.push_shell_word(word, line)?;
            }
            word.clear();
            Ok(())
        };
        for piece in &self.words[0] {
            let Piece::Text(text) = piece else {
                word.push(piece.clone());
                continue;
            };
            for (i, part) in text.split(|&b| b == b' ' || b == b'\t').enumerate() {
                if i > 0 {
                    flush(&mut word, &mut line)?;
                    line.push(b' ');
                }
                if !part.is_empty() {
                    word.push(Piece::Text(part.to_vec()));
                }
            }
        }
        flush(&mut word, &mut line)?;
        Ok(line)
    }
}

/// Whether `-X` repeats this word for each value: it holds `{}` (with any edit) and more.
fn is_context_word(word: &[Piece]) -> bool {
    word.len() > 1 && word.iter().any(|p| matches!(p, Piece::Value(What::All, _)))
}

/// What a replacement string is given to render.
struct Context<'a> {
    args: &'a Args,
    seq: u64,
    slot: usize,
}

impl Context<'_> {
    /// The same, with `{}` standing for `value` alone.
    fn with_all<'b>(&'b self, value: &'b Vec<u8>) -> Context<'b> {
        Context {
            args: std::slice::from_ref(value),
            seq: self.seq,
            slot: self.slot,
        }
    }

    /// One word for a direct run: its pieces, values put in as they are.
    fn word(&self, word: &[Piece]) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in word {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text),
                Piece::Value(what, edit) => {
                    for value in self.values(*what, *edit) {
                        out.extend_from_slice(&value);
                    }
                }
            }
        }
        out
    }

    /// One word of a shell line: its text as written, its values quoted.
    fn push_shell_word(&self, word: &[Piece], line: &mut Vec<u8>) -> Result<(), ShellError> {
        for piece in word {
            match piece {
                Piece::Text(text) => line.extend_from_slice(text),
                Piece::Value(what, edit) => {
                    for (i, value) in self.values(*what, *edit).into_iter().enumerate() {
                        if i > 0 {
                            line.push(b' ');
                        }
                        push_quoted(line, &value)?;
                    }
                }
            }
        }
        Ok(())
    }
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

/// The words of a line the shell would only split at blanks, when it has no other syntax and
/// its program runs the same without the shell ([`shell::runs_directly`]); `None` otherwise.
/// Blanks split text only: a value stays one word, as the shell reads it once quoted.
fn plain_words(pieces: &[Piece]) -> Option<Vec<Vec<Piece>>> {
    let mut words: Vec<Vec<Piece>> = Vec::new();
    let mut word: Vec<Piece> = Vec::new();
    for piece in pieces {
        let Piece::Text(text) = piece else {
            word.push(piece.clone());
            continue;
        };
        if text
            .iter()
            .any(|&b| shell::is_special(b) && !shell::is_blank(b))
        {
            return None;
        }
        for (i, part) in text.split(|&b| shell::is_blank(b)).enumerate() {
            if i > 0 && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            if !part.is_empty() {
                word.push(Piece::Text(part.to_vec()));
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let direct = match words.first()?.as_slice() {
        [Piece::Text(program)] => shell::runs_directly(program),
        // Windows: a program named by a value runs directly too, as several words do.
        _ => !shell::JOINS_WORDS,
    };
    direct.then_some(words)
}

#[cfg(test)]
mod tests;
