//! `exit-code N`: exits with code N and prints nothing.
//!
//! Built for `wasm32-wasip2`, a code from 0 to 255 goes through `wasi:cli/exit.exit-with-code`
//! (Rust's std could only give 0 or 1 there).

fn main() {
    let code = std::env::args()
        .nth(1)
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: exit-code N");
            std::process::exit(2)
        });
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    if let Ok(code) = u8::try_from(code) {
        wasip2::cli::exit::exit_with_code(code);
    }
    std::process::exit(code);
}
