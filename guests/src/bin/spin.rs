//! Loops for ever without calling the host: only a deadline, a cancel or fuel stops it.

fn main() {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
