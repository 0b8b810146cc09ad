use super::*;

fn words(command: &[&str]) -> Vec<Vec<u8>> {
    command.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn args(values: &[&str]) -> Vec<Vec<u8>> {
    words(values)
}

fn render(command: &[&str], values: &[&str]) -> Vec<String> {
    let template = Template::parse(&words(command), false, false).unwrap();
    template
        .render(&args(values), 7, 2)
        .unwrap()
        .into_iter()
        .map(|w| String::from_utf8(w).unwrap())
        .collect()
}

#[test]
fn edits_follow_gnu_parallel() {
    let cases = [
        ("a.tar.gz", "a.tar", "a.tar.gz", ".", "a.tar"),
        (".bashrc", "", ".bashrc", ".", ""),
        ("foo.", "foo", "foo.", ".", "foo"),
        ("sub.dir/bar", "sub.dir/bar", "bar", "sub.dir", "bar"),
        ("/x/y/", "/x/y/", "", "/x", ""),
        ("a//b", "a//b", "b", "a", "b"),
        ("/", "/", "", "/", ""),
        ("noslash", "noslash", "noslash", ".", "noslash"),
        ("sp ace.x", "sp ace", "sp ace.x", ".", "sp ace"),
    ];
    for (input, no_ext, base, dir, base_no_ext) in cases {
        let out = render(&["echo", "{.}", "{/}", "{//}", "{/.}"], &[input]);
        assert_eq!(out, ["echo", no_ext, base, dir, base_no_ext], "{input}");
    }
}

#[test]
fn positional_sequence_and_slot() {
    let out = render(
        &["echo", "{2}", "{1.}", "{-1/}", "{3}", "{#}", "{%}"],
        &["a.x", "d/b.y"],
    );
    assert_eq!(out, ["echo", "d/b.y", "a", "b.y", "7", "2"]);
}

#[test]
fn input_is_appended_when_no_replacement_string_is_used() {
    assert_eq!(render(&["echo", "x"], &["a", "b"]), ["echo", "x", "a", "b"]);
    assert_eq!(render(&["echo", "{#}"], &["a"]), ["echo", "7"]);
}

#[test]
fn several_values_split_into_words_like_a_shell_would() {
    assert_eq!(render(&["echo", "x{}y"], &["a", "1"]), ["echo", "xa", "1y"]);
}

#[test]
fn unknown_braces_stay_text() {
    assert_eq!(
        render(&["echo", "{foo}", "{0}", "{"], &["a"]),
        ["echo", "{foo}", "{0}", "{", "a"]
    );
}

#[test]
fn perl_expressions_are_refused_with_a_reason() {
    let err = Template::parse(&words(&["echo", "{= $_ =}"]), false, false).unwrap_err();
    assert!(err.contains("not supported"), "{err}");
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn one_word_with_shell_syntax_runs_through_sh_with_values_quoted() {
    let t = Template::parse(&words(&["echo {} | tr a b"]), false, false).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(
        t.text(&args(&["it's a"]), 1, 1),
        "echo 'it'\\''s a' | tr a b"
    );
    let t = Template::parse(&words(&["wc -l"]), false, false).unwrap();
    assert_eq!(t.text(&args(&["a b", "c"]), 1, 1), "wc -l 'a b' c");
}

#[test]
fn a_bare_program_name_runs_directly() {
    let t = Template::parse(&words(&["true"]), false, false).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
    assert_eq!(t.fixed_program(), Some(&b"true"[..]));
    let t = Template::parse(&words(&["./run-{}.sh"]), false, false).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
    assert_eq!(t.fixed_program(), None);
}

#[test]
fn a_leading_replacement_string_is_the_command_itself() {
    let t = Template::parse(&words(&["{} --version"]), false, false).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(t.text(&args(&["gcc -v"]), 1, 1), "gcc -v --version");
    let t = Template::parse(&[], false, false).unwrap();
    assert_eq!(t.text(&args(&["echo hi; true"]), 1, 1), "echo hi; true");
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn shell_flag_joins_words_into_one_line() {
    let t = Template::parse(&words(&["echo", "$HOME", "{}"]), true, false).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(t.text(&args(&["a b"]), 1, 1), "echo $HOME 'a b'");
}

#[test]
fn wasi_commands_never_use_a_shell() {
    let t = Template::parse(&words(&["m.wasm"]), false, true).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
    assert!(Template::parse(&words(&["m.wasm {}"]), false, true).is_err());
    assert!(Template::parse(&[], false, true).is_err());
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn direct_commands_show_quoted() {
    let t = Template::parse(&words(&["grep", "-c", "a|b"]), false, false).unwrap();
    assert_eq!(t.text(&args(&["my file"]), 1, 1), "grep -c 'a|b' 'my file'");
}

#[cfg(windows)]
#[test]
fn windows_paths_are_split_at_backslashes_and_values_quoted_for_cmd() {
    assert_eq!(
        render(&["echo", "{/}", "{//}", "{/.}"], &[r"C:\data\a b.txt"]),
        ["echo", "a b.txt", r"C:\data", "a b"]
    );
    let t = Template::parse(&words(&["type {} | sort"]), false, false).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(
        t.text(&args(&["my file"]), 1, 1),
        r#"type "my file" | sort"#
    );
    let err = t.job(&args(&["two\nlines"]), 1, 1).unwrap_err();
    assert!(err.to_string().contains("line break"), "{err}");
    let t = Template::parse(&words(&[r"C:\tools\x.exe"]), false, false).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
}
