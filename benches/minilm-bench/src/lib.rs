//! Sentence embeddings with a real, third-party model: candle's BERT
//! (`candle_transformers::models::bert`) running the pretrained all-MiniLM-L6-v2, with arena
//! routing ([`allocarrays::ArenaRouter`]) off and on, under several allocators.
//!
//! - [`alloc`]: the allocator under the router (system or mimalloc, picked per process) and
//!   the counters of the calls that reach it.
//! - [`usage`]: page faults and CPU time of the whole process.
//! - [`model`]: loading the model, the input texts, one batch from text to embeddings.
//! - [`cli`]: options, shapes, modes and allocator configurations.
//! - [`run`]: measuring one configuration in this process.
//! - [`report`] and [`svg`]: running every configuration in a process of its own and
//!   reporting (Markdown, JSON, SVG).

pub mod alloc;
pub mod cli;
pub mod model;
pub mod report;
pub mod run;
pub mod svg;
pub mod usage;
