//! `env-dump`: prints every environment variable as `KEY=VALUE`, one per line, sorted.
//! `env-dump KEY...`: prints the value of each KEY that is set, one per line.

fn main() {
    let keys: Vec<String> = std::env::args().skip(1).collect();
    if keys.is_empty() {
        let mut vars: Vec<(String, String)> = std::env::vars().collect();
        vars.sort();
        for (key, value) in vars {
            println!("{key}={value}");
        }
    } else {
        for key in keys {
            if let Ok(value) = std::env::var(&key) {
                println!("{value}");
            }
        }
    }
}
