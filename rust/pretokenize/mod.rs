//! Pre-tokenization: cutting text into the pieces that BPE then encodes one at a time.
//!
//! The three patterns the ecosystem uses (GPT-2's, tiktoken's cl100k and o200k) are compiled
//! by hand into linear scanners ([`gpt2`], [`cl100k`], [`o200k`]); each reproduces its regex's
//! leftmost-first backtracking semantics exactly, which tests check against `fancy-regex`
//! (the engine tiktoken uses) on random text. The regexes of Llama 3's and Qwen2's
//! `tokenizer.json` get a scanner too ([`llama3`]), though they are no presets (a file keeps
//! them as regexes): on `fancy-regex` a long white-space run overflows its backtracking
//! stack. Any other pattern runs on `fancy-regex`.
//!
//! Text that a user pattern does not match is kept as pieces of its own (HF `tokenizers`'
//! "isolated" split), so nothing is ever dropped; the presets match every character anyway.

mod cl100k;
mod gpt2;
mod llama3;
mod o200k;
mod onig;
mod scan;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};

/// GPT-2's pattern, as published with the model (also r50k_base and p50k_base).
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// tiktoken's spelling of GPT-2's pattern (same pieces, faster in a backtracking engine).
pub const GPT2_PATTERN_TIKTOKEN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// cl100k_base's pattern, as tiktoken spells it. Given as a regex it is read as Oniguruma
/// reads it (HF `tokenizers`, where `\p{N}{1,3}+` is whole runs of digits), as a
/// `tokenizer.json` holding it is in HF; the preset is [`CL100K_PATTERN_ONIG`].
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// cl100k_base's pattern spelled for Oniguruma (HF `tokenizers`), where `{1,3}+` would mean
/// "one or more groups of one to three": the same pieces as [`CL100K_PATTERN`].
pub const CL100K_PATTERN_ONIG: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// o200k_base's pattern, as tiktoken spells it.
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+",
);

/// Llama 3's pattern, as its `tokenizer.json` spells it (no preset: kept as a regex).
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's pattern (Llama 3's with one digit a piece), as its `tokenizer.json` spells it.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The preset names accepted wherever a pattern is, with the aliases tiktoken uses.
pub const PRESETS: &[(&str, &str)] = &[
    ("gpt2", GPT2_PATTERN),
    ("r50k_base", GPT2_PATTERN),
    ("p50k_base", GPT2_PATTERN),
    ("cl100k", CL100K_PATTERN_ONIG),
    ("cl100k_base", CL100K_PATTERN_ONIG),
    ("o200k", O200K_PATTERN),
    ("o200k_base", O200K_PATTERN),
];

/// A compiled pre-tokenizer.
#[derive(Clone, Debug)]
pub enum Pretokenizer {
    /// GPT-2's pattern, hand-compiled.
    Gpt2,
    /// cl100k_base's pattern, hand-compiled.
    Cl100k,
    /// o200k_base's pattern, hand-compiled.
    O200k,
    /// Llama 3's regex, hand-compiled (not a preset: it reads and saves as the regex).
    Llama3,
    /// Qwen2's regex, hand-compiled (not a preset).
    Qwen2,
    /// Any other pattern, on `fancy-regex`.
    Regex { regex: Box<fancy_regex::Regex>, pattern: String },
}

impl Pretokenizer {
    /// Builds a pre-tokenizer from a preset name (`"gpt2"`, `"cl100k"`, `"o200k"` and their
    /// tiktoken aliases) or a regular expression. A regex spelled exactly like one of the
    /// presets gets the hand-compiled scanner.
    pub fn new(pattern_or_preset: &str) -> Result<Self> {
        let pattern = PRESETS
            .iter()
            .find(|(name, _)| *name == pattern_or_preset)
            .map_or(pattern_or_preset, |(_, p)| p);
        Ok(match pattern {
            GPT2_PATTERN | GPT2_PATTERN_TIKTOKEN => Pretokenizer::Gpt2,
            CL100K_PATTERN_ONIG => Pretokenizer::Cl100k,
            O200K_PATTERN => Pretokenizer::O200k,
            LLAMA3_PATTERN => Pretokenizer::Llama3,
            QWEN2_PATTERN => Pretokenizer::Qwen2,
            _ => {
                if pattern.is_empty() {
                    return Err(Error::Pattern(
                        "the pre-tokenization pattern is empty; pass a preset name (gpt2, cl100k, o200k) or a regular expression".into(),
                    ));
                }
                // compiled as Oniguruma reads it, so the saved pattern splits alike in HF
                let rewritten = onig::onig_to_fancy(pattern).map_err(|why| {
                    Error::Pattern(format!("the pre-tokenization pattern {pattern:?} {why}"))
                })?;
                let regex = fancy_regex::Regex::new(&rewritten).map_err(|e| {
                    Error::Pattern(format!(
                        "cannot compile the pre-tokenization pattern {pattern:?}: {e}; pass a preset name (gpt2, cl100k, o200k) or a valid regular expression"
                    ))
                })?;
                Pretokenizer::Regex { regex: Box::new(regex), pattern: pattern.to_string() }
            }
        })
    }

    /// The regular expression this pre-tokenizer implements.
    pub fn pattern(&self) -> &str {
        match self {
            Pretokenizer::Gpt2 => GPT2_PATTERN,
            Pretokenizer::Cl100k => CL100K_PATTERN_ONIG,
            Pretokenizer::O200k => O200K_PATTERN,
            Pretokenizer::Llama3 => LLAMA3_PATTERN,
            Pretokenizer::Qwen2 => QWEN2_PATTERN,
            Pretokenizer::Regex { pattern, .. } => pattern,
        }
    }

    /// The preset's short name, if this is a preset.
    pub fn preset(&self) -> Option<&'static str> {
        match self {
            Pretokenizer::Gpt2 => Some("gpt2"),
            Pretokenizer::Cl100k => Some("cl100k"),
            Pretokenizer::O200k => Some("o200k"),
            Pretokenizer::Llama3 | Pretokenizer::Qwen2 | Pretokenizer::Regex { .. } => None,
        }
    }

    /// Calls `f(start, end)` with the byte range of each piece of `text`, in order. The
    /// pieces are non-empty and tile `text` exactly.
    #[inline]
    pub fn split(&self, text: &str, mut f: impl FnMut(usize, usize)) -> Result<()> {
        match self {
            Pretokenizer::Gpt2 => scan::tile(text, gpt2::piece_end, f),
            Pretokenizer::Cl100k => scan::tile(text, cl100k::piece_end, f),
            Pretokenizer::O200k => scan::tile(text, o200k::piece_end, f),
            Pretokenizer::Llama3 => scan::tile(text, llama3::piece_end, f),
            Pretokenizer::Qwen2 => scan::tile(text, llama3::piece_end_qwen2, f),
            Pretokenizer::Regex { regex, pattern } => {
                let mut last = 0;
                for m in regex.find_iter(text) {
                    let m = m.map_err(|e| {
                        Error::Pattern(format!(
                            "the pre-tokenization pattern {pattern:?} failed on the input: {e}; simplify the pattern so it backtracks less"
                        ))
                    })?;
                    if m.start() > last {
                        f(last, m.start());
                    }
                    if m.end() > m.start() {
                        f(m.start(), m.end());
                    }
                    last = m.end();
                }
                if last < text.len() {
                    f(last, text.len());
                }
                Ok(())
            }
        }
    }

    /// The pieces of `text` as string slices (convenient, allocates; [`split`](Self::split)
    /// is the fast path).
    pub fn pieces<'a>(&self, text: &'a str) -> Result<Vec<&'a str>> {
        let mut out = Vec::new();
        self.split(text, |s, e| out.push(&text[s..e]))?;
        Ok(out)
    }
}
