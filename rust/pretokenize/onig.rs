//! Custom patterns as Oniguruma (HF `tokenizers`' regex engine) means them.
//!
//! A pattern saved in a `tokenizer.json` runs on Oniguruma in HF, whose syntax differs
//! from `fancy-regex` (the `regex` crate's) in three ways [`onig_word_classes`] rewrites
//! before compiling (the pattern the user gave is what gets saved):
//! - Unicode `\w` is Alphabetic | Mark | Decimal_Number | Connector_Punctuation; the `regex`
//!   crate adds Join_Control (U+200C ZWNJ, U+200D ZWJ), so Persian, Indic and emoji ZWJ
//!   text split differently. `\w` and `\W` are spelled out as Oniguruma's set.
//! - POSIX brackets (`[[:alpha:]]`, `[[:^punct:]]`) cover Unicode in Oniguruma, ASCII in
//!   the `regex` crate: each is spelled out as the Unicode set Oniguruma matches.
//! - `^` and `$` are line anchors in Oniguruma (Ruby syntax), text anchors in the `regex`
//!   crate: outside classes they become `(?m:^)` and `(?m:$)`.
//!
//! Not covered: `\b` and `\B` (word boundaries keep the `regex` crate's `\w`).

/// Oniguruma's `\w` inside brackets, written as class items.
const WORD: &str = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}";

/// What Oniguruma's `\w` (and `\p{Word}`) outside brackets matches besides [`WORD`]: the
/// Latin-1 superscript digits and vulgar fractions (² ³ ¹ ¼ ½ ¾; its Latin-1 word table
/// has them, its Unicode class does not). Checked against HF `tokenizers`.
const LATIN1_NUMBERS: &str = r"\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE}";

/// Oniguruma's POSIX brackets for Unicode text (checked against HF `tokenizers` over every
/// code point), as `regex` class items.
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "alnum" => r"\p{Alphabetic}\p{Nd}",
        "alpha" => r"\p{Alphabetic}",
        "ascii" => r"\x00-\x7F",
        "blank" => r"\p{Zs}\t",
        "cntrl" => r"\p{Cc}",
        "digit" => r"\p{Nd}",
        "graph" => r"[^\p{White_Space}\p{Cc}\p{Cn}\p{Cs}]",
        "lower" => r"\p{Lowercase}",
        "print" => r"[^\p{White_Space}\p{Cc}\p{Cn}\p{Cs}]\p{Zs}",
        "punct" => r"\p{P}\p{S}",
        "space" => r"\p{White_Space}",
        "upper" => r"\p{Uppercase}",
        "xdigit" => r"0-9A-Fa-f",
        "word" => WORD,
        _ => return None,
    })
}

/// Whether `rest` (what follows a `\p` or `\P`) names the property Word (`{Word}`, in any
/// case, as Oniguruma reads it).
fn word_property(rest: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let name: String = rest.clone().take("{word}".len()).collect();
    name.eq_ignore_ascii_case("{word}")
}

/// Oniguruma's word set (`negated`: its complement) as Oniguruma reads `\w` (`\W`) at
/// bracket `depth`: outside brackets it also holds [`LATIN1_NUMBERS`].
fn word_class(negated: bool, depth: usize) -> String {
    let not = if negated { "^" } else { "" };
    match depth {
        0 => format!("[{not}{WORD}{LATIN1_NUMBERS}]"),
        _ if negated => format!("[^{WORD}]"),
        _ => WORD.to_string(),
    }
}

/// `pattern` with every `\w` and `\W` (and `\p{Word}`, `\P{Word}`) (outside and inside brackets) replaced by Oniguruma's
/// word set, POSIX brackets by their Unicode sets, and `^`/`$` outside brackets by line
/// anchors. Other escapes and literal `]` are left as written.
pub(crate) fn onig_word_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize; // nesting of [...] classes
    let mut chars = pattern.chars().peekable();
    let mut class_start = false; // just after `[` or `[^`: a `]` here is literal
    while let Some(c) = chars.next() {
        let at_start = std::mem::take(&mut class_start);
        match c {
            '\\' => match chars.next() {
                Some(e @ ('p' | 'P')) if word_property(&chars) => {
                    chars.nth("{word}".len() - 1); // the property's name, read
                    out.push_str(&word_class(e == 'P', depth));
                }
                Some(e @ ('w' | 'W')) => out.push_str(&word_class(e == 'W', depth)),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '[' if depth > 0 && chars.peek() == Some(&':') => {
                // a POSIX class `[:name:]` or `[:^name:]`, through its closing `:]`
                let mut raw = String::from("[");
                let mut prev = '[';
                for d in chars.by_ref() {
                    raw.push(d);
                    if prev == ':' && d == ']' {
                        break;
                    }
                    prev = d;
                }
                let inner = raw.strip_prefix("[:").and_then(|r| r.strip_suffix(":]"));
                let (negated, name) = match inner {
                    Some(n) => n.strip_prefix('^').map_or((false, n), |n| (true, n)),
                    None => (false, ""),
                };
                match posix_class(name) {
                    Some(set) => {
                        out.push_str(&format!("[{}{set}]", if negated { "^" } else { "" }))
                    }
                    None => out.push_str(&raw), // not one of Oniguruma's: the regex says so
                }
            }
            '^' if depth == 0 => out.push_str("(?m:^)"),
            '$' if depth == 0 => out.push_str("(?m:$)"),
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
        let w = format!("[{WORD}{LATIN1_NUMBERS}]");
        assert_eq!(onig_word_classes(r"\w+|\s+"), format!(r"{w}+|\s+"));
        assert_eq!(onig_word_classes(r"[^\w\s]+"), format!(r"[^{WORD}\s]+"));
        assert_eq!(onig_word_classes(r"\W"), format!("[^{WORD}{LATIN1_NUMBERS}]"));
        assert_eq!(
            onig_word_classes(r"\p{Word}[\P{word}]\p{L}"),
            format!(r"{w}[[^{WORD}]]\p{{L}}")
        );
        assert_eq!(onig_word_classes(r"[\W\d]"), format!(r"[[^{WORD}]\d]"));
        // escaped backslashes and literal brackets are left alone
        assert_eq!(onig_word_classes(r"\\w\[\w"), format!(r"\\w\[{w}"));
        // POSIX brackets become Unicode sets; unknown ones are left for the regex to refuse
        assert_eq!(
            onig_word_classes(r"[]\w][[:alpha:]]\w[[:^digit:]x][[:nope:]]"),
            format!(r"[]{WORD}][[\p{{Alphabetic}}]]{w}[[^\p{{Nd}}]x][[:nope:]]")
        );
        // line anchors outside brackets; escaped and bracketed ones are literal
        assert_eq!(onig_word_classes(r"^a|b$|\^|\$|[$^]"), r"(?m:^)a|b(?m:$)|\^|\$|[$^]");
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
