//! Unit tests of `onig`.

use super::*;

fn rewrite(pattern: &str) -> String {
    onig_to_fancy(pattern).unwrap()
}

/// The pieces `pattern` cuts `text` into (HF `tokenizers`' "isolated" split).
fn pieces(pattern: &str, text: &str) -> Vec<String> {
    let re = fancy_regex::Regex::new(&rewrite(pattern)).unwrap();
    let (mut out, mut last) = (Vec::new(), 0);
    for m in re.find_iter(text) {
        let m = m.unwrap();
        out.extend([&text[last..m.start()], m.as_str()].map(String::from));
        last = m.end();
    }
    out.push(text[last..].to_string());
    out.retain(|p| !p.is_empty());
    out
}

#[test]
fn rewrites_word_classes() {
    let w = format!("[{WORD}{LATIN1_NUMBERS}]");
    assert_eq!(rewrite(r"\w+|\s+"), format!(r"{w}+|\s+"));
    assert_eq!(rewrite(r"[^\w\s]+"), format!(r"[^{WORD}\s]+"));
    assert_eq!(rewrite(r"\W"), format!("[^{WORD}{LATIN1_NUMBERS}]"));
    assert_eq!(rewrite(r"\p{Word}[\P{word}]\p{L}"), format!(r"{w}[[^{WORD}]]\p{{L}}"));
    assert_eq!(rewrite(r"[\W\d]"), format!(r"[[^{WORD}]\d]"));
    // escaped backslashes and literal brackets are left alone
    assert_eq!(rewrite(r"\\w\[\w"), format!(r"\\w\[{w}"));
    // POSIX brackets become Unicode sets; unknown ones are left for the regex to refuse
    assert_eq!(
        rewrite(r"[]\w][[:alpha:]]\w[[:^digit:]x][[:nope:]]"),
        format!(r"[]{WORD}][[\p{{Alphabetic}}]]{w}[[^\p{{Nd}}]x][[:nope:]]")
    );
    // line anchors outside brackets; escaped and bracketed ones are literal
    assert_eq!(rewrite(r"^a|b$|\^|\$|[$^]"), r"(?m:^)(?!\z)a|b(?m:$)|\^|\$|[$^]");
    assert_eq!(pieces(r"a\n^|.", "a\na\n"), ["a\n", "a", "\n"]);
    assert_eq!(rewrite(r"'s|\p{L}+"), r"'s|\p{L}+");
}

#[test]
fn posix_named_properties_and_the_end_anchor() {
    // \p{Graph} etc. are the POSIX sets (soft hyphen, private use: graph there)
    assert_eq!(pieces(r"\p{Graph}+|\s+|.", "a\u{ad}b x\u{e000}y"), ["a\u{ad}b", " ", "x\u{e000}y"]);
    assert_eq!(
        pieces(r"\P{Print}+|\p{^Graph}+|.", "a\u{2028}b c"),
        ["a", "\u{2028}", "b", " ", "c"]
    );
    assert_eq!(pieces(r"\p{XDigit}+|\p{x_digit}|.", "fg0 BEEF"), ["f", "g", "0", " ", "BEEF"]);
    assert_eq!(rewrite(r"[\p{Alpha}]\P{alpha}"), r"[[\p{Alphabetic}]][^\p{Alphabetic}]");
    // ... but \p{Punct} is the category P (the bracket is P and S)
    assert_eq!(rewrite(r"\p{Punct}"), r"\p{Punct}");
    // \Z: the end, or before one final newline
    assert_eq!(pieces(r"\Z", " \n\n"), [" \n", "\n"]);
    assert_eq!(pieces(r"\w+\Z\s*|\w+|\s+", "end\n\n end\n"), ["end", "\n\n ", "end\n"]);
}

#[test]
fn zero_width_joiners_are_not_word_characters() {
    assert_eq!(pieces(r"\w+", "می\u{200c}خواهم"), ["می", "\u{200c}", "خواهم"]);
    // letters, marks, digits and connector punctuation still are
    assert_eq!(pieces(r"\w+", "é_9\u{301}Ⅻ"), ["é_9\u{301}Ⅻ"]);
}

#[test]
fn word_boundaries_use_the_same_word_characters_as_w() {
    // as HF tokenizers cuts them: ² ³ ¹ ¼ ½ ¾ are word characters, ZWJ and ZWNJ are not
    assert_eq!(pieces(r"\b\w+\b|\W+", "x² m² 10½ ¾a"), ["x²", " ", "m²", " ", "10½", " ", "¾a"]);
    assert_eq!(
        pieces(r"\b\w+\b|\W+", "a\u{200d}b\u{200c} c"),
        ["a", "\u{200d}", "b", "\u{200c} ", "c"]
    );
    assert_eq!(pieces(r"\B.|\b.", "ab ²x ½"), ["a", "b", " ", "²", "x", " ", "½"]);
    assert_eq!(pieces(r"\b", "a²b c"), ["a²b", " ", "c"]);
    assert_eq!(pieces(r"\B", "a²b c "), ["a", "²", "b c "]);
    // under (?i) too; inside brackets \b is left as written
    assert_eq!(pieces(r"(?i)\bK\w*", "k² ke"), ["k²", " ", "ke"]);
    assert!(rewrite(r"(?i)\b").starts_with("(?i:(?-i:(?:(?<="));
    assert_eq!(rewrite(r"\\b[\b]\b{x}"), format!(r"\\b[\b]{}\{{x\}}", word_boundary(false)));
    // patterns without them are as they were
    assert_eq!(rewrite(r"\s+(?!\S)|\s+"), r"\s+(?!\S)|\s+");
}

#[test]
fn a_quantifier_after_a_quantifier_repeats_it() {
    assert_eq!(rewrite(r"\p{N}{1,3}+|\d{2}+"), r"(?:\p{N}{1,3})+|(?:\d{2})+");
    assert_eq!(rewrite(r"(ab){1}+[ab]{2,}+\x61{,2}+"), r"(?:(ab){1})+(?:[ab]{2,})+(?:\x61{,2})+");
    assert_eq!(rewrite(r"a{2}?b{2,3}?c{2}{3}"), r"(?:a{2})?b{2,3}?(?:c{2}){3}");
    // lazy and possessive modifiers stay; braces that are no interval are escaped text
    assert_eq!(rewrite(r"a++b*?c?+d{x}e{"), r"a++b*?c?+d\{x\}e\{");
    // pieces as HF tokenizers cuts them
    assert_eq!(pieces(r"\p{N}{1,3}+|\p{L}+|\s+|.", "call 12345678"), ["call", " ", "12345678"]);
    assert_eq!(pieces(r"\d{2}+|.", "12345"), ["1234", "5"]);
    assert_eq!(pieces(r"a{2}?", "aaa a"), ["aa", "a", " ", "a"]);
    assert_eq!(pieces(r"a{2}{2}|.", "aaaaa"), ["aaaa", "a"]);
}

#[test]
fn flags_mean_what_they_mean_in_ruby() {
    assert_eq!(rewrite(r"(?m).(?im:.)(?i-m).|x"), r"(?s:.(?is:.)(?i-s:.|x))");
    assert_eq!(rewrite(r"a(?i)b|c"), r"a(?i:b|c)");
    assert_eq!(rewrite(r"(x(?i)y|z)+"), r"(x(?i:y|z))+");
    assert_eq!(pieces(r"(?m)\S.{0,3}|\s+", "ab\ncd"), ["ab\nc", "d"]);
    assert_eq!(pieces(r"a(?i)b|c", "ac c aB"), ["ac", " c ", "aB"]);
    // properties and \w are not case-folded outside brackets, are inside
    let cyrillic = r"[\p{Lu}&&\p{Cyrillic}]"; // no capital that folds to several
    assert_eq!(
        rewrite(&format!(r"(?i)\p{{Lu}}{cyrillic}")),
        format!(r"(?i:(?-i:\p{{Lu}}){cyrillic})")
    );
    assert_eq!(pieces(r"(?i)\p{Lu}+|\p{Ll}+|.", "HEllo"), ["HE", "llo"]);
    assert_eq!(pieces(&format!(r"(?i){cyrillic}+|."), "ПРивет"), ["ПРивет"]);
    // extended mode: spaces and comments are no atoms, comments no groups
    assert_eq!(pieces("(?x) a {2}+ # (\n|.", "aaaaa"), ["aaaa", "a"]);
    assert_eq!(pieces(r"(?#(a)a|.", "ab"), ["a", "b"]);
    assert_eq!(rewrite("(?x)a # b"), "(?x:a # b\n)");
}

#[test]
fn refuses_what_hf_reads_otherwise() {
    for (pattern, named) in [
        (r"(?s).", "\"s\""),
        (r"(?U)\w+", "\"U\""),
        (r"(?P<w>\w+)", "\"P\""),
        (r"(?R)", "\"R\""),
        (r"(?)", "(?)"),
        (r"(?|a)", "(?|"),
        (r"\u{61}", r"\u{61"),
        (r"\U0001F600", r"\U"),
        (r"\pL+", r"\pL"),
        (r"\PL", r"\PL"),
        (r"\xE9", r"\xE9"),
        (r"[\xdf]", r"\xdf"),
        (r"[a-z--aeiou]", "--"),
        (r"[a-z~~aeiou]", "~~"),
        (r"(?i:ß)", "ß"),
        (r"(?i)[\x{DF}]", "ß"),
        (r"(?i)\u0130", "İ"),
        (r"(?i)ﬁ", "ﬁ"),
        (r"(?i)[\x{1E00}-\x{1EFF}]", "ẞ"),
        (r"(?i:[a-zß-ÿ])", "ß"),
        // classes that hold such a character, inside brackets that are not negated
        (r"(?i)[[:alpha:]]", "'ß'"),
        (r"(?i)[\w]", "'ß'"),
        (r"(?i)[x\p{Ll}]", "'ß'"),
        (r"(?i)[\p{Lu}]", "'İ'"),
        (r"(?i)[a[^\d]]", "'ß'"),
        // a negated class nested in another: complemented before folding there
        (r"(?i)[a[^b-z]]", "[^b-z] inside another class"),
        // a repeated word boundary: HF cannot load it
        (r"\b+", r"\b"),
        (r"x\B{1,2}", r"\B"),
    ] {
        let e = onig_to_fancy(pattern).unwrap_err();
        assert!(e.contains(named), "{pattern}: {e}");
    }
    // fine outside (?i), and where a range merely covers ß (Oniguruma does not fold it)
    assert_eq!(rewrite(r"ß(?i:[à-ÿ\x00-\x7F])"), r"ß(?i:[à-ÿ\x00-\x7F])");
    // negated classes do not match the foldings into several; nor do classes without
    // such characters, nested negated classes whose items are closed under case
    for fine in
        [r"(?i)[^\p{L}]", r"(?i)[^\s\p{L}\p{N}]", r"(?i)[[:digit:]\p{Han}]", r"(?i)[^a[^\d]]"]
    {
        assert!(onig_to_fancy(fine).is_ok(), "{fine}");
    }
    assert!(onig_to_fancy(r"[\p{L}][a[^b-z]]").is_ok()); // without (?i)
    assert_eq!(rewrite(r"[a-z&&[^aeiou]]\x7F\u00DF"), r"[a-z&&[^aeiou]]\x7F\u00DF");
}

#[test]
fn refuses_literal_rows_that_spell_a_multi_character_folding_under_ignore_case() {
    // HF matches `ß` with (?i)ss, `ﬁ` with (?i)fi, `ﬆ` with (?i)st, `ᾳ` with (?i)αι, also
    // through a plain group, escapes and x-mode spaces
    for (pattern, spelled) in [
        ("(?i)ss", "\"ss\""),
        ("(?i)fi", "\"fi\""),
        ("(?i:st)", "\"st\""),
        ("(?i)αι", "\"αι\""),
        ("(?i)s(?:s)", "\"ss\""),
        ("(?i)f(?:i)", "\"fi\""),
        (r"(?i)\x73s", "\"ss\""),
        ("(?ix) s s ", "\"ss\""),
        ("(?i)stx?", "\"st\""),
        ("(?i)class", "\"ss\""), // (a longer row: Oniguruma's choice varies, refused)
    ] {
        let e = onig_to_fancy(pattern).unwrap_err();
        assert!(e.contains(spelled) && e.contains("(?i:"), "{pattern}: {e}");
    }
    // rows broken where Oniguruma breaks them (a quantifier, a class, an alternative, a
    // flag group), rows outside (?i), and Llama 3's contractions: the same as HF
    for fine in [
        "(?i)ss+",
        "(?i)s+s",
        "(?i)s{2}",
        "(?i)[s]s",
        "(?i)s|s",
        "(?i)(?:s|x)s",
        "(?i:s)(?i:s)",
        "s(?i)s",
        "ss",
        r"(?i)s\s",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    ] {
        assert!(onig_to_fancy(fine).is_ok(), "{fine}");
    }
}

#[test]
fn braces_that_are_no_interval_are_text() {
    // Oniguruma reads `{,}`, `{ 2}`, `{a}` as text; `fancy-regex` read `a{,}` as `a*`
    assert_eq!(rewrite(r"a{,}|."), r"a\{,\}|.");
    assert_eq!(pieces(r"a{,}|.", "aa{,}"), ["a", "a{,}"]);
    assert_eq!(pieces(r"x{ 2}|\{|.", "x{ 2}xx"), ["x{ 2}", "x", "x"]);
    assert_eq!(pieces(r"\}+|.", "a}}"), ["a", "}}"]);
    // intervals still are, `{,m}` included
    assert_eq!(pieces(r"x{,2}|.", "xxx"), ["xx", "x"]);
    assert_eq!(pieces(r"x{2}|.", "xxx"), ["xx", "x"]);
}

#[test]
fn an_interval_written_high_to_low_is_a_possessive_one() {
    // Ruby syntax: `x{3,1}` is `x{1,3}`, possessive
    assert_eq!(rewrite(r"x{3,1}|."), r"(?>(?:x){1,3})|.");
    assert_eq!(pieces(r"x{3,1}|.", "xx xxx"), ["xx", " ", "xxx"]);
    // possessive: gives nothing back to what follows (`x{1,3}x` would match "xx")
    assert_eq!(pieces(r"x{3,1}x|.", "xx"), ["x", "x"]);
    // a quantifier after it repeats it
    assert_eq!(pieces(r"x{2,1}+|.", "xxxxx y"), ["xxxxx", " ", "y"]);
}

#[test]
fn loops_whose_body_can_match_nothing_between_choices_are_refused() {
    for p in [
        r"(?:a?|b)*",
        r"(?: ?\p{L}*|\p{N})+",
        r"(?:\s*|x)+",
        r"(?:(?:a?|b)c?)*",
        r"(?:a??b)*c|(?:a??b?)+",
    ] {
        let why = onig_to_fancy(p).unwrap_err();
        assert!(
            why.contains("ends such a loop at an iteration that matches nothing"),
            "{p}: {why}"
        );
    }
    // bodies that always consume, optional groups, and greedy bodies without a choice pass
    for p in
        [r"(?:a|b)*", r"(?:a?|b)?", r"(?:a?b?)*", r"(?:\s*x)+", r"\p{L}+|(?:ab|c)+", r"(?:a|b?){1}"]
    {
        assert!(onig_to_fancy(p).is_ok(), "{p}");
    }
}

#[test]
fn octal_escapes() {
    // `\0` and up to two octal digits more: a character; `\NN...` is refused by name
    assert_eq!(rewrite(r"\0|\012+|[\00-\07]|\08"), r"\x{0}|\x{A}+|[\x{0}-\x{7}]|\x{0}8");
    assert_eq!(pieces(r"\012+|.", "a\n\nb"), ["a", "\n\n", "b"]);
    assert!(onig_to_fancy(r"\101").unwrap_err().contains(r"\x{41}"));
    assert!(onig_to_fancy(r"(a)\1").is_ok()); // one digit: a back reference
}

#[test]
fn control_escapes_and_angle_brackets() {
    // `\<` and `\>` are the characters there (word boundaries in fancy-regex)
    assert_eq!(pieces(r"\<\w+\>|.", "a <bc> d"), ["a", " ", "<bc>", " ", "d"]);
    // `\cX`, `\C-X`: control characters (`\c?` is DEL)
    assert_eq!(rewrite(r"\cA\ca\C-a\c?[\c@-\cZ]"), r"\x{1}\x{1}\x{1}\x{7F}[\x{0}-\x{1A}]");
    assert_eq!(pieces(r"\ca+|.", "x\u{1}\u{1}"), ["x", "\u{1}\u{1}"]);
    assert!(onig_to_fancy(r"\Ca").unwrap_err().contains("without a hyphen"));
    assert!(onig_to_fancy(r"\cé").unwrap_err().contains("ASCII"));
    assert_eq!(pieces(r"\c\\+|.", "a\u{1c}\u{1c}"), ["a", "\u{1c}\u{1c}"]);
}
