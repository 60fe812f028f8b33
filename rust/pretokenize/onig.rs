//! Custom patterns as Oniguruma (HF `tokenizers`' regex engine, Ruby syntax) means them.
//!
//! A pattern saved in a `tokenizer.json` runs on Oniguruma in HF. lexforge compiles it with
//! `fancy-regex` after [`onig_to_fancy`] rewrites what the two engines read differently (the
//! pattern the user gave is what gets saved):
//! - Unicode `\w` is Alphabetic | Mark | Decimal_Number | Connector_Punctuation; the `regex`
//!   crate adds Join_Control (U+200C ZWNJ, U+200D ZWJ), so Persian, Indic and emoji ZWJ
//!   text split differently. `\w` and `\W` are spelled out as Oniguruma's set.
//! - POSIX brackets (`[[:alpha:]]`, `[[:^punct:]]`) cover Unicode in Oniguruma, ASCII in
//!   the `regex` crate: each is spelled out as the Unicode set Oniguruma matches.
//! - `^` and `$` are line anchors in Oniguruma, text anchors in the `regex` crate: outside
//!   classes they become `(?m:^)(?!\z)` (no line starts after a final newline there) and
//!   `(?m:$)`.
//! - The flag `m` makes `.` match newlines (the `regex` crate's `s`), and a flag group in the
//!   middle of a group covers the rest of it, alternatives included (`a(?i)b|c` is
//!   `a(?i:b|c)`).
//! - A quantifier after a quantifier repeats it: `X{n,m}+` is `(?:X{n,m})+` (not
//!   possessive), `X{n}?` is `(?:X{n})?`, `a{2}{3}` is `(?:a{2}){3}`.
//! - `(?i)` does not case-fold `\p{..}`, `\P{..}`, `\w`, `\W` outside brackets.
//! - The properties named like POSIX brackets (`\p{Graph}`, `\p{Print}`, `\p{XDigit}`...;
//!   Oniguruma ignores case, spaces, `_` and `-` in the name, and `\p{^Name}` negates) are
//!   its POSIX sets, spelled out as the brackets are; except `\p{Punct}`, the category P
//!   (`[[:punct:]]` is P and S).
//! - `\Z` is the end of the text or before a final newline (one, not several).
//! - `\b` and `\B` outside brackets are word boundaries (and their absence) over the same
//!   word characters as `\w`, spelled as lookarounds.
//! - Braces that are no interval (`a{,}`, `x{ 2}`) are text (`fancy-regex` read `a{,}` as
//!   `a*`); `X{n,m}` written with n > m is a possessive `X{m,n}` (Ruby syntax); `\0` and up
//!   to two octal digits more are a character; so are `\cX` and `\C-X` (control
//!   characters), and `\<`, `\>` (the characters; word boundaries in `fancy-regex`).
//!
//! Refused, with a message naming the construct, where no rewrite is exact: flags other
//! than `i`, `m`, `x` (`(?s)`, `(?U)`, `(?P<name>`, `(?R)`: HF cannot load the file);
//! `\u{..}` and `\U` (the letter U there); `\pL` without braces (the letters "pL" there);
//! `\xHH` above 7F (one byte there); `--` and `~~` inside brackets (hyphens and tildes
//! there, set operations here); and under `(?i)` a character whose case folding is several
//! characters (`ß` also matches "ss" there), written as a literal, in a range, or in a class
//! inside brackets that are not negated (`[[:alpha:]]`, `[\p{L}]`, `[\w]` all hold `ß`);
//! under `(?i)` a row of literal letters that spells such a folding (`ss`, `fi`, `st`,
//! also through a plain group: `s(?:s)`), which Oniguruma may let match `ß`, `ﬁ`, `ﬆ`;
//! and under `(?i)` a negated class nested in another whose items lack a case variant of
//! something they hold (`[a[^b-z]]`: Oniguruma complements before folding, so `B`-`Z` and
//! then `b`-`z` are in it); `\NN..` of two or more digits (a back reference or an octal
//! character there, by the count of groups); and a loop whose body can match the empty text
//! and holds a choice (`(?:a?|b)*`: Oniguruma ends it at an iteration that matches nothing,
//! the `regex` crate goes on to the next choice).

/// Oniguruma's `\w` inside brackets, written as class items.
const WORD: &str = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}";

/// What Oniguruma's `\w` (and `\p{Word}`) outside brackets matches besides [`WORD`]: the
/// Latin-1 superscript digits and vulgar fractions (² ³ ¹ ¼ ½ ¾; its Latin-1 word table
/// has them, its Unicode class does not). Checked against HF `tokenizers`.
const LATIN1_NUMBERS: &str = r"\x{B2}\x{B3}\x{B9}\x{BC}-\x{BE}";

/// The engine the messages name.
const HF: &str = "HF tokenizers' regex engine (Oniguruma)";

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

/// Oniguruma's `\b` (`\B` when `negated`) outside brackets: a place with a word character
/// on one side only (on both sides or neither), words being what its `\w` matches there.
/// Spelled as lookarounds over [`word_class`], since the `regex` crate's boundaries use its
/// own `\w` (with ZWJ and ZWNJ, without ² ³ ¹ ¼ ½ ¾). Patterns without `\b` are untouched.
fn word_boundary(negated: bool) -> String {
    let w = word_class(false, 0);
    if negated {
        format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))")
    } else {
        format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))")
    }
}

/// Whether Unicode folds `c` to several characters (`ß` to "ss", `ﬁ` to "fi", `İ` to "i̇"):
/// the characters whose upper or lower case is several, and capital sharp s.
fn folds_to_several(c: char) -> bool {
    c.to_uppercase().nth(1).is_some() || c.to_lowercase().nth(1).is_some() || c == '\u{1E9E}'
}

/// Every character [`folds_to_several`] (a hundred or so), computed once.
fn multi_folds() -> &'static [char] {
    static FOLDS: std::sync::OnceLock<Vec<char>> = std::sync::OnceLock::new();
    FOLDS.get_or_init(|| {
        (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|&c| folds_to_several(c))
            .collect()
    })
}

/// The first character that folds to several (see [`folds_to_several`]) in the class whose
/// items (as `fancy-regex` reads them, no flags) are `items`; `None` if there is none or the
/// class does not compile (the whole pattern's compilation then says why).
fn multi_fold_in(items: &str) -> Option<char> {
    let class = fancy_regex::Regex::new(&format!("^[{items}]$")).ok()?;
    multi_folds()
        .iter()
        .copied()
        .find(|c| class.is_match(c.encode_utf8(&mut [0; 4])).unwrap_or(false))
}

/// The full case folding of `c`, as Unicode's upper then lower case reach it (`ß` and `ẞ`
/// give "ss", `ﬁ` "fi", `S` and `ſ` "s").
fn full_fold(c: char) -> String {
    let mut folded: String = c.to_uppercase().flat_map(char::to_lowercase).collect();
    loop {
        let again: String =
            folded.chars().flat_map(char::to_uppercase).flat_map(char::to_lowercase).collect();
        if again == folded {
            return folded;
        }
        folded = again;
    }
}

/// Each character that folds to several, with the characters it folds to.
fn multi_fold_strings() -> &'static [(char, String)] {
    static FOLDS: std::sync::OnceLock<Vec<(char, String)>> = std::sync::OnceLock::new();
    FOLDS.get_or_init(|| {
        multi_folds()
            .iter()
            .map(|&c| (c, full_fold(c)))
            .filter(|(_, f)| f.chars().nth(1).is_some())
            .collect()
    })
}

/// Every character with another case (`a`, `A`, `ſ`, `K` the Kelvin sign), computed once.
fn cased() -> &'static [char] {
    static CASED: std::sync::OnceLock<Vec<char>> = std::sync::OnceLock::new();
    CASED.get_or_init(|| {
        let other = |c: char| c.to_lowercase().ne([c]) || c.to_uppercase().ne([c]);
        (0..=u32::from(char::MAX)).filter_map(char::from_u32).filter(|&c| other(c)).collect()
    })
}

/// A character the class `[{items}]` holds without holding all its case variants (`a-z`
/// holds `a`, not `A`): the class is not the same set under `(?i)`. `None` if there is none
/// or the class does not compile.
fn case_open_in(items: &str) -> Option<char> {
    let plain = fancy_regex::Regex::new(&format!("^[{items}]$")).ok()?;
    let folded = fancy_regex::Regex::new(&format!("(?i)^[{items}]$")).ok()?;
    cased().iter().copied().find(|c| {
        let c = c.encode_utf8(&mut [0; 4]).to_string();
        plain.is_match(&c).unwrap_or(false) != folded.is_match(&c).unwrap_or(false)
    })
}

/// The POSIX set a property name stands for in Oniguruma (`Graph`, `x_digit`, `Print`):
/// case, spaces, `_` and `-` ignored; and whether it is `Word`. Not `Punct`: the property
/// is the category P there, the bracket P and S.
fn posix_property(name: &str) -> Option<(&'static str, bool)> {
    let key: String = name
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    if key == "punct" {
        return None;
    }
    Some((posix_class(&key)?, key == "word"))
}

/// The character a literal escape (`\x{DF}`, `\xDF`, `\u00DF`, `\.`) stands for.
fn escaped_char(text: &str) -> Option<char> {
    let body = text.strip_prefix('\\')?;
    let hex = body
        .strip_prefix("x{")
        .and_then(|h| h.strip_suffix('}'))
        .or_else(|| body.strip_prefix('x'))
        .or_else(|| body.strip_prefix('u'));
    match hex {
        Some(h) => u32::from_str_radix(h, 16).ok().and_then(char::from_u32),
        None => body.chars().next().filter(|c| !c.is_ascii_alphanumeric()),
    }
}

/// Flags in effect: case-insensitive (`i`) and extended (`x`).
#[derive(Clone, Copy, Default)]
struct Flags {
    fold: bool,
    extended: bool,
}

/// An open group: where it starts in the output, the flags outside it, and how many groups
/// opened by flag groups in its middle (`a(?i)b` becomes `a(?i:b`) close with it.
struct Group {
    start: usize,
    outer: Flags,
    flag_groups: usize,
}

/// The rewrite, one pass over the pattern.
struct Rewriter {
    src: Vec<char>,
    at: usize,
    out: String,
    flags: Flags,
    /// Open groups; the first is the whole pattern.
    groups: Vec<Group>,
    /// Nesting of `[...]` classes.
    depth: usize,
    /// The open classes, outermost first: where each starts in `out` and in the pattern,
    /// and whether it is negated (`[^...]`).
    brackets: Vec<(usize, usize, bool)>,
    /// Just after `[` or `[^`: a `]` here is literal.
    class_start: bool,
    /// Inside brackets: the last literal character, and whether a `-` after it makes it
    /// the start of a range.
    range_from: Option<char>,
    in_range: bool,
    /// Where in `out` the last thing a quantifier would repeat starts.
    atom: Option<usize>,
    /// Whether that atom already carries a quantifier.
    quantified: bool,
    /// Under `(?i)`, outside brackets: the literal characters written in a row so far (one
    /// string to Oniguruma, which lets it match a character whose case folding it spells:
    /// "ss" matches `ß`), and how many literals were written in all.
    run: Vec<char>,
    literals: usize,
}

/// An interval quantifier as `fancy-regex` writes it.
enum Interval {
    /// `{n}`, `{n,}`, `{n,m}` (n <= m), `{,m}`; and whether it is exact (`{n}`).
    Plain(String, bool),
    /// `{n,m}` written with n > m, as `{m,n}`: possessive to Oniguruma.
    Swapped(String),
}

/// `pattern` (Oniguruma, Ruby syntax) rewritten for `fancy-regex` to match the same text, or
/// why it cannot be (a message naming the construct and what to write instead).
pub(crate) fn onig_to_fancy(pattern: &str) -> std::result::Result<String, String> {
    let mut r = Rewriter {
        src: pattern.chars().collect(),
        at: 0,
        out: String::with_capacity(pattern.len()),
        flags: Flags::default(),
        groups: vec![Group { start: 0, outer: Flags::default(), flag_groups: 0 }],
        depth: 0,
        brackets: Vec::new(),
        class_start: false,
        range_from: None,
        in_range: false,
        atom: None,
        quantified: false,
        run: Vec::new(),
        literals: 0,
    };
    while let Some(c) = r.next() {
        if r.depth > 0 {
            r.class_char(c)?;
        } else {
            r.top_char(c)?;
        }
    }
    r.end_run()?;
    let flag_groups = r.groups.first().map_or(0, |g| g.flag_groups);
    r.out.push_str(&")".repeat(flag_groups));
    if let Ok(tree) = fancy_regex::Expr::parse_tree(&r.out) {
        // (one that does not parse is refused as the regex is compiled, with its error)
        if let Some(why) = empty_iteration(&tree.expr) {
            return Err(why);
        }
    }
    Ok(r.out)
}

/// Why a repetition in `e` would match other text than in Oniguruma, if one would: a loop
/// whose body can match the empty text and holds a choice (an alternation or a lazy
/// quantifier). Oniguruma, a backtracking engine, ends the loop at an iteration that
/// matches nothing (`(?:a?|b)*` takes "aa" of "aab", as `a?` matches nothing at `b`);
/// `fancy-regex` hands such a pattern to the `regex` crate, which takes the next choice
/// and goes on ("aab"). Refused, conservatively: a greedy body without choices (`(?:a?b?)*`)
/// matches alike in both.
fn empty_iteration(e: &fancy_regex::Expr) -> Option<String> {
    use fancy_regex::Expr;
    if let Expr::Repeat { child, hi, .. } = e {
        if *hi > 1 && nullable(child) && has_choice(child) {
            return Some(
                "repeats a group that can match the empty text and holds alternatives or a lazy quantifier (as (?:a?|b)* does): HF tokenizers' regex engine (Oniguruma) ends such a loop at an iteration that matches nothing, which lexforge's engine does not; write the loop so that every iteration matches at least one character (e.g. (?:a|b)* for (?:a?|b)*)".to_string(),
            );
        }
    }
    e.children_iter().find_map(empty_iteration)
}

/// Whether `e` can match the empty text (unknown constructs: yes).
fn nullable(e: &fancy_regex::Expr) -> bool {
    use fancy_regex::Expr;
    match e {
        Expr::Any { .. }
        | Expr::GeneralNewline { .. }
        | Expr::LiteralBytes { .. }
        | Expr::Delegate { .. } => false,
        Expr::Literal { val, .. } => val.is_empty(),
        Expr::LookAround(..) => true,
        Expr::Concat(items) => items.iter().all(nullable),
        Expr::Alt(items) => items.iter().any(nullable),
        Expr::Group(inner) => nullable(inner),
        Expr::AtomicGroup(inner) => nullable(inner),
        Expr::Repeat { child, lo, .. } => *lo == 0 || nullable(child),
        _ => e.children_iter().all(nullable),
    }
}

/// Whether `e` holds an alternation or a lazy quantifier.
fn has_choice(e: &fancy_regex::Expr) -> bool {
    use fancy_regex::Expr;
    match e {
        Expr::Alt(items) if items.len() > 1 => true,
        Expr::Repeat { greedy: false, lo, hi, .. } if lo != hi => true,
        _ => e.children_iter().any(has_choice),
    }
}

impl Rewriter {
    fn next(&mut self) -> Option<char> {
        let c = self.src.get(self.at).copied();
        self.at += usize::from(c.is_some());
        c
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.at).copied()
    }

    /// Moves characters to `text` through the first `end` (or the end of the pattern).
    fn take_through(&mut self, end: char, text: &mut String) {
        while let Some(c) = self.next() {
            text.push(c);
            if c == end {
                break;
            }
        }
    }

    /// Appends `s` as a new atom (outside brackets) or a class item (inside).
    fn push_atom(&mut self, s: &str) {
        if self.depth == 0 {
            self.atom = Some(self.out.len());
            self.quantified = false;
        }
        self.out.push_str(s);
    }

    /// A literal character (`text` as written): refused under `(?i)` where Oniguruma would
    /// also match the case folding of it (or of a character in the range it ends) into
    /// several characters.
    fn literal(&mut self, c: char, text: &str) -> std::result::Result<(), String> {
        let from = if std::mem::take(&mut self.in_range) {
            self.range_from.filter(|&f| f <= c).unwrap_or(c)
        } else {
            c
        };
        if self.flags.fold {
            if let Some(f) = (from..=c).find(|&f| folds_to_several(f)) {
                return Err(format!(
                    "matches {f:?} case-insensitively: under (?i) {HF} lets it match its case folding into several characters too (ß matches \"ss\" there), which lexforge's engine cannot; take it out of the (?i) group and spell the alternatives out, e.g. (?:ß|ẞ|(?i:ss))"
                ));
            }
        }
        self.range_from = Some(c);
        if self.depth == 0 {
            if self.flags.fold {
                self.run.push(c);
            } else {
                self.end_run()?; // (a row ends where case folding does)
            }
        }
        self.literals += 1;
        self.push_atom(text);
        Ok(())
    }

    /// The end of a row of literals under `(?i)`: refused where it spells the case folding
    /// of a character that folds to several (`ss` of `ß`, `fi` of `ﬁ`, `st` of `ﬆ`), which
    /// Oniguruma would match too and `fancy-regex` would not.
    fn end_run(&mut self) -> std::result::Result<(), String> {
        let run = std::mem::take(&mut self.run);
        if run.len() < 2 {
            return Ok(());
        }
        let folded: String = run.iter().map(|&c| full_fold(c)).collect();
        let Some((c, spelled)) =
            multi_fold_strings().iter().find(|(_, f)| folded.contains(f.as_str()))
        else {
            return Ok(());
        };
        let written: String = run.iter().collect();
        Err(format!(
            "has the letters {spelled:?} in a row under (?i) (in {written:?}): {HF} may let such a row match the character whose case folding they spell ({spelled:?} matches {c:?} there), which lexforge's engine cannot; write each letter in a group of its own, e.g. {}, and add the character as an alternative where it should match, e.g. (?:{}|{c})",
            spelled.chars().map(|l| format!("(?i:{l})")).collect::<String>(),
            spelled.chars().map(|l| format!("(?i:{l})")).collect::<String>(),
        ))
    }

    /// Inside brackets, after an item that cannot start or end a range.
    fn not_a_range(&mut self) {
        self.range_from = None;
        self.in_range = false;
    }

    fn top_char(&mut self, c: char) -> std::result::Result<(), String> {
        let literals = self.literals;
        // what Oniguruma reads through within one string: white space and comments under
        // `x`, and the bounds of a plain group (`s(?:s)` matches `ß`; `(s)s` and
        // `(?i:s)(?i:s)` do not, but a group's end is not told apart here: refused too)
        let ignored = self.flags.extended && (c == '#' || c.is_whitespace());
        let plain_group =
            c == ')' || (c == '(' && self.src.get(self.at..self.at + 2) == Some(&['?', ':'][..]));
        self.top_item(c)?;
        if self.literals == literals && !ignored && !plain_group {
            // not a literal: the row of literals ends (a quantifier takes the last one
            // out of it first: `ss+` is "s" and then `s+` to Oniguruma)
            if matches!(c, '*' | '+' | '?' | '{') {
                self.run.pop();
            }
            self.end_run()?;
        }
        Ok(())
    }

    fn top_item(&mut self, c: char) -> std::result::Result<(), String> {
        match c {
            '\\' => self.escape()?,
            '(' => self.open_group()?,
            ')' => self.close_group(),
            '[' => {
                self.push_atom("");
                self.open_class();
            }
            '|' => {
                self.out.push('|');
                self.atom = None;
            }
            '^' | '$' => {
                // not after a final newline: Oniguruma sees no line there
                self.out.push_str(if c == '^' { "(?m:^)(?!\\z)" } else { "(?m:$)" });
                self.atom = None;
            }
            '*' | '+' | '?' => self.quantify(&c.to_string(), &['?', '+']),
            '{' => match self.interval() {
                // `{n}?` is `(?:X{n})?`: the `?` quantifies again
                Some(Interval::Plain(q, exact)) => {
                    self.quantify(&q, if exact { &[] } else { &['?'] })
                }
                // `{n,m}` with n > m: a possessive `{m,n}` to Oniguruma (Ruby syntax)
                Some(Interval::Swapped(q)) => self.possessive(&q),
                // escaped: `fancy-regex` reads `a{,}` as `a*`, Oniguruma as the text "a{,}"
                None => self.literal(c, "\\{")?,
            },
            '}' => self.literal(c, "\\}")?,
            '#' if self.flags.extended => {
                let mut comment = String::from('#');
                self.take_through('\n', &mut comment);
                if !comment.ends_with('\n') {
                    comment.push('\n'); // so the groups closed after it are not comment
                }
                self.out.push_str(&comment);
            }
            _ if self.flags.extended && c.is_whitespace() => self.out.push(c),
            _ => self.literal(c, &c.to_string())?,
        }
        Ok(())
    }

    /// After `{`: the interval `{n}`, `{n,}`, `{n,m}` or `{,m}` through its `}`, or `None`
    /// (the pattern is left where it was: a literal `{`, as in `{,}` or `{ 2}`).
    fn interval(&mut self) -> Option<Interval> {
        let rest = self.src.get(self.at..)?;
        let end = rest.iter().position(|&c| c == '}')?;
        let body: String = rest[..end].iter().collect();
        let (low, high) = body.split_once(',').map_or((body.as_str(), None), |(l, h)| (l, Some(h)));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        let valid = digits(low)
            && high.is_none_or(digits)
            && (!low.is_empty() || high.is_some_and(|h| !h.is_empty()));
        if !valid {
            return None;
        }
        self.at += end + 1;
        let number = |s: &str| s.parse::<u64>().ok();
        if let (Some(l), Some(h)) = (number(low), high.and_then(number)) {
            if l > h {
                return Some(Interval::Swapped(format!("{{{h},{l}}}")));
            }
        }
        Some(Interval::Plain(format!("{{{body}}}"), high.is_none()))
    }

    /// The interval `q` applied possessively to the last atom (an atomic group around it),
    /// which another quantifier after it repeats as a whole (Oniguruma takes no lazy `?`
    /// after a possessive interval).
    fn possessive(&mut self, q: &str) {
        match self.atom {
            Some(start) => {
                self.out.insert_str(start, "(?>(?:");
                self.out.push(')');
                self.out.push_str(q);
                self.out.push(')');
                self.quantified = true;
            }
            None => self.out.push_str(q), // (nothing to repeat: left for the regex to refuse)
        }
    }

    /// Appends the quantifier `q` to the last atom, with a lazy or possessive `modifier` that
    /// follows it. Oniguruma repeats a quantified atom again where `fancy-regex` would not
    /// (`X{n,m}+`, `X{n}?`, `a{2}{3}`): the atom is wrapped in a group first.
    fn quantify(&mut self, q: &str, modifiers: &[char]) {
        if let Some(start) = self.atom {
            if self.quantified {
                self.out.insert_str(start, "(?:");
                self.out.push(')');
            }
            self.quantified = true;
        }
        self.out.push_str(q);
        if let Some(m) = self.peek().filter(|m| modifiers.contains(m)) {
            self.at += 1;
            self.out.push(m);
        }
    }

    /// After `\`: the escape, rewritten or refused.
    fn escape(&mut self) -> std::result::Result<(), String> {
        let Some(e) = self.next() else {
            self.out.push('\\');
            return Ok(());
        };
        let mut text = format!("\\{e}");
        match e {
            'p' | 'P' if self.peek() != Some('{') => {
                let name: String = self.peek().into_iter().collect();
                return Err(format!(
                    "uses \\{e}{name} without braces, which {HF} reads as the letters \"{e}{name}\"; write \\{e}{{{name}}}"
                ));
            }
            'p' | 'P' => {
                self.take_through('}', &mut text);
                let name = text[2..].strip_prefix('{').and_then(|n| n.strip_suffix('}'));
                let (caret, name) = match name {
                    Some(n) => n.strip_prefix('^').map_or((false, n), |n| (true, n)),
                    None => (false, ""),
                };
                let negated = (e == 'P') != caret;
                match posix_property(name) {
                    Some((_, true)) => text = word_class(negated, self.depth),
                    Some((set, false)) => {
                        text = format!("[{}{set}]", if negated { "^" } else { "" });
                    }
                    None => {}
                }
                return self.class_escape(&text);
            }
            'w' | 'W' => return self.class_escape(&word_class(e == 'W', self.depth)),
            'b' | 'B' if self.depth == 0 => {
                let at = self.at;
                let quantified = matches!(self.peek(), Some('*' | '+' | '?'))
                    || (self.peek() == Some('{') && {
                        self.at += 1;
                        self.interval().is_some()
                    });
                self.at = at;
                if quantified {
                    return Err(format!(
                        "repeats the word boundary \\{e} with a quantifier, which {HF} cannot load (HF refuses the file); remove the quantifier"
                    ));
                }
                return self.class_escape(&word_boundary(e == 'B'));
            }
            'Z' if self.depth == 0 => {
                // Oniguruma's \Z: the end, or before one final newline (fancy-regex's also
                // before several)
                self.not_a_range();
                self.push_atom(r"(?=\n?\z)");
                return Ok(());
            }
            'U' => {
                return Err(format!(
                    "uses \\U, which {HF} reads as the letter U; write a code point as \\x{{1F600}}"
                ))
            }
            'u' => {
                let hex: String = self.src[self.at..].iter().take(4).collect();
                if hex.len() < 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "uses \\u{hex}..., which {HF} cannot load (it takes exactly four hex digits, \\u00DF); write \\x{{...}} for any code point"
                    ));
                }
                self.at += 4;
                text.push_str(&hex);
            }
            '0' => {
                // Oniguruma: `\0` and up to two octal digits more, a character
                let mut value = 0;
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.at += 1;
                        }
                        None => break,
                    }
                }
                text = format!("\\x{{{value:X}}}");
            }
            '1'..='9' if self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                let mut digits = String::from(e);
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    digits.push(c);
                    self.at += 1;
                }
                return Err(format!(
                    "uses \\{digits}, which {HF} reads as a back reference to group {digits} where the pattern has that many groups, and else as an octal character code; write a character as \\x{{..}} (\\101 is \\x{{41}})"
                ));
            }
            'x' if self.peek() == Some('{') => self.take_through('}', &mut text),
            'x' => {
                while text.len() < 4 && self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    text.extend(self.next());
                }
                if escaped_char(&text).is_some_and(|c| !c.is_ascii()) {
                    return Err(format!(
                        "uses {text}, which {HF} reads as one byte of UTF-8, not a character; write \\x{{{}}}",
                        &text[2..]
                    ));
                }
            }
            'k' | 'g' => match self.peek() {
                Some('<') => self.take_through('>', &mut text),
                Some('\'') => {
                    text.extend(self.next());
                    self.take_through('\'', &mut text);
                }
                Some('{') => self.take_through('}', &mut text),
                _ => {}
            },
            'o' if self.peek() == Some('{') => self.take_through('}', &mut text),
            // Oniguruma's control characters: `\cX` and `\C-X` (`X & 0x9F`; `?`: DEL)
            'c' | 'C' => {
                if e == 'C' && self.next() != Some('-') {
                    return Err(format!("uses \\C without a hyphen, which {HF} cannot load; write \\C-X or \\cX for a control character"));
                }
                let code = match self.next() {
                    Some('?') => 0x7F,
                    // `\c\\`: the backslash, escaped (0x1C)
                    Some('\\') if self.peek() == Some('\\') => {
                        self.at += 1;
                        0x1C
                    }
                    Some(x) if x.is_ascii() && x != '\\' => u32::from(x) & 0x9F,
                    other => {
                        let x: String = other.into_iter().collect();
                        return Err(format!("uses the control escape \\{e}{}{x}, which lexforge reads for ASCII characters only (a backslash escaped: \\c\\\\); write the character as \\x{{..}}", if e == 'C' { "-" } else { "" }));
                    }
                };
                text = format!("\\x{{{code:X}}}");
            }
            // word boundaries in `fancy-regex`, the characters themselves in Oniguruma
            '<' | '>' => text = e.to_string(),
            '0'..='9' => {
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    text.extend(self.next());
                }
            }
            _ => {}
        }
        match escaped_char(&text) {
            Some(c) => self.literal(c, &text)?,
            None => {
                self.not_a_range();
                self.push_atom(&text);
            }
        }
        Ok(())
    }

    /// A class escape (`\p{..}`, `\w` spelled out): outside brackets under `(?i)` kept from
    /// case folding, as Oniguruma does not fold them.
    fn class_escape(&mut self, class: &str) -> std::result::Result<(), String> {
        self.not_a_range();
        if self.depth == 0 && self.flags.fold {
            self.push_atom(&format!("(?-i:{class})"));
        } else {
            self.push_atom(class);
        }
        Ok(())
    }

    /// After `(`: a group, a flag group or a comment.
    fn open_group(&mut self) -> std::result::Result<(), String> {
        let start = self.out.len();
        let mut opener = String::from("(");
        if self.peek() == Some('?') {
            self.at += 1;
            opener.push('?');
            match self.peek() {
                Some('#') => {
                    self.take_through(')', &mut opener);
                    self.out.push_str(&opener);
                    return Ok(());
                }
                Some(':' | '=' | '!' | '>' | '~') => opener.extend(self.next()),
                Some('<') if matches!(self.src.get(self.at + 1), Some('=' | '!')) => {
                    opener.extend(self.next());
                    opener.extend(self.next());
                }
                Some('<') => self.take_through('>', &mut opener),
                Some('\'') => {
                    opener.extend(self.next());
                    self.take_through('\'', &mut opener);
                }
                Some('(') => self.take_through(')', &mut opener), // a condition: (?(1)a|b)
                Some(c) if c == '-' || c.is_ascii_alphabetic() => return self.flag_group(start),
                other => {
                    let what: String = other.into_iter().collect();
                    return Err(format!(
                        "uses the group (?{what}, which lexforge cannot match the way {HF} does (or HF cannot load it); use (?:...), lookaround, (?<name>...) or the flags i, m, x"
                    ));
                }
            }
        }
        self.out.push_str(&opener);
        self.groups.push(Group { start, outer: self.flags, flag_groups: 0 });
        self.atom = None;
        Ok(())
    }

    /// After `(?`: flags `i`, `m`, `x` on (and after a `-` off), for the rest of the group
    /// (`(?i)`) or a group of their own (`(?i:...)`). Ruby's `m` is the `regex` crate's `s`.
    fn flag_group(&mut self, start: usize) -> std::result::Result<(), String> {
        let mut flags = self.flags;
        let mut on = true;
        let mut spelled = String::new();
        let own_group = loop {
            let c = self.next();
            match c {
                Some('-') => on = false,
                Some('i') => flags.fold = on,
                Some('x') => flags.extended = on,
                Some('m') => {}
                Some(end @ (':' | ')')) => break end == ':',
                _ => {
                    let letter: String = c.into_iter().collect();
                    let hint = match letter.as_str() {
                        "s" => "; (?m) is what makes `.` match newlines there",
                        "P" => "; write named groups as (?<name>...) and references as \\k<name>",
                        _ => "",
                    };
                    return Err(format!(
                        "uses the group option {letter:?} in (?{spelled}{letter}...), which {HF} does not have (HF cannot load the file); the options there are i, m (`.` matches newlines) and x{hint}"
                    ));
                }
            }
            spelled.extend(c);
        };
        if spelled.is_empty() || spelled.ends_with('-') {
            return Err(format!(
                "uses the group option (?{spelled}) with no flag after it, which {HF} does not load; write (?:...) for a group"
            ));
        }
        self.out.push_str(&format!("(?{}:", spelled.replace('m', "s")));
        if own_group {
            self.groups.push(Group { start, outer: self.flags, flag_groups: 0 });
        } else if let Some(g) = self.groups.last_mut() {
            g.flag_groups += 1; // Oniguruma: the flags cover the rest of the group
        }
        self.flags = flags;
        self.atom = None;
        Ok(())
    }

    /// `)`: closes the group (and the flag groups opened in it).
    fn close_group(&mut self) {
        if self.groups.len() == 1 {
            self.out.push(')'); // unbalanced: the regex says so
            return;
        }
        if let Some(g) = self.groups.pop() {
            self.out.push_str(&")".repeat(g.flag_groups + 1));
            self.flags = g.outer;
            self.atom = Some(g.start);
            self.quantified = false;
        }
    }

    /// After `[` (the caller set the atom at depth 0).
    fn open_class(&mut self) {
        self.not_a_range();
        self.depth += 1;
        let (start, written) = (self.out.len(), self.at - 1);
        self.out.push('[');
        let negated = self.peek() == Some('^');
        if negated {
            self.out.push('^');
            self.at += 1;
        }
        self.brackets.push((start, written, negated));
        self.class_start = true;
    }

    /// `]`: closes a class. Under `(?i)`, as Oniguruma reads it:
    /// - a negated class nested in another is the complement of its items *before* case
    ///   folding (the enclosing class folds it): refused unless its items hold every case
    ///   variant of what they hold (then it is the same set either way);
    /// - a class that is not negated also matches the case folding of its characters into
    ///   several (the `ß` of `[[:alpha:]]`, `[\p{L}]` or `[\w]` matches "ss"), which
    ///   `fancy-regex` cannot: refused if it holds such a character (a negated one does not
    ///   match them: `[^\p{L}]` stays as it is).
    fn close_class(&mut self) -> std::result::Result<(), String> {
        self.not_a_range();
        self.depth -= 1;
        self.out.push(']');
        let Some((start, written, negated)) = self.brackets.pop() else { return Ok(()) };
        if !self.flags.fold {
            return Ok(());
        }
        let class: String = self.src[written..self.at].iter().collect(); // as written
        let rewritten = &self.out[start..];
        let items = &rewritten[if negated { 2 } else { 1 }..rewritten.len() - 1];
        if negated && !self.brackets.is_empty() {
            if let Some(c) = case_open_in(items) {
                return Err(format!(
                    "has the negated class {class} inside another class under (?i), and it holds {c:?} but not all of its case variants: there {HF} takes its complement before case folding, lexforge's engine after, so they match different text; write it without nesting a negated class (e.g. [^...] at the top, or a difference [..&&[^..]])"
                ));
            }
        }
        if !negated && self.brackets.is_empty() {
            if let Some(f) = multi_fold_in(items) {
                return Err(format!(
                    "has the class {class} under (?i), and it holds {f:?}: there {HF} lets it match its case folding into several characters too (the ß in [[:alpha:]] matches \"ss\" there), which lexforge's engine cannot; take the class out of the (?i) group, or out of the brackets (outside brackets Oniguruma does not fold \\p{{..}} and \\w)"
                ));
            }
        }
        Ok(())
    }

    fn class_char(&mut self, c: char) -> std::result::Result<(), String> {
        let at_start = std::mem::take(&mut self.class_start);
        match c {
            '\\' => self.escape()?,
            '[' if self.peek() == Some(':') => self.posix_bracket(),
            '[' => self.open_class(),
            ']' if !at_start => self.close_class()?,
            '-' if self.range_from.is_some() && !matches!(self.peek(), Some(']' | '-')) => {
                self.in_range = true;
                self.out.push('-');
            }
            '-' | '~' if self.peek() == Some(c) => {
                return Err(format!(
                    "uses {c}{c} inside brackets, which {HF} reads as two characters but lexforge's engine as a set operation; escape them (\\{c}\\{c}), or write a difference as [a-z&&[^aeiou]]"
                ));
            }
            _ => self.literal(c, &c.to_string())?,
        }
        Ok(())
    }

    /// After `[` and before `:`: a POSIX class `[:name:]` or `[:^name:]`, through its `:]`.
    fn posix_bracket(&mut self) {
        self.not_a_range();
        let mut raw = String::from("[");
        let mut prev = '[';
        while let Some(d) = self.next() {
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
            Some(set) => self.out.push_str(&format!("[{}{set}]", if negated { "^" } else { "" })),
            None => self.out.push_str(&raw), // not one of Oniguruma's: the regex says so
        }
    }
}

#[cfg(test)]
mod tests;
