//! `--tag` and `--tagstring`: the text before each output line of a job.

use super::{Args, Context, Edit, Piece, What, parse_word};

/// `--tag` and `--tagstring`: what goes before each line a job writes, then a TAB.
#[derive(Debug, Clone)]
pub(crate) struct Tag(Vec<Piece>);

impl Tag {
    /// `--tag`: the job's inputs, separated by spaces.
    pub(crate) fn inputs() -> Tag {
        Tag(vec![Piece::Value(What::All, Edit::Whole)])
    }

    /// `--tagstring TEXT`: the text with its replacement strings.
    pub(crate) fn parse(text: &[u8]) -> Result<Tag, String> {
        parse_word(text).map(Tag)
    }

    /// The tag of one job, TAB included.
    pub(crate) fn render(&self, args: &Args, seq: u64, slot: usize) -> Vec<u8> {
        let ctx = Context { args, seq, slot };
        let mut out = Vec::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text),
                Piece::Value(what, edit) => {
                    out.extend_from_slice(&ctx.values(*what, *edit).join(&b' '));
                }
            }
        }
        out.push(b'\t');
        out
    }
}
