//! Recurses without end until the wasm call stack is exhausted.

#[allow(unconditional_recursion)] // on purpose: it must overflow
fn deeper(n: u64) -> u64 {
    let frame = std::hint::black_box([n; 16]);
    deeper(n + 1) + frame[n as usize % 16]
}

fn main() {
    println!("{}", deeper(0));
}
