//! What the fuzz targets share: how a fuzzer's input is read as a few settings and the bytes
//! under test. Inputs start with their settings, one byte each, then the bytes: so a seed is
//! easy to write by hand, and libFuzzer's mutations of the bytes keep the settings.

/// A fuzzer's input: settings read off its front, then the rest.
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Reads `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// The next setting (0 once the input is used up).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                byte
            }
            None => 0,
        }
    }

    /// The next two bytes as a big-endian number.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// A frame limit: 0 the protocol's default (16 MiB), else 12 plus the number.
    pub fn max_frame(&mut self) -> usize {
        match self.u16() {
            0 => process_pool_protocol::DEFAULT_MAX_FRAME,
            n => 12 + usize::from(n),
        }
    }

    /// Where a stream is cut into the pieces a reader gets: a seed byte (0: one piece).
    pub fn cuts(&mut self) -> Vec<usize> {
        cuts(self.byte(), self.data.len())
    }

    /// The bytes under test: what is left.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Piece lengths for a stream of `len` bytes, from `seed`: none for 0 (the stream whole),
/// else lengths from 1 to `seed`, varied by a xorshift of the seed.
pub fn cuts(seed: u8, len: usize) -> Vec<usize> {
    if seed == 0 {
        return Vec::new();
    }
    let mut state = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    let mut cuts = Vec::new();
    let mut total = 0;
    while total < len {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let cut = (state % u32::from(seed)) as usize + 1;
        total += cut;
        cuts.push(cut);
    }
    cuts
}
