//! Prints `hello`.

fn main() {
    println!("hello");
}
