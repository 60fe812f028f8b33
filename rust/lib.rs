//! lexforge core: the data path of BERT-style model building, in Rust.
//!
//! This crate is pure Rust (no Python needed for `cargo test`); the PyO3 bindings that make it
//! the `lexforge._core` extension module live in [`py`] behind the `python` cargo feature.
//!
//! Layout, one concern per module:
//! - [`unicode`]: character-class tables shared by the pre-tokenizers.
//! - [`pretokenize`]: GPT-2 / cl100k / o200k splitters compiled by hand, plus user regexes.
//! - [`postprocess`]: truncation windows, special-token templates, padding, batch rows.
//! - [`normalize`]: HF's NFC/NFKC/Lowercase/Strip normalizers, aligned to the original text.
//! - [`special`]: special tokens, found in text and never split or merged.
//! - [`count`]: parallel, streaming, mergeable word counting (the first half of training).
//! - [`bpe`]: the byte-level BPE model (encoding, decoding) and its trainer.
//! - [`bert`]: BERT's text pipeline: normalizer, pre-tokenizer, WordPiece and its trainer.
//! - `cache`: the per-thread cache of recently encoded pieces both models share.
//! - [`corpus`]: pretraining corpora: documents, sentences, pieces, token ids.
//! - [`instances`]: NSP/SOP sentence pairs and packed sequences from tokenized documents.
//! - [`mlm`]: masked-language-model masking of token batches.
//! - [`rng`]: the deterministic random streams, seeded per item.
//! - [`parallel`]: the one thread-pool policy every parallel entry point uses.
//! - [`memory`]: handing freed memory back to the OS between phases.
//! - [`error`]: the error enum every fallible function returns.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod bert;
pub mod bpe;
pub(crate) mod cache;
pub mod corpus;
pub mod count;
pub mod error;
pub mod instances;
pub mod memory;
pub mod mlm;
pub mod normalize;
pub mod parallel;
pub mod postprocess;
pub mod pretokenize;
pub mod rng;
pub mod special;
pub mod unicode;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, Result};
