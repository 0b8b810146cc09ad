//! Grows its memory 1 MiB at a time, touching every page, until the allocator is refused
//! more; then prints `refused after N MiB` and exits 0.

fn main() {
    const MIB: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(MIB).is_err() {
            println!("refused after {} MiB", kept.len());
            return;
        }
        chunk.resize(MIB, 0xA5);
        kept.push(chunk);
    }
}
