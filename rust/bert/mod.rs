//! BERT's text pipeline: normalizer and pre-tokenizer ([`normalize`]), the WordPiece model
//! ([`wordpiece`]) over a byte [`trie`], their character classes ([`chars`]), HF's general
//! normalizers and pre-tokenizers in their place ([`pipeline`]), and the whole
//! pipeline with templates, truncation and batching ([`tokenizer`]), and WordPiece training
//! ([`train`]).

pub mod chars;
pub mod normalize;
pub mod pipeline;
pub mod tokenizer;
pub mod train;
pub mod trie;
pub mod wordpiece;

pub use normalize::{bert_words, bert_words_in, BertNormalizer, Normalized};
pub use pipeline::Pipeline;
pub use tokenizer::BertTokenizer;
pub use train::{train_wordpiece, WordPieceOptions};
pub use wordpiece::WordPiece;
