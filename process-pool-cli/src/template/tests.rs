use super::*;

fn words(command: &[&str]) -> Vec<Vec<u8>> {
    command.iter().map(|w| w.as_bytes().to_vec()).collect()
}

fn args(values: &[&str]) -> Vec<Vec<u8>> {
    words(values)
}

fn render(command: &[&str], values: &[&str]) -> Vec<String> {
    render_as(Words::Line, command, values)
}

fn render_as(how: Words, command: &[&str], values: &[&str]) -> Vec<String> {
    let template = Template::parse(&words(command), how).unwrap();
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
        render_as(Words::Quoted, &["echo", "{foo}", "{0}", "{"], &["a"]),
        ["echo", "{foo}", "{0}", "{", "a"]
    );
}

#[test]
fn perl_expressions_are_refused_with_a_reason() {
    let err = Template::parse(&words(&["echo", "{= $_ =}"]), Words::Line).unwrap_err();
    assert!(err.contains("not supported"), "{err}");
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn one_word_with_shell_syntax_runs_through_sh_with_values_quoted() {
    let t = Template::parse(&words(&["echo {} | tr a b"]), Words::Line).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(
        t.text(&args(&["it's a"]), 1, 1),
        "echo 'it'\\''s a' | tr a b"
    );
    let t = Template::parse(&words(&["wc -l"]), Words::Line).unwrap();
    assert_eq!(t.text(&args(&["a b", "c"]), 1, 1), "wc -l 'a b' c");
}

#[test]
fn a_bare_program_name_runs_directly() {
    let t = Template::parse(&words(&["true"]), Words::Line).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
    assert_eq!(t.fixed_program(), Some(&b"true"[..]));
    let t = Template::parse(&words(&["./run-{}.sh"]), Words::Module).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
    assert_eq!(t.fixed_program(), None);
}

// GNU parallel's semantics are a POSIX shell's; Windows keeps several words apart.
#[cfg(unix)]
#[test]
fn words_are_joined_into_one_line_and_run_directly_when_the_shell_would_only_split_them() {
    assert_eq!(
        render(&["echo", "a  b", "x{}y"], &["1 2"]),
        ["echo", "a", "b", "x1 2y"]
    );
    let direct = |command: &[&str]| {
        Template::parse(&words(command), Words::Line)
            .unwrap()
            .mode()
    };
    assert_eq!(direct(&["true"]), Mode::Direct);
    assert_eq!(direct(&["sh -c", "exit"]), Mode::Direct);
    // Shell syntax anywhere, a builtin, an assignment, a program not found, a program named
    // by a value: the shell runs the line, as in GNU parallel.
    for command in [
        &["echo", "$HOME"][..],
        &["sleep {}; echo {}"],
        &["zcat", "{}", ">{.}"],
        &["exit"],
        &["cd", "/"],
        &["FOO=1", "env"],
        &["no-such-program-anywhere"],
        &["./run-{}.sh"],
        &["{}", "x"],
    ] {
        assert_eq!(direct(command), Mode::Shell, "{command:?}");
    }
    let t = Template::parse(&words(&["echo", "$HOME"]), Words::Line).unwrap();
    assert_eq!(t.text(&args(&["a b"]), 1, 1), "echo $HOME 'a b'");
}

#[cfg(unix)]
#[test]
fn a_builtin_run_directly_goes_to_the_shell_for_the_arguments_its_program_reads_otherwise() {
    let program = |command: &[&str], values: &[&str]| {
        let t = Template::parse(&words(command), Words::Line).unwrap();
        let job = t.job(&args(values), 1, 1).unwrap();
        job.get_program().to_string_lossy().into_owned()
    };
    assert_eq!(program(&["echo"], &["a"]), "echo");
    assert_eq!(program(&["true"], &["a"]), "true");
    assert_ne!(program(&["echo"], &["-n"]), "echo");
    assert_ne!(program(&["echo"], &["a\\nb"]), "echo");
    assert_ne!(program(&["true"], &["--help"]), "true");
}

#[cfg(unix)]
#[test]
fn quote_keeps_each_word_one_argument() {
    assert_eq!(
        render_as(Words::Quoted, &["grep", "-c", "a|b c"], &["f"]),
        ["grep", "-c", "a|b c", "f"]
    );
    // A builtin: through the shell, each word quoted.
    let t = Template::parse(&words(&["exit", "{}"]), Words::Quoted).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(t.text(&args(&["3"]), 1, 1), "exit 3");
    let t = Template::parse(&words(&["cd", "a b", "{}"]), Words::Quoted).unwrap();
    assert_eq!(t.text(&args(&["$x"]), 1, 1), "cd 'a b' '$x'");
}

#[test]
fn a_leading_replacement_string_is_the_command_itself() {
    let t = Template::parse(&words(&["{} --version"]), Words::Line).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(t.text(&args(&["gcc -v"]), 1, 1), "gcc -v --version");
    let t = Template::parse(&[], Words::Line).unwrap();
    assert_eq!(t.text(&args(&["echo hi; true"]), 1, 1), "echo hi; true");
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn shell_flag_joins_words_into_one_line() {
    let t = Template::parse(&words(&["echo", "$HOME", "{}"]), Words::Shell).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(t.text(&args(&["a b"]), 1, 1), "echo $HOME 'a b'");
}

#[test]
fn wasi_commands_never_use_a_shell() {
    let t = Template::parse(&words(&["m.wasm"]), Words::Module).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
    assert!(Template::parse(&words(&["m.wasm {}"]), Words::Module).is_err());
    assert!(Template::parse(&[], Words::Module).is_err());
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn direct_commands_show_quoted() {
    let t = Template::parse(&words(&["grep", "-c", "a|b"]), Words::Quoted).unwrap();
    assert_eq!(t.text(&args(&["my file"]), 1, 1), "grep -c 'a|b' 'my file'");
}

#[cfg(windows)]
#[test]
fn windows_paths_are_split_at_backslashes_and_values_quoted_for_cmd() {
    assert_eq!(
        render(&["echo", "{/}", "{//}", "{/.}"], &[r"C:\data\a b.txt"]),
        ["echo", "a b.txt", r"C:\data", "a b"]
    );
    let t = Template::parse(&words(&["type {} | sort"]), Words::Line).unwrap();
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(
        t.text(&args(&["my file"]), 1, 1),
        r#"type "my file" | sort"#
    );
    let err = t.job(&args(&["two\nlines"]), 1, 1).unwrap_err();
    assert!(err.to_string().contains("line break"), "{err}");
    let t = Template::parse(&words(&[r"C:\tools\x.exe"]), Words::Line).unwrap();
    assert_eq!(t.mode(), Mode::Direct);
}

#[test]
fn context_replace_repeats_a_word_around_all_values_for_each() {
    let t = Template::parse(&words(&["echo", "pre-{}-post", "{}", "{1}"]), Words::Quoted)
        .unwrap()
        .context_replace(true);
    let out = t.render(&args(&["a", "b"]), 1, 1).unwrap();
    assert_eq!(
        out,
        words(&["echo", "pre-a-post", "pre-b-post", "a", "b", "a"])
    );
}

// POSIX quoting; cmd's is specified in `shell/windows/tests.rs`.
#[cfg(unix)]
#[test]
fn context_replace_in_a_shell_line_repeats_each_word_quoted() {
    let t = Template::parse(&words(&["echo {.}.o x{}y | tr a b"]), Words::Line)
        .unwrap()
        .context_replace(true);
    assert_eq!(t.mode(), Mode::Shell);
    assert_eq!(
        t.text(&args(&["a.c", "b c"]), 1, 1),
        "echo a.o 'b c'.o xa.cy x'b c'y | tr a b"
    );
}
