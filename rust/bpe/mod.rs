//! Byte-level BPE: the model ([`BpeModel`]), its encoder and decoder, and its trainer.
//!
//! - [`model`]: the vocabulary and merge table, built from merges (HF, GPT-2 files), from
//!   tiktoken ranks, or from training; validation of all three.
//! - [`merge`]: the two algorithms that turn one pre-token's bytes into ids (a short-piece
//!   scan and an O(n log n) heap for long pieces) and their shared rules.
//! - [`chars`]: the characters whose bytes may merge before the rest, proved per model.
//! - [`index`]: the token bytes → id map, tuned for the one lookup per pre-token.
//! - [`encode`]: whole texts and batches: special tokens, pre-tokenization, offsets, threads.
//! - [`prepared`]: encoding through a normalizer and ByteLevel's `add_prefix_space`.
//! - [`rank_lines`]: the lines of tiktoken rank files.
//! - [`train`]: the merge phase of training, over word counts from [`crate::count`].

pub(crate) mod chars;
pub mod encode;
pub mod index;
pub mod merge;
pub mod model;
pub mod prepared;
pub mod rank_lines;
pub mod train;

pub use model::{BpeModel, MergeRule};
pub use train::{learn, train, train_owned, TrainOptions, Trained};
