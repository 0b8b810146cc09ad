use proptest::prelude::*;

use super::*;

fn quoted_and_read_back(values: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut line = Vec::new();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        push_quoted(&mut line, value).unwrap();
    }
    read_back(&line)
}

fn quoted(value: &str) -> String {
    let mut out = Vec::new();
    push_quoted(&mut out, value.as_bytes()).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn plain_words_stay_as_they_are() {
    assert_eq!(quoted("a.txt"), "a.txt");
    assert_eq!(quoted(r"C:\data\x-1,2=3"), r"C:\data\x-1,2=3");
    assert_eq!(quoted("100%"), "100%");
}

#[test]
fn spaces_and_cmd_syntax_go_in_quotes() {
    assert_eq!(quoted(""), r#""""#);
    assert_eq!(quoted("my file.txt"), r#""my file.txt""#);
    assert_eq!(quoted("a&b"), r#""a&b""#);
    assert_eq!(quoted(r"a b\"), r#""a b\\""#);
    assert_eq!(quoted(r"a|b\"), r#""a|b\\""#);
}

#[test]
fn quotes_are_escaped_for_cmd_and_the_runtime() {
    assert_eq!(quoted(r#"say "hi""#), r#"^"say \^"hi\^"^""#);
    assert_eq!(quoted(r#"a"&b"#), r#"^"a\^"^&b^""#);
}

#[test]
fn line_breaks_and_nuls_are_refused() {
    for bad in ["a\nb", "a\rb", "a\0b"] {
        let mut out = b"x".to_vec();
        let err = push_quoted(&mut out, bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
        assert_eq!(out, b"x");
    }
}

#[test]
fn examples_read_back_unchanged() {
    let values: [&[u8]; 9] = [
        b"a b",
        b"",
        br#"""#,
        br"\\",
        br#"\""#,
        b"x^y",
        b"(a)<b>|c&d",
        br#"it's "quoted" & \"escaped\"\"#,
        b"tab\there",
    ];
    assert_eq!(quoted_and_read_back(&values), values.map(<[u8]>::to_vec));
}

#[test]
fn the_job_runs_the_script_with_the_line_in_a_variable() {
    let line = "echo \"a&b\" | sort";
    let job = job(line.into()).unwrap();
    let script = PathBuf::from(job.get_program());
    assert_eq!(std::fs::read_to_string(&script).unwrap(), SCRIPT);
    assert!(job.get_args().is_empty());
    assert!(
        job.get_envs()
            .iter()
            .any(|(key, value)| key == LINE_VARIABLE && value.as_deref() == Some(line.as_ref()))
    );
    clean_up();
    assert!(!script.exists());
}

proptest! {
    #[test]
    fn any_values_read_back_unchanged(
        values in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just(b' '), Just(b'\t'), Just(b'"'), Just(b'\\'), Just(b'^'), Just(b'&'),
                    Just(b'|'), Just(b'<'), Just(b'>'), Just(b'('), Just(b')'), Just(b'%'),
                    Just(b'!'), Just(b'a'), Just(b'.'),
                ],
                0..12,
            ),
            1..5,
        )
    ) {
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(quoted_and_read_back(&refs), values);
    }
}
