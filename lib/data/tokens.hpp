// Byte-level language-modelling data: the 257-token byte tokenizer, the binary token file that the
// tokenize tool writes, text corpora cut into documents and split into train/validation, and the
// loader that serves windows of a token stream to data-parallel ranks.
// Shapes: a batch is inputs (B/dp, T) i32 and targets (B/dp, T) i32, targets = inputs shifted by one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace meridian::data {

// ---- Tokenizer ------------------------------------------------------------------------------------

// Token b < 256 is the byte b; token 256 ends a document (end of text).
inline constexpr int kByteVocab = 257;
inline constexpr std::uint16_t kEndOfText = 256;
// How decode() renders kEndOfText.
inline constexpr std::string_view kEndOfTextMark = "<|eot|>";

// One token per byte of `text` (any bytes, UTF-8 or not; no end-of-text is added).
std::vector<std::uint16_t> encode(std::string_view text);

// The bytes back: token b < 256 is the byte b, kEndOfText is kEndOfTextMark, and any token above
// it (a model with a padded vocabulary) is "<|N|>" with N its value. decode(encode(s)) == s.
std::string decode(std::span<const std::uint16_t> tokens);

// ---- Token file -----------------------------------------------------------------------------------
//
// Layout (all little-endian), 32 bytes of header then the payload:
//   bytes  0-7   magic "MRDNTOK" followed by one zero byte
//   bytes  8-11  u32 version (1)
//   bytes 12-15  u32 vocabulary size V, 1 <= V <= 65536
//   bytes 16-23  u64 token count N >= 1
//   bytes 24-31  u64 reserved, 0
//   bytes 32-    N u16 tokens, each < V
// The file is exactly 32 + 2 N bytes long.

inline constexpr char kTokenFileMagic[8] = {'M', 'R', 'D', 'N', 'T', 'O', 'K', '\0'};
inline constexpr std::uint32_t kTokenFileVersion = 1;
inline constexpr std::uint64_t kTokenFileHeaderBytes = 32;
inline constexpr std::int64_t kMaxTokenVocab = 65536;  // every u16 value

struct TokenFile {
  int vocab = 0;
  std::vector<std::uint16_t> tokens;
  bool operator==(const TokenFile&) const = default;
};

// The bytes of a token file holding `tokens` (header + payload). InputError when tokens is empty or
// vocab is outside [1, 65536]; Error when a token is >= vocab (a bug of the caller).
std::vector<std::uint8_t> encode_token_file(std::span<const std::uint16_t> tokens, int vocab);

// Writes encode_token_file(tokens, vocab) to `path` (replacing it). InputError naming the path when
// it cannot be created or written (missing folder, no permission, disk full), or as above.
void write_token_file(const std::string& path, std::span<const std::uint16_t> tokens, int vocab = kByteVocab);

// Reads and checks a whole token file. Every defect is one InputError naming `path`: missing or
// unreadable file, shorter than the header, wrong magic, unsupported version, vocabulary 0 or above
// 65536, token count 0, reserved field not 0, a size other than 32 + 2 N bytes (truncated or
// trailing bytes, with the byte counts), or a token >= vocabulary (its index and value).
TokenFile read_token_file(const std::string& path);

// ---- Corpus ---------------------------------------------------------------------------------------

// Where Debian's 'fortunes' package (`apt-get install fortunes`) keeps its text files.
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

// The default corpus: the text files at the top level of `dir` (regular files only: no symlinks,
// so the *.u8 links are left out; no *.dat or *.u8 names, so strfile's indexes are left out), sorted
// by name. Subfolders (such as the offensive 'off/') are not entered. InputError when the folder is
// missing or holds no such file, saying how to install the package or to pass text files instead.
std::vector<std::string> default_corpus_files(const std::string& dir = kFortunesDir);

// The files named by `inputs`, in order: a file stays as it is; a folder becomes its regular files
// at the top level (sorted by name; symlinks, hidden files and subfolders skipped, and a strfile
// index X.dat skipped when X is beside it). InputError for a missing input, one that is neither a
// file nor a folder, or a folder with no file to read.
std::vector<std::string> expand_inputs(std::span<const std::string> inputs);

// Cuts `text` into documents. With an empty separator the whole text is one document; otherwise a
// document is each run of lines between lines that equal `separator` exactly (the line without its
// newline; a trailing carriage return is ignored), and keeps its lines' newlines. Documents that
// are empty or only whitespace are dropped.
std::vector<std::string> documents_from_text(std::string_view text, std::string_view separator);

// documents_from_text over each file of `files` in turn (read as bytes). InputError naming a file
// that cannot be read.
std::vector<std::string> read_documents(std::span<const std::string> files, std::string_view separator);

// ---- Train / validation split ---------------------------------------------------------------------

// Token streams of the two splits: each document's tokens followed by kEndOfText, in corpus order.
struct TokenSplit {
  std::vector<std::uint16_t> train, val;
  std::int64_t train_docs = 0, val_docs = 0;
};

// Document i goes to validation when Rng(seed, stream_id(data, i mod 2^24, i / 2^24)).
// uniform_double() < val_fraction, to train otherwise: the same for any corpus size or order of
// calls. When there are at least 2 documents and 0 < val_fraction < 1, each split gets at least
// one: if no draw fell below val_fraction the document with the smallest draw moves to validation,
// and if every draw did, the one with the largest draw moves to train. InputError when val_fraction
// is outside [0, 1) or there is no document.
TokenSplit split_documents(std::span<const std::string> documents, double val_fraction, std::uint64_t seed);

// ---- Loader ---------------------------------------------------------------------------------------

struct TokenLoaderOptions {
  std::int64_t seq_len = 0;       // T: tokens per sequence
  std::int64_t global_batch = 0;  // B: sequences per step, all data-parallel ranks together
  int dp_rank = 0;                // this rank's place among the data-parallel ranks
  int dp_size = 1;                // number of data-parallel ranks; must divide B
  std::uint64_t seed = 0;         // seed of the per-epoch shuffles
};

struct TokenBatch {
  Tensor inputs;                      // (B/dp, T) i32, host
  Tensor targets;                     // (B/dp, T) i32, host: inputs shifted by one token
  std::vector<std::int64_t> windows;  // B/dp: the window each row comes from
};

// Where a loader stands: the next window is number `index` of epoch `epoch`'s order. The same on
// every rank (all ranks advance by the global batch). Save it with a checkpoint.
struct LoaderState {
  std::uint64_t epoch = 0;
  std::int64_t index = 0;
  bool operator==(const LoaderState&) const = default;
};

// Serves a token stream of N tokens as W = (N - 1) / T non-overlapping windows of T + 1 tokens:
// window w covers tokens w T .. w T + T, its first T are the inputs and its last T the targets (the
// last N - 1 - W T tokens are never inputs). Each epoch visits the W windows in a Fisher-Yates
// permutation drawn from Rng(seed, stream_id(sampler, epoch, 0)). Training step s takes the next B
// windows of the epochs' orders laid end to end (crossing into the next epoch where one ends, so
// B > W is allowed: windows then repeat across epochs) and rank d takes its contiguous block
// d B/dp .. (d+1) B/dp - 1 of them. Every rank builds its loader from the same tokens and options
// except dp_rank. All of it is sequential integer work: the same on every machine.
class TokenLoader {
 public:
  // Shares `tokens` (never modified). InputError for T < 1, B < 1, dp_size < 1, B not divisible by
  // dp_size, dp_rank outside [0, dp_size), or fewer than T + 1 tokens (no whole window).
  TokenLoader(std::shared_ptr<const std::vector<std::uint16_t>> tokens, const TokenLoaderOptions& options);
  // Copies `tokens`.
  TokenLoader(std::span<const std::uint16_t> tokens, const TokenLoaderOptions& options);
  TokenLoader(const TokenFile& file, const TokenLoaderOptions& options);

  const TokenLoaderOptions& options() const { return options_; }
  std::int64_t token_count() const { return static_cast<std::int64_t>(tokens_->size()); }
  std::int64_t windows() const { return windows_; }  // W
  std::int64_t local_batch() const { return options_.global_batch / options_.dp_size; }  // B/dp
  std::int64_t tokens_per_step() const { return options_.global_batch * options_.seq_len; }  // B T, all ranks
  // Steps that cover every window once in order (eval_batch 0 .. eval_steps() - 1): ceil(W / B).
  std::int64_t eval_steps() const { return (windows_ + options_.global_batch - 1) / options_.global_batch; }

  // This rank's share of the next training step; advances the position by B windows.
  TokenBatch next_batch();

  // Evaluation: step k of an unshuffled walk over the windows, the windows k B .. k B + B - 1 (mod W:
  // wrapping to window 0), rank d taking its block as in training. Does not touch the position.
  TokenBatch eval_batch(std::int64_t step) const;

  // The window order of `epoch` (a permutation of 0 .. W-1).
  std::vector<std::int64_t> epoch_order(std::uint64_t epoch) const;

  LoaderState state() const { return state_; }
  // Continues from a saved state: the batches that follow are those an uninterrupted loader gives.
  // InputError when index is not in [0, W) or the epoch is beyond the last one (a state saved with
  // another token file or sequence length).
  void restore(const LoaderState& state);

 private:
  std::shared_ptr<const std::vector<std::uint16_t>> tokens_;
  TokenLoaderOptions options_;
  std::int64_t windows_ = 0;
  LoaderState state_;
  std::uint64_t cached_epoch_ = ~std::uint64_t{0};
  std::vector<std::int64_t> order_;

  std::int64_t shuffled_window(std::uint64_t epoch, std::int64_t index);
  TokenBatch make_batch(std::span<const std::int64_t> windows) const;
};

}  // namespace meridian::data
