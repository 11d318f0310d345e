// Byte tokens end to end: encoding, the checked token-file format (read in chunks, every header
// field and the exact length verified before any token is trusted), corpus files cut into
// documents, the seeded train/validation split, and the window loader with its resumable position.
#include "data/tokens.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numeric>

#include "core/rng.hpp"
#include "kernels/common/error.hpp"

namespace meridian::data {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kRewriteHint = "write it again with the tokenize tool (tokenize --out DIR)";
constexpr std::size_t kChunkTokens = std::size_t{1} << 20;  // tokens converted per read/write call
constexpr std::uint64_t kStreamField = std::uint64_t{1} << 24;  // stream_id's 24-bit components

std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
std::uint64_t load_le64(const std::uint8_t* p) {
  return std::uint64_t{load_le32(p)} | (std::uint64_t{load_le32(p + 4)} << 32);
}
void store_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void store_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

template <class... Args>
[[noreturn]] void fail_file(const std::string& path, const Args&... parts) {
  throw InputError(cat("token file ", path, ": ", parts...));
}

// The first 8 bytes as text for a message: printable ASCII as is, anything else as \xNN.
std::string show_magic(const std::uint8_t* p) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "\"";
  for (int i = 0; i < 8; ++i) {
    const std::uint8_t c = p[i];
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      s += static_cast<char>(c);
    } else {
      s += "\\x";
      s += kHex[c >> 4];
      s += kHex[c & 0xF];
    }
  }
  s += '"';
  return s;
}

// An open C stream, closed on every path (errno stays meaningful for messages, unlike iostreams).
class File {
 public:
  File(const std::string& path, const char* mode) : file_(std::fopen(path.c_str(), mode)) {}
  ~File() {
    if (file_ != nullptr) std::fclose(file_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  std::FILE* get() const { return file_; }
  int close() {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    return rc;
  }

 private:
  std::FILE* file_;
};

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos;
}

bool ends_with(const std::string& name, std::string_view suffix) {
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Regular files (not symlinks) at the top level of `dir`, sorted by name, those `skip` rejects left
// out. InputError when the folder cannot be listed.
template <class Skip>
std::vector<std::string> regular_files(const std::string& dir, Skip skip, std::string_view hint) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    if (!it->is_symlink(entry_ec) && it->is_regular_file(entry_ec) && !skip(it->path())) found.push_back(it->path());
  }
  if (ec) throw InputError(cat("cannot list the folder ", dir, " (", ec.message(), "). ", hint));
  std::sort(found.begin(), found.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  std::vector<std::string> out;
  out.reserve(found.size());
  for (const fs::path& p : found) out.push_back(p.string());
  return out;
}

void append_document(std::string& current, std::vector<std::string>& documents) {
  if (!is_blank(current)) documents.push_back(std::move(current));
  current.clear();
}

void advance(LoaderState& s, std::int64_t steps, std::int64_t windows) {
  s.index += steps;
  if (s.index >= windows) {
    s.epoch += static_cast<std::uint64_t>(s.index / windows);
    s.index %= windows;
  }
}

}  // namespace

// ---- Tokenizer ------------------------------------------------------------------------------------

std::vector<std::uint16_t> encode(std::string_view text) {
  std::vector<std::uint16_t> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
  return out;
}

std::string decode(std::span<const std::uint16_t> tokens) {
  std::string out;
  out.reserve(tokens.size());
  for (const std::uint16_t t : tokens) {
    if (t < 256) {
      out += static_cast<char>(static_cast<unsigned char>(t));
    } else if (t == kEndOfText) {
      out += kEndOfTextMark;
    } else {
      out += "<|";
      out += std::to_string(t);
      out += "|>";
    }
  }
  return out;
}

// ---- Token file -----------------------------------------------------------------------------------

std::vector<std::uint8_t> encode_token_file(std::span<const std::uint16_t> tokens, int vocab) {
  MERIDIAN_INPUT_CHECK(vocab >= 1 && vocab <= kMaxTokenVocab, "token file: vocabulary size ", vocab,
                       " is outside [1, ", kMaxTokenVocab, "] (tokens are 16-bit)");
  MERIDIAN_INPUT_CHECK(!tokens.empty(), "token file: no token to write (a token file holds at least one); "
                       "give the tokenize tool non-empty text");
  std::vector<std::uint8_t> out(kTokenFileHeaderBytes + 2 * tokens.size());
  std::memcpy(out.data(), kTokenFileMagic, sizeof kTokenFileMagic);
  store_le32(out.data() + 8, kTokenFileVersion);
  store_le32(out.data() + 12, static_cast<std::uint32_t>(vocab));
  store_le64(out.data() + 16, tokens.size());
  store_le64(out.data() + 24, 0);
  std::uint8_t* p = out.data() + kTokenFileHeaderBytes;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    MERIDIAN_CHECK(tokens[i] < vocab, "encode_token_file: token ", i, " is ", tokens[i], ", not below the vocabulary ",
                   vocab);
    p[2 * i] = static_cast<std::uint8_t>(tokens[i]);
    p[2 * i + 1] = static_cast<std::uint8_t>(tokens[i] >> 8);
  }
  return out;
}

void write_token_file(const std::string& path, std::span<const std::uint16_t> tokens, int vocab) {
  MERIDIAN_INPUT_CHECK(vocab >= 1 && vocab <= kMaxTokenVocab, "token file ", path, ": vocabulary size ", vocab,
                       " is outside [1, ", kMaxTokenVocab, "] (tokens are 16-bit)");
  MERIDIAN_INPUT_CHECK(!tokens.empty(), "token file ", path, ": no token to write (a token file holds at least "
                       "one); give the tokenize tool non-empty text");
  for (std::size_t i = 0; i < tokens.size(); ++i)
    MERIDIAN_CHECK(tokens[i] < vocab, "write_token_file ", path, ": token ", i, " is ", tokens[i],
                   ", not below the vocabulary ", vocab);
  errno = 0;
  File out(path, "wb");
  if (out.get() == nullptr)
    throw InputError(cat("cannot create token file ", path, " (", std::strerror(errno),
                         "): check that its folder exists and is writable"));
  const auto write_failed = [&] {
    return InputError(cat("writing token file ", path, " failed (", std::strerror(errno),
                          "): check the free space of its disk and try again"));
  };
  std::uint8_t header[kTokenFileHeaderBytes] = {};
  std::memcpy(header, kTokenFileMagic, sizeof kTokenFileMagic);
  store_le32(header + 8, kTokenFileVersion);
  store_le32(header + 12, static_cast<std::uint32_t>(vocab));
  store_le64(header + 16, tokens.size());
  if (std::fwrite(header, 1, sizeof header, out.get()) != sizeof header) throw write_failed();
  std::vector<std::uint8_t> chunk;
  for (std::size_t at = 0; at < tokens.size(); at += kChunkTokens) {
    const std::size_t n = std::min(kChunkTokens, tokens.size() - at);
    chunk.resize(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
      chunk[2 * i] = static_cast<std::uint8_t>(tokens[at + i]);
      chunk[2 * i + 1] = static_cast<std::uint8_t>(tokens[at + i] >> 8);
    }
    if (std::fwrite(chunk.data(), 1, chunk.size(), out.get()) != chunk.size()) throw write_failed();
  }
  if (out.close() != 0) throw write_failed();
}

TokenFile read_token_file(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status))
    fail_file(path, "no such file; write it with the tokenize tool (tokenize --out DIR) or check the path");
  if (fs::is_directory(status))
    fail_file(path, "is a folder, not a token file; give the path of a .bin file the tokenize tool wrote");
  errno = 0;
  File in(path, "rb");
  if (in.get() == nullptr)
    fail_file(path, "cannot open it (", std::strerror(errno), "); check its permissions");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) fail_file(path, "cannot read its size (", ec.message(), "); check that it is a plain file");

  std::uint8_t header[kTokenFileHeaderBytes];
  const std::size_t got = std::fread(header, 1, sizeof header, in.get());
  if (got < sizeof header)
    fail_file(path, "only ", got, " bytes, shorter than the ", kTokenFileHeaderBytes,
              "-byte header (empty or truncated); ", kRewriteHint);
  if (std::memcmp(header, kTokenFileMagic, sizeof kTokenFileMagic) != 0)
    fail_file(path, "not a Meridian token file (its first 8 bytes are ", show_magic(header), ", not ",
              show_magic(reinterpret_cast<const std::uint8_t*>(kTokenFileMagic)),
              "); write one with the tokenize tool (tokenize INPUT... --out DIR)");
  const std::uint32_t version = load_le32(header + 8);
  if (version != kTokenFileVersion)
    fail_file(path, "format version ", version, " (bytes 8-11) is not supported; this build reads version ",
              kTokenFileVersion, ": ", kRewriteHint, " of this build");
  const std::uint32_t vocab = load_le32(header + 12);
  if (vocab == 0 || vocab > kMaxTokenVocab)
    fail_file(path, "vocabulary size ", vocab, " (bytes 12-15) is outside [1, ", kMaxTokenVocab,
              "]: the header is corrupt; ", kRewriteHint);
  const std::uint64_t count = load_le64(header + 16);
  if (count == 0)
    fail_file(path, "the header says it holds 0 tokens (bytes 16-23); a token file needs at least one: ",
              kRewriteHint, " from non-empty text");
  const std::uint64_t reserved = load_le64(header + 24);
  if (reserved != 0)
    fail_file(path, "the reserved header field (bytes 24-31) is ", reserved, ", not 0: the header is corrupt; ",
              kRewriteHint);
  constexpr std::uint64_t kMaxCount = (std::numeric_limits<std::uint64_t>::max() - kTokenFileHeaderBytes) / 2;
  if (count > kMaxCount)
    fail_file(path, "the header says it holds ", count, " tokens, more than any file can (bytes 16-23 are "
              "corrupt); ", kRewriteHint);
  const std::uint64_t expected = kTokenFileHeaderBytes + 2 * count;
  if (size < expected)
    fail_file(path, "truncated: the header says ", count, " tokens, so the file should have ", expected,
              " bytes (", kTokenFileHeaderBytes, "-byte header + 2 per token), but it has ", size, " (",
              expected - size, " missing); ", kRewriteHint);
  if (size > expected)
    fail_file(path, size - expected, " trailing bytes: the header says ", count, " tokens, so the file should end "
              "after ", expected, " bytes (", kTokenFileHeaderBytes, "-byte header + 2 per token), but it has ",
              size, "; ", kRewriteHint);
  if (count > static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) / 2)
    fail_file(path, "the header says it holds ", count, " tokens, more than this machine can address");

  TokenFile out;
  out.vocab = static_cast<int>(vocab);
  out.tokens.resize(static_cast<std::size_t>(count));
  std::vector<std::uint8_t> chunk;
  for (std::size_t at = 0; at < out.tokens.size(); at += kChunkTokens) {
    const std::size_t n = std::min(kChunkTokens, out.tokens.size() - at);
    chunk.resize(2 * n);
    const std::size_t read = std::fread(chunk.data(), 1, chunk.size(), in.get());
    if (read != chunk.size())  // the size was checked: only a read error or a file changing under us
      fail_file(path, "reading failed at byte ", kTokenFileHeaderBytes + 2 * at + read, " of ", expected, " (",
                std::ferror(in.get()) ? std::strerror(errno) : "the file shrank while being read", ")");
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = static_cast<std::uint16_t>(chunk[2 * i] | (chunk[2 * i + 1] << 8));
      if (t >= vocab)
        fail_file(path, "token ", at + i, " (bytes ", kTokenFileHeaderBytes + 2 * (at + i), "-",
                  kTokenFileHeaderBytes + 2 * (at + i) + 1, ") is ", t, ", not below the vocabulary size ", vocab,
                  ": the file is corrupt; ", kRewriteHint);
      out.tokens[at + i] = t;
    }
  }
  return out;
}

// ---- Corpus ---------------------------------------------------------------------------------------

std::vector<std::string> default_corpus_files(const std::string& dir) {
  const std::string hint = cat("The default corpus is the text of Debian's 'fortunes' package: install it "
                               "(`apt-get install fortunes`, files in ", kFortunesDir,
                               ") or pass text files (or folders of them) as inputs");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(cat("the default corpus folder ", dir, fs::exists(dir, ec) ? " is not a folder. "
                                                                                : " does not exist. ", hint));
  const auto skip = [](const fs::path& p) {
    const std::string name = p.filename().string();
    return ends_with(name, ".dat") || ends_with(name, ".u8");
  };
  std::vector<std::string> files = regular_files(dir, skip, hint);
  if (files.empty()) throw InputError(cat("the default corpus folder ", dir, " holds no text file. ", hint));
  return files;
}

std::vector<std::string> expand_inputs(std::span<const std::string> inputs) {
  std::vector<std::string> out;
  for (const std::string& input : inputs) {
    std::error_code ec;
    const fs::file_status status = fs::status(input, ec);
    if (!fs::exists(status))
      throw InputError(cat("input ", input, ": no such file or folder; pass text files or folders of them"));
    if (fs::is_regular_file(status)) {
      out.push_back(input);
      continue;
    }
    MERIDIAN_INPUT_CHECK(fs::is_directory(status), "input ", input,
                         " is neither a file nor a folder; pass text files or folders of them");
    const auto skip = [](const fs::path& p) {
      const std::string name = p.filename().string();
      if (name.starts_with(".")) return true;
      if (!ends_with(name, ".dat")) return false;
      std::error_code exists_ec;  // strfile's index X.dat beside the fortune file X
      return fs::is_regular_file(p.parent_path() / name.substr(0, name.size() - 4), exists_ec);
    };
    const std::string hint = "Pass text files or folders of them";
    std::vector<std::string> files = regular_files(input, skip, hint);
    if (files.empty())
      throw InputError(cat("input folder ", input, " holds no file to read (only regular files at its top level "
                           "count: subfolders, symlinks and hidden files are skipped). ", hint));
    out.insert(out.end(), std::make_move_iterator(files.begin()), std::make_move_iterator(files.end()));
  }
  return out;
}

std::vector<std::string> documents_from_text(std::string_view text, std::string_view separator) {
  std::vector<std::string> documents;
  std::string current;
  if (separator.empty()) {
    current.assign(text);
    append_document(current, documents);
    return documents;
  }
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t newline = text.find('\n', at);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    const std::string_view line = text.substr(at, end - at);
    std::string_view bare = line;
    if (bare.ends_with('\n')) bare.remove_suffix(1);
    if (bare.ends_with('\r')) bare.remove_suffix(1);
    if (bare == separator) {
      append_document(current, documents);
    } else {
      current.append(line);
    }
    at = end;
  }
  append_document(current, documents);
  return documents;
}

std::vector<std::string> read_documents(std::span<const std::string> files, std::string_view separator) {
  std::vector<std::string> documents;
  for (const std::string& path : files) {
    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(cat("cannot open input file ", path, " (", std::strerror(errno), "); check the path "
                                  "and its permissions"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw InputError(cat("reading input file ", path, " failed; check that it is a readable file"));
    std::vector<std::string> docs = documents_from_text(text, separator);
    documents.insert(documents.end(), std::make_move_iterator(docs.begin()), std::make_move_iterator(docs.end()));
  }
  return documents;
}

// ---- Train / validation split ---------------------------------------------------------------------

TokenSplit split_documents(std::span<const std::string> documents, double val_fraction, std::uint64_t seed) {
  MERIDIAN_INPUT_CHECK(val_fraction >= 0.0 && val_fraction < 1.0, "validation fraction ", val_fraction,
                       " is outside [0, 1); give e.g. 0.1 (10% of the documents), or 0 for no validation split");
  MERIDIAN_INPUT_CHECK(!documents.empty(), "the corpus has no document: every input is empty or blank; pass text "
                       "files with some content");
  const std::size_t n = documents.size();
  MERIDIAN_CHECK(n / kStreamField < kStreamField, "split_documents: ", n, " documents are too many");
  std::vector<double> draw(n);
  std::vector<bool> to_val(n);
  for (std::size_t i = 0; i < n; ++i) {
    Rng rng(seed, stream_id(StreamPurpose::data, i % kStreamField, i / kStreamField));
    draw[i] = rng.uniform_double();
    to_val[i] = draw[i] < val_fraction;
  }
  const auto val_count = std::count(to_val.begin(), to_val.end(), true);
  if (n == 1) {
    to_val[0] = false;  // a single document always trains
  } else if (val_fraction > 0.0 && val_count == 0) {
    to_val[static_cast<std::size_t>(std::min_element(draw.begin(), draw.end()) - draw.begin())] = true;
  } else if (val_count == static_cast<std::ptrdiff_t>(n)) {
    to_val[static_cast<std::size_t>(std::max_element(draw.begin(), draw.end()) - draw.begin())] = false;
  }

  TokenSplit out;
  std::size_t tokens[2] = {0, 0};  // train, val
  for (std::size_t i = 0; i < n; ++i) tokens[to_val[i] ? 1 : 0] += documents[i].size() + 1;
  out.train.reserve(tokens[0]);
  out.val.reserve(tokens[1]);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::uint16_t>& dst = to_val[i] ? out.val : out.train;
    for (const char c : documents[i]) dst.push_back(static_cast<unsigned char>(c));
    dst.push_back(kEndOfText);
    ++(to_val[i] ? out.val_docs : out.train_docs);
  }
  return out;
}

// ---- Loader ---------------------------------------------------------------------------------------

TokenLoader::TokenLoader(std::shared_ptr<const std::vector<std::uint16_t>> tokens, const TokenLoaderOptions& options)
    : tokens_(std::move(tokens)), options_(options) {
  MERIDIAN_CHECK(tokens_ != nullptr, "TokenLoader: no token vector");
  const TokenLoaderOptions& o = options_;
  MERIDIAN_INPUT_CHECK(o.seq_len >= 1, "token loader: sequence length T = ", o.seq_len, " must be at least 1");
  MERIDIAN_INPUT_CHECK(o.global_batch >= 1, "token loader: global batch B = ", o.global_batch,
                       " sequences per step must be at least 1");
  MERIDIAN_INPUT_CHECK(o.dp_size >= 1, "token loader: data-parallel size ", o.dp_size, " must be at least 1");
  MERIDIAN_INPUT_CHECK(o.global_batch % o.dp_size == 0, "token loader: global batch B = ", o.global_batch,
                       " sequences is not divisible by the ", o.dp_size, " data-parallel ranks; use a multiple of ",
                       o.dp_size);
  MERIDIAN_INPUT_CHECK(o.dp_rank >= 0 && o.dp_rank < o.dp_size, "token loader: data-parallel rank ", o.dp_rank,
                       " is outside [0, ", o.dp_size, ")");
  const auto n = static_cast<std::int64_t>(tokens_->size());
  MERIDIAN_INPUT_CHECK(n - 1 >= o.seq_len, "token loader: ", n, " tokens are too few for sequence length T = ",
                       o.seq_len, ": one window needs T + 1 = ", o.seq_len + 1,
                       " tokens (T inputs, the targets one further); use a shorter sequence length or more text");
  windows_ = (n - 1) / o.seq_len;
}

TokenLoader::TokenLoader(std::span<const std::uint16_t> tokens, const TokenLoaderOptions& options)
    : TokenLoader(std::make_shared<const std::vector<std::uint16_t>>(tokens.begin(), tokens.end()), options) {}

TokenLoader::TokenLoader(const TokenFile& file, const TokenLoaderOptions& options)
    : TokenLoader(std::span<const std::uint16_t>(file.tokens), options) {}

std::vector<std::int64_t> TokenLoader::epoch_order(std::uint64_t epoch) const {
  MERIDIAN_CHECK(epoch / kStreamField < kStreamField, "TokenLoader: epoch ", epoch, " is beyond the last (2^48 - 1)");
  std::vector<std::int64_t> order(static_cast<std::size_t>(windows_));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Rng rng(options_.seed, stream_id(StreamPurpose::sampler, epoch % kStreamField, epoch / kStreamField));
  for (std::size_t i = order.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.below(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::int64_t TokenLoader::shuffled_window(std::uint64_t epoch, std::int64_t index) {
  if (epoch != cached_epoch_) {
    order_ = epoch_order(epoch);
    cached_epoch_ = epoch;
  }
  return order_[static_cast<std::size_t>(index)];
}

TokenBatch TokenLoader::make_batch(std::span<const std::int64_t> windows) const {
  const std::int64_t rows = static_cast<std::int64_t>(windows.size()), t_len = options_.seq_len;
  TokenBatch batch;
  batch.inputs = Tensor::empty({rows, t_len}, DType::i32);
  batch.targets = Tensor::empty({rows, t_len}, DType::i32);
  batch.windows.assign(windows.begin(), windows.end());
  std::int32_t* x = batch.inputs.data<std::int32_t>();
  std::int32_t* y = batch.targets.data<std::int32_t>();
  const std::uint16_t* tok = tokens_->data();
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint16_t* src = tok + windows[static_cast<std::size_t>(r)] * t_len;
    for (std::int64_t t = 0; t < t_len; ++t) {
      x[r * t_len + t] = src[t];
      y[r * t_len + t] = src[t + 1];
    }
  }
  return batch;
}

TokenBatch TokenLoader::next_batch() {
  const std::int64_t local = local_batch();
  LoaderState at = state_;
  advance(at, options_.dp_rank * local, windows_);
  std::vector<std::int64_t> windows(static_cast<std::size_t>(local));
  for (std::int64_t& w : windows) {
    w = shuffled_window(at.epoch, at.index);
    advance(at, 1, windows_);
  }
  advance(state_, options_.global_batch, windows_);
  return make_batch(windows);
}

TokenBatch TokenLoader::eval_batch(std::int64_t step) const {
  MERIDIAN_CHECK(step >= 0 && step <= std::numeric_limits<std::int64_t>::max() / (2 * options_.global_batch),
                 "TokenLoader::eval_batch: step ", step, " is out of range");
  const std::int64_t local = local_batch();
  const std::int64_t first = step * options_.global_batch + options_.dp_rank * local;
  std::vector<std::int64_t> windows(static_cast<std::size_t>(local));
  for (std::int64_t j = 0; j < local; ++j) windows[static_cast<std::size_t>(j)] = (first + j) % windows_;
  return make_batch(windows);
}

void TokenLoader::restore(const LoaderState& state) {
  MERIDIAN_INPUT_CHECK(state.index >= 0 && state.index < windows_, "token loader: saved position ", state.index,
                       " is outside the ", windows_, " windows of this token stream; was it saved with another "
                       "token file or sequence length?");
  MERIDIAN_INPUT_CHECK(state.epoch / kStreamField < kStreamField, "token loader: saved epoch ", state.epoch,
                       " is beyond the last supported epoch (2^48 - 1); the saved state is corrupt");
  state_ = state;
}

}  // namespace meridian::data
