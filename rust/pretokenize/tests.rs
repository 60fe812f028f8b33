//! The hand-compiled scanners must cut every text exactly where `fancy-regex` (tiktoken's
//! engine) cuts it with the original pattern. Random texts are drawn from an alphabet that
//! hits every character class and every boundary the patterns care about.

use super::*;
use proptest::prelude::*;

/// Characters chosen to exercise each alternative: contractions (with case and `ſ`),
/// ASCII and Unicode letters of each case category, marks, numbers of each kind, every
/// kind of white space, newlines, slashes, punctuation, emoji, CJK.
const ALPHABET: &[char] = &[
    'a', 'b', 's', 't', 'l', 'v', 'e', 'r', 'd', 'm', 'S', 'T', 'L', 'V', 'E', 'R', 'D', 'M', 'ſ',
    'K', '\u{212A}', 'é', 'É', 'ß', 'ǅ', 'ʰ', 'ا', '中', '文', 'Ω', 'ω', '\u{301}', '\u{300}',
    '\u{20DD}', '0', '7', '٣', '²', 'Ⅻ', '½', ' ', ' ', ' ', '\t', '\n', '\n', '\r', '\u{b}',
    '\u{c}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}', '\'', '\'', '/', '.', ',', '!', '?', '-',
    '"', '😀', '\u{200d}', '\u{feff}',
];

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..40)
        .prop_map(|cs| cs.into_iter().collect())
}

fn oracle(pattern: &str, text: &str) -> Vec<String> {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, fancy_regex::Regex>> =
            Default::default();
    }
    let re = CACHE.with(|c| {
        c.borrow_mut()
            .entry(pattern.to_string())
            .or_insert_with(|| fancy_regex::Regex::new(pattern).expect("preset pattern compiles"))
            .clone()
    });
    let mut out = Vec::new();
    let mut last = 0;
    for m in re.find_iter(text) {
        let m = m.expect("no backtrack limit on short text");
        assert_eq!(m.start(), last, "preset pattern skipped text in {text:?}");
        out.push(m.as_str().to_string());
        last = m.end();
    }
    assert_eq!(last, text.len(), "preset pattern left a tail in {text:?}");
    out
}

fn ours(preset: &str, text: &str) -> Vec<String> {
    let p = Pretokenizer::new(preset).unwrap();
    assert!(p.preset().is_some());
    p.pieces(text).unwrap().into_iter().map(String::from).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn gpt2_matches_regex(text in text_strategy()) {
        prop_assert_eq!(ours("gpt2", &text), oracle(GPT2_PATTERN, &text));
        prop_assert_eq!(oracle(GPT2_PATTERN_TIKTOKEN, &text), oracle(GPT2_PATTERN, &text));
    }

    #[test]
    fn cl100k_matches_regex(text in text_strategy()) {
        prop_assert_eq!(ours("cl100k", &text), oracle(CL100K_PATTERN, &text));
        prop_assert_eq!(oracle(CL100K_PATTERN_ONIG, &text), oracle(CL100K_PATTERN, &text));
    }

    #[test]
    fn o200k_matches_regex(text in text_strategy()) {
        prop_assert_eq!(ours("o200k", &text), oracle(O200K_PATTERN, &text));
    }

    #[test]
    fn llama3_and_qwen2_match_their_regexes(text in text_strategy()) {
        // the regex path these patterns took before their scanner (`(?:...)` defeats the
        // recognition): the pieces must not change
        for pattern in [LLAMA3_PATTERN, QWEN2_PATTERN] {
            let scanner = Pretokenizer::new(pattern).unwrap();
            let regex = Pretokenizer::new(&format!("(?:{pattern})")).unwrap();
            let on_the_engine = matches!(regex, Pretokenizer::Regex { .. });
            prop_assert!(on_the_engine);
            prop_assert_eq!(scanner.pieces(&text).unwrap(), regex.pieces(&text).unwrap());
            prop_assert_eq!(scanner.pieces(&text).unwrap(), oracle(pattern, &text));
        }
    }

    #[test]
    fn user_regex_keeps_unmatched_text(text in text_strategy()) {
        let p = Pretokenizer::new(r"\p{L}+").unwrap();
        let pieces = p.pieces(&text).unwrap();
        prop_assert_eq!(pieces.concat(), text.clone());
        prop_assert!(pieces.iter().all(|p| !p.is_empty()));
    }
}

#[test]
fn known_splits() {
    assert_eq!(ours("gpt2", "Hello world's  end\n"), ["Hello", " world", "'s", " ", " end", "\n"]);
    assert_eq!(
        ours("cl100k", "I'VE 12345 .Hi\n\n  x"),
        ["I", "'VE", " ", "123", "45", " .", "Hi", "\n\n", " ", " x"]
    );
    assert_eq!(ours("o200k", "HELLOworld's CamelCase"), ["HELLOworld's", " Camel", "Case"]);
}

#[test]
fn presets_by_name_and_by_pattern() {
    for (name, pattern) in PRESETS {
        let a = Pretokenizer::new(name).unwrap();
        let b = Pretokenizer::new(pattern).unwrap();
        assert_eq!(a.preset(), b.preset());
        assert_eq!(a.pattern(), *pattern);
    }
    assert_eq!(Pretokenizer::new(GPT2_PATTERN_TIKTOKEN).unwrap().preset(), Some("gpt2"));
    // tiktoken's cl100k spelling as a regex means what it means in HF: `{1,3}+` repeats
    let spelled = Pretokenizer::new(CL100K_PATTERN).unwrap();
    assert_eq!(spelled.preset(), None);
    let pieces = |p: &Pretokenizer| {
        let mut out = Vec::new();
        p.split("12345678", |a, b| out.push((a, b))).unwrap();
        out
    };
    assert_eq!(pieces(&spelled), [(0, 8)]);
    assert_eq!(pieces(&Pretokenizer::new("cl100k").unwrap()), [(0, 3), (3, 6), (6, 8)]);
}

#[test]
fn bad_patterns_are_errors() {
    assert!(matches!(Pretokenizer::new("("), Err(Error::Pattern(_))));
    assert!(matches!(Pretokenizer::new(""), Err(Error::Pattern(_))));
}

#[test]
fn long_runs_are_linear() {
    // 1 M identical characters, and 1 M upper-case letters that o200k must backtrack over.
    let text = "a".repeat(1_000_000);
    for preset in ["gpt2", "cl100k", "o200k"] {
        assert_eq!(ours(preset, &text).len(), 1);
    }
    let text = "A".repeat(1_000_000) + ".";
    assert_eq!(ours("o200k", &text).len(), 2);
    let text = " ".repeat(1_000_000) + "x";
    assert_eq!(ours("cl100k", &text).len(), 2);
}

#[test]
fn llama3_and_qwen2_take_long_space_runs() {
    // on fancy-regex, `\s+(?!\S)` overflowed its backtracking stack at about a million
    // spaces (PatternError), where HF encodes the text
    let text = " ".repeat(2_000_000) + "x 12345\n \n ";
    for (pattern, pieces) in [(LLAMA3_PATTERN, 7), (QWEN2_PATTERN, 10)] {
        let p = Pretokenizer::new(pattern).unwrap();
        assert_eq!(p.preset(), None); // read and saved as the regex it is
        assert_eq!(p.pattern(), pattern);
        let got = p.pieces(&text).unwrap();
        assert_eq!(got[0].len(), 1_999_999);
        assert_eq!(got.len(), pieces, "{:?}", &got[1..]);
        assert_eq!(got.last(), Some(&" ")); // `\s*[\r\n]+` ends at the last line break
    }
    // the regex path still fails there: what the scanner is for
    let regex = Pretokenizer::new(&format!("(?:{LLAMA3_PATTERN})")).unwrap();
    assert!(matches!(regex.pieces(&text), Err(Error::Pattern(_))));
}
