//! `\w` as Oniguruma (HF `tokenizers`' regex engine) means it, for custom patterns.
//!
//! A pattern saved in a `tokenizer.json` runs on Oniguruma in HF, where Unicode `\w` is
//! Alphabetic | Mark | Decimal_Number | Connector_Punctuation. `fancy-regex` (the `regex`
//! crate's classes) adds Join_Control (U+200C ZWNJ, U+200D ZWJ), so Persian, Indic and emoji
//! ZWJ text split differently. [`onig_word_classes`] spells `\w` and `\W` out as Oniguruma's
//! set before compiling; the pattern the user gave is what gets saved. Not covered: `\b` and
//! `\B` (word boundaries keep the `regex` crate's `\w`).

/// Oniguruma's `\w`, written as class items.
const WORD: &str = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}";

/// `pattern` with every `\w` and `\W` (outside and inside brackets) replaced by Oniguruma's
/// word set. Other escapes, POSIX classes (`[:alpha:]`) and literal `]` are left as written.
pub(crate) fn onig_word_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize; // nesting of [...] classes
    let mut chars = pattern.chars().peekable();
    let mut class_start = false; // just after `[` or `[^`: a `]` here is literal
    while let Some(c) = chars.next() {
        let at_start = std::mem::take(&mut class_start);
        match c {
            '\\' => match chars.next() {
                Some('w') if depth == 0 => out.push_str(&format!("[{WORD}]")),
                Some('W') if depth == 0 => out.push_str(&format!("[^{WORD}]")),
                Some('w') => out.push_str(WORD),
                Some('W') => out.push_str(&format!("[^{WORD}]")),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if depth > 0 && chars.peek() == Some(&':') => {
                // a POSIX class `[:name:]`: copy it through its closing `:]`
                out.push('[');
                let mut prev = '[';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == ':' && d == ']' {
                        break;
                    }
                    prev = d;
                }
            }
            '[' => {
                depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                class_start = true;
            }
            ']' if depth > 0 && !at_start => {
                depth -= 1;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_word_classes_only() {
        let w = format!("[{WORD}]");
        assert_eq!(onig_word_classes(r"\w+|\s+"), format!(r"{w}+|\s+"));
        assert_eq!(onig_word_classes(r"[^\w\s]+"), format!(r"[^{WORD}\s]+"));
        assert_eq!(onig_word_classes(r"\W"), format!("[^{WORD}]"));
        assert_eq!(onig_word_classes(r"[\W\d]"), format!(r"[[^{WORD}]\d]"));
        // escaped backslashes, literal brackets and POSIX classes are left alone
        assert_eq!(onig_word_classes(r"\\w\[\w"), format!(r"\\w\[{w}"));
        assert_eq!(onig_word_classes(r"[]\w][[:alpha:]]\w"), format!(r"[]{WORD}][[:alpha:]]{w}"));
        assert_eq!(onig_word_classes(r"'s|\p{L}+"), r"'s|\p{L}+");
    }

    #[test]
    fn zero_width_joiners_are_not_word_characters() {
        let re = fancy_regex::Regex::new(&onig_word_classes(r"\w+")).unwrap();
        let text = "می\u{200c}خواهم";
        let words: Vec<&str> = re.find_iter(text).map(|m| m.unwrap().as_str()).collect();
        assert_eq!(words, ["می", "خواهم"]);
        // letters, marks, digits and connector punctuation still are
        let m = re.find("é_9\u{301}Ⅻ").unwrap().unwrap();
        assert_eq!(m.as_str(), "é_9\u{301}Ⅻ");
    }
}
