//! all-MiniLM-L6-v2 with candle: finding and loading the files, the input sentences, and one
//! batch from text to normalised sentence embeddings.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The error type of this crate: candle's, the tokenizer's and I/O errors alike.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// A result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The files the model needs, all in one directory.
pub const MODEL_FILES: [&str; 3] = ["model.safetensors", "config.json", "tokenizer.json"];

/// Where `scripts/fetch-minilm.sh` puts the model, relative to the workspace root.
pub const DEFAULT_MODEL_DIR: &str = "models/all-minilm-l6-v2";

/// The model directory: `explicit` if given, else [`DEFAULT_MODEL_DIR`] under the current
/// directory or under the workspace this crate was built in. Fails, saying how to fetch the
/// files, when one of [`MODEL_FILES`] is missing.
pub fn find_model_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(dir) => vec![dir.to_path_buf()],
        None => vec![
            PathBuf::from(DEFAULT_MODEL_DIR),
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(DEFAULT_MODEL_DIR),
        ],
    };
    for dir in &candidates {
        if MODEL_FILES.iter().all(|f| dir.join(f).is_file()) {
            return Ok(dir.clone());
        }
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "the all-MiniLM-L6-v2 files ({}) are missing (looked in {}): run scripts/fetch-minilm.sh \
         from the workspace root, or pass --model-dir DIR",
        MODEL_FILES.join(", "),
        looked.join(" and ")
    )
    .into())
}

/// English sentences the batches are made of (repeated and concatenated as needed).
pub const SENTENCES: [&str; 24] = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The new movie is awesome and everybody in the theatre loved it.",
    "The cat sits outside on the warm stones of the garden wall.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "The committee postponed its decision until the budget figures were confirmed.",
    "Heavy rain flooded several streets in the old part of the town last night.",
    "She finished the marathon in under four hours despite the heat.",
    "Fresh bread and strong coffee are the best way to start a morning.",
    "The library extended its opening hours during the examination period.",
    "Engineers tested the bridge for weeks before it was opened to traffic.",
    "Our neighbours planted tomatoes, beans and a row of sunflowers this spring.",
    "The orchestra rehearsed the symphony twice before the evening concert.",
    "A small boat drifted slowly across the calm surface of the lake.",
    "The museum displays paintings from the early twentieth century.",
    "He forgot his umbrella on the train and walked home in the rain.",
    "Children were building sandcastles while their parents read on the beach.",
];

/// `batch` input texts for sequences of `seq` tokens: text `i` starts at sentence `i` of
/// [`SENTENCES`] and goes on with the following ones (cyclically) until it has clearly more
/// words than `seq`, so truncation, not padding, sets the length.
pub fn batch_texts(batch: usize, seq: usize) -> Vec<String> {
    (0..batch)
        .map(|i| {
            let mut text = String::new();
            let mut words = 0;
            let mut j = i;
            while words < seq {
                let sentence = SENTENCES[j % SENTENCES.len()];
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(sentence);
                words += sentence.split_whitespace().count();
                j += 1;
            }
            text
        })
        .collect()
}

/// The model and its tokenizer, loaded once.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    hidden: usize,
    device: Device,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("hidden", &self.hidden)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the weights (f32, CPU), the configuration and the tokenizer from `dir`.
    pub fn load(dir: &Path) -> Result<Embedder> {
        let device = Device::Cpu;
        let config: Config =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json"))?)?;
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = BertModel::load(vb, &config)?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))?;
        Ok(Embedder {
            model,
            tokenizer,
            hidden: config.hidden_size,
            device,
        })
    }

    /// The size of one embedding.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// A tokenizer that truncates and pads every text to exactly `seq` tokens.
    pub fn tokenizer_for(&self, seq: usize) -> Result<Tokenizer> {
        let mut tokenizer = self.tokenizer.clone();
        tokenizer.with_truncation(Some(TruncationParams {
            max_length: seq,
            ..TruncationParams::default()
        }))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(seq),
            ..PaddingParams::default()
        }));
        Ok(tokenizer)
    }

    /// Tokenizes `texts` with `tokenizer` (one made by [`tokenizer_for`](Self::tokenizer_for),
    /// so every sequence has the same length).
    pub fn tokenize(&self, tokenizer: &Tokenizer, texts: &[&str]) -> Result<Tokens> {
        let encodings = tokenizer.encode_batch(texts.to_vec(), true)?;
        let batch = encodings.len();
        let seq = encodings.first().map_or(0, |e| e.len());
        let mut tokens = Tokens {
            batch,
            seq,
            ids: Vec::with_capacity(batch * seq),
            type_ids: Vec::with_capacity(batch * seq),
            mask: Vec::with_capacity(batch * seq),
        };
        for encoding in &encodings {
            if encoding.len() != seq {
                return Err(format!(
                    "tokenizer gave sequences of {} and {} tokens",
                    seq,
                    encoding.len()
                )
                .into());
            }
            tokens.ids.extend_from_slice(encoding.get_ids());
            tokens.type_ids.extend_from_slice(encoding.get_type_ids());
            tokens.mask.extend_from_slice(encoding.get_attention_mask());
        }
        Ok(tokens)
    }

    /// Runs the model on `tokens`, mean-pools the last hidden states over the attention mask,
    /// normalises each embedding to unit length and writes them, row after row, to `out`
    /// (`tokens.batch * hidden_size()` values).
    ///
    /// Every temporary (tensors, matrix-product scratch) is allocated and freed inside the
    /// call; nothing is kept.
    pub fn embed_tokens(&self, tokens: &Tokens, out: &mut [f32]) -> Result<()> {
        let dims = (tokens.batch, tokens.seq);
        let ids = Tensor::from_slice(&tokens.ids, dims, &self.device)?;
        let type_ids = Tensor::from_slice(&tokens.type_ids, dims, &self.device)?;
        let mask = Tensor::from_slice(&tokens.mask, dims, &self.device)?;

        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        // Mean pooling over the tokens the mask keeps, then L2 normalisation (what
        // sentence-transformers does for this model).
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counted = mask.sum(1)?;
        let mean = summed.broadcast_div(&counted)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        let embeddings = mean.broadcast_div(&norm)?;

        let values = embeddings.flatten_all()?.to_vec1::<f32>()?;
        if values.len() != out.len() {
            return Err(format!(
                "{} embedding values for a buffer of {}",
                values.len(),
                out.len()
            )
            .into());
        }
        out.copy_from_slice(&values);
        Ok(())
    }

    /// One batch, text to embeddings: [`tokenize`](Self::tokenize), then
    /// [`embed_tokens`](Self::embed_tokens).
    pub fn embed(&self, tokenizer: &Tokenizer, texts: &[&str], out: &mut [f32]) -> Result<()> {
        let tokens = self.tokenize(tokenizer, texts)?;
        self.embed_tokens(&tokens, out)
    }
}

/// A tokenized batch: `batch` sequences of `seq` tokens, row after row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq: usize,
    /// Token ids.
    pub ids: Vec<u32>,
    /// Segment ids (all 0 here: one sentence per sequence).
    pub type_ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub mask: Vec<u32>,
}

/// The cosine similarity of two unit vectors (their dot product).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_long_enough_and_deterministic() {
        for (batch, seq) in [(1, 8), (8, 14), (32, 17), (8, 105)] {
            let texts = batch_texts(batch, seq);
            assert_eq!(texts.len(), batch);
            for text in &texts {
                assert!(text.split_whitespace().count() >= seq);
            }
            assert_eq!(texts, batch_texts(batch, seq));
        }
        assert_ne!(batch_texts(2, 8)[0], batch_texts(2, 8)[1]);
    }

    #[test]
    fn missing_model_dir_says_what_to_run() {
        let err = find_model_dir(Some(Path::new("/nonexistent/minilm"))).unwrap_err();
        assert!(err.to_string().contains("scripts/fetch-minilm.sh"));
    }
}
