// lib/data byte tokens: the tokenizer round trip, token files written and read back exactly, every
// kind of damaged file one InputError naming the file (plus a fuzz pass), corpus files cut into
// documents, the seeded train/validation split, and the window loader (coverage per epoch, dp
// slices, resume). Batches are (B/dp, T) i32 inputs and targets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "common/file_bytes.hpp"
#include "common/input_error.hpp"
#include "core/rng.hpp"
#include "data/tokens.hpp"
#include "kernels/common/error.hpp"

namespace fs = std::filesystem;
using meridian::InputError;
using meridian::Rng;
using meridian::StreamPurpose;
using meridian::testing::input_error;
using namespace meridian::data;

namespace {

using meridian::testing::Bytes;
using Tokens = std::vector<std::uint16_t>;

// A temp directory per test, removed afterwards.
class TokenFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "meridian_tokens_";  // (built in steps: g++ 12 warns falsely on long a + b + c)
    name += std::to_string(::getpid());
    name += "_";
    name += info->name();
    dir_ = fs::temp_directory_path() / name;
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

using meridian::testing::read_bytes;
using meridian::testing::write_raw;
void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

void expect_contains(const std::string& message, std::initializer_list<std::string> parts) {
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "missing \"" << part << "\" in: " << message;
}

void put_le32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_le64(Bytes& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

// n tokens with a pattern that covers every value below `vocab`, including the end of text.
Tokens pattern_tokens(std::size_t n, int vocab = kByteVocab) {
  Tokens t(n);
  const auto v = static_cast<std::size_t>(vocab);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint16_t>((i * 37 + i / 5) % v);
  return t;
}

std::vector<double> values(const meridian::Tensor& t) { return t.to_vector(); }

TokenLoaderOptions loader_options(std::int64_t seq_len, std::int64_t batch, int rank = 0, int dp = 1,
                                  std::uint64_t seed = 7) {
  TokenLoaderOptions o;
  o.seq_len = seq_len;
  o.global_batch = batch;
  o.dp_rank = rank;
  o.dp_size = dp;
  o.seed = seed;
  return o;
}

}  // namespace

// ---- Tokenizer ------------------------------------------------------------------------------------

TEST(ByteTokenizer, RoundTripsEveryByteAndRendersEndOfText) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const Tokens t = encode(all);
  ASSERT_EQ(t.size(), 256u);
  for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], i);
  EXPECT_EQ(decode(t), all);
  const std::string utf8 = "na\xC3\xAFve caf\xC3\xA9\n";
  EXPECT_EQ(encode(utf8).size(), utf8.size());
  EXPECT_EQ(decode(encode(utf8)), utf8);
  EXPECT_TRUE(encode("").empty());
  const Tokens with_eot = {'h', 'i', kEndOfText, 'x', 300};
  EXPECT_EQ(decode(with_eot), "hi<|eot|>x<|300|>");
  EXPECT_EQ(kByteVocab, 257);
  EXPECT_EQ(kEndOfText, 256);
}

// ---- Token file -----------------------------------------------------------------------------------

TEST_F(TokenFiles, WriteReadRoundTripAndLayout) {
  const Tokens tokens = pattern_tokens(1000);
  write_token_file(path("a.bin"), tokens);
  const TokenFile got = read_token_file(path("a.bin"));
  EXPECT_EQ(got.vocab, kByteVocab);
  EXPECT_EQ(got.tokens, tokens);

  // Header: magic, version 1, vocab 257, count 1000, reserved 0; then little-endian u16s.
  const Bytes bytes = read_bytes(path("a.bin"));
  ASSERT_EQ(bytes.size(), 32u + 2 * tokens.size());
  EXPECT_EQ(bytes, encode_token_file(tokens, kByteVocab));
  const Bytes head(bytes.begin(), bytes.begin() + 32);
  EXPECT_EQ(head, (Bytes{'M', 'R', 'D', 'N', 'T', 'O', 'K', 0, 1, 0, 0, 0, 0x01, 0x01, 0, 0,
                         0xE8, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(bytes[32 + 2 * 7], tokens[7] & 0xFF);
  EXPECT_EQ(bytes[32 + 2 * 7 + 1], tokens[7] >> 8);

  // The full 16-bit range and the smallest file (one token); rewriting replaces the file.
  Tokens wide = {0, 1, 255, 256, 257, 40000, 65535};
  write_token_file(path("a.bin"), wide, 65536);
  EXPECT_EQ(read_token_file(path("a.bin")), (TokenFile{65536, wide}));
  write_token_file(path("one.bin"), Tokens{0}, 1);
  EXPECT_EQ(read_token_file(path("one.bin")), (TokenFile{1, Tokens{0}}));
  // More than one chunk of the reader and writer (2^20 tokens each).
  const Tokens big = pattern_tokens((std::size_t{1} << 20) + 3);
  write_token_file(path("big.bin"), big);
  EXPECT_EQ(read_token_file(path("big.bin")).tokens, big);
}

TEST_F(TokenFiles, WriterRejectsWhatNoFileMayHold) {
  expect_contains(input_error([&] { write_token_file(path("e.bin"), Tokens{}); }), {"no token to write"});
  expect_contains(input_error([&] { write_token_file(path("v.bin"), Tokens{1}, 0); }), {"vocabulary size 0"});
  expect_contains(input_error([&] { write_token_file(path("v.bin"), Tokens{1}, 65537); }),
                  {"vocabulary size 65537"});
  expect_contains(input_error([&] { write_token_file(path("nowhere/x.bin"), Tokens{1}); }),
                  {"cannot create token file", path("nowhere/x.bin"), "folder exists"});
  EXPECT_THROW(write_token_file(path("t.bin"), Tokens{1, 300}), meridian::Error);  // token >= vocab: a bug
}

// Each damaged file fails with one InputError naming it and saying what is wrong.
TEST_F(TokenFiles, EveryDefectIsAnInputErrorNamingTheFile) {
  const Tokens tokens = pattern_tokens(40);
  const Bytes good = encode_token_file(tokens, kByteVocab);
  auto with32 = [&](std::size_t at, std::uint32_t v) { Bytes b = good; put_le32(b, at, v); return b; };
  auto with64 = [&](std::size_t at, std::uint64_t v) { Bytes b = good; put_le64(b, at, v); return b; };
  auto cut = [&](std::size_t n) { return Bytes(good.begin(), good.end() - static_cast<std::ptrdiff_t>(n)); };
  Bytes trailing = good;
  trailing.insert(trailing.end(), 5, 0xAB);
  Bytes bad_magic = good;
  bad_magic[0] = 'X';
  Bytes idx_like = good;
  for (std::size_t i = 0; i < 8; ++i) idx_like[i] = Bytes{0, 0, 8, 3, 0, 0, 0, 5}[i];
  Bytes bad_token = good;
  put_le32(bad_token, 12, 100);  // vocab 100: token 3 is (3*37) % 257 = 111
  Bytes zero_count(good.begin(), good.begin() + 32);
  put_le64(zero_count, 16, 0);

  struct Case {
    const char* name;
    Bytes bytes;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"empty", Bytes{}, {"only 0 bytes", "32-byte header", "tokenize"}},
      {"short_header", Bytes(good.begin(), good.begin() + 20), {"only 20 bytes", "32-byte header"}},
      {"bad_magic", bad_magic, {"not a Meridian token file", "XRDNTOK", "write one with the tokenize tool"}},
      {"idx_file", idx_like, {"not a Meridian token file", "\\x00\\x00\\x08\\x03"}},
      {"version_2", with32(8, 2), {"format version 2", "not supported", "reads version 1"}},
      {"vocab_0", with32(12, 0), {"vocabulary size 0", "outside [1, 65536]"}},
      {"vocab_too_big", with32(12, 65537), {"vocabulary size 65537", "outside [1, 65536]"}},
      {"count_0", zero_count, {"holds 0 tokens", "at least one"}},
      {"reserved", with64(24, 9), {"reserved header field", "is 9"}},
      {"truncated", cut(3), {"truncated", "40 tokens", "should have 112 bytes", "it has 109", "3 missing"}},
      {"truncated_payload", cut(80), {"truncated", "should have 112 bytes", "it has 32", "80 missing"}},
      {"count_too_big", with64(16, 41), {"truncated", "41 tokens", "should have 114 bytes", "it has 112"}},
      {"trailing", trailing, {"5 trailing bytes", "40 tokens", "end after 112 bytes", "it has 117"}},
      {"count_too_small", with64(16, 39), {"2 trailing bytes", "39 tokens", "it has 112"}},
      {"huge_count", with64(16, ~std::uint64_t{0}), {"more than any file can"}},
      {"token_out_of_range", bad_token, {"token 3 ", "is 111", "vocabulary size 100", "corrupt"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string p = path(std::string(c.name) + ".bin");
    write_raw(p, c.bytes);
    const std::string msg = input_error([&] { (void)read_token_file(p); });
    expect_contains(msg, {"token file " + p});
    for (const std::string& part : c.expect) expect_contains(msg, {part});
  }
  expect_contains(input_error([&] { (void)read_token_file(path("absent.bin")); }),
                  {path("absent.bin"), "no such file", "tokenize"});
  expect_contains(input_error([&] { (void)read_token_file(dir_.string()); }), {dir_.string(), "is a folder"});
  if (::geteuid() != 0) {  // root reads anything
    write_raw(path("locked.bin"), good);
    fs::permissions(path("locked.bin"), fs::perms::none);
    expect_contains(input_error([&] { (void)read_token_file(path("locked.bin")); }),
                    {path("locked.bin"), "cannot open it", "Permission denied"});
  }
}

// Random damage to a valid file: each read either returns a token file consistent with the bytes
// (every token below the vocabulary) or throws InputError naming the file; never anything else.
TEST_F(TokenFiles, FuzzedFilesReadConsistentlyOrFailWithInputError) {
  const Bytes original = encode_token_file(pattern_tokens(64, 300), 300);
  Rng rng(2025, meridian::stream_id(StreamPurpose::test, 21, 0));
  int errors = 0, reads = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    // A new name each time: rewriting one file in place makes ext4 flush it on every close (slow).
    const std::string p = path("fuzz" + std::to_string(trial) + ".bin");
    Bytes bytes = original;
    switch (rng.below(5)) {
      case 0:  // truncation anywhere
        bytes.resize(static_cast<std::size_t>(rng.below(bytes.size())));
        break;
      case 1: {  // extension by 1-8 random bytes
        const auto extra = 1 + rng.below(8);
        for (std::uint64_t i = 0; i < extra; ++i) bytes.push_back(static_cast<std::uint8_t>(rng.below(256)));
        break;
      }
      case 2:  // one bit of the header
        bytes[static_cast<std::size_t>(rng.below(32))] ^= static_cast<std::uint8_t>(1u << rng.below(8));
        break;
      default: {  // 1-4 bytes anywhere replaced
        const auto flips = 1 + rng.below(4);
        for (std::uint64_t f = 0; f < flips; ++f)
          bytes[static_cast<std::size_t>(rng.below(bytes.size()))] ^= static_cast<std::uint8_t>(1 + rng.below(255));
      }
    }
    write_raw(p, bytes);
    try {
      const TokenFile got = read_token_file(p);
      ++reads;
      ASSERT_EQ(bytes.size(), 32 + 2 * got.tokens.size()) << "trial " << trial;
      ASSERT_GE(got.vocab, 1) << "trial " << trial;
      for (std::size_t i = 0; i < got.tokens.size(); ++i) {
        ASSERT_LT(got.tokens[i], got.vocab) << "trial " << trial << " token " << i;
        ASSERT_EQ(got.tokens[i], bytes[32 + 2 * i] | (bytes[33 + 2 * i] << 8)) << "trial " << trial;
      }
    } catch (const InputError& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "trial " << trial << ": not an InputError: " << e.what();
    }
    fs::remove(p);
  }
  std::printf("[ fuzz     ] 2000 mutated token files: %d read, %d InputError\n", reads, errors);
  EXPECT_GT(errors, 800);
  EXPECT_GT(reads, 50);
}

// ---- Corpus ---------------------------------------------------------------------------------------

TEST(TokenCorpus, DocumentsAreCutAtExactSeparatorLines) {
  const std::string text = "one\nline\n%\ntwo\n%\n%\n  \n\t\n%\n%% not a separator\n %\n%\r\nlast";
  EXPECT_EQ(documents_from_text(text, "%"),
            (std::vector<std::string>{"one\nline\n", "two\n", "%% not a separator\n %\n", "last"}));
  EXPECT_EQ(documents_from_text(text, ""), std::vector<std::string>{text});
  EXPECT_EQ(documents_from_text("x\n--\ny\n", "--"), (std::vector<std::string>{"x\n", "y\n"}));
  EXPECT_TRUE(documents_from_text(" \n\n", "").empty());
  EXPECT_TRUE(documents_from_text("%\n%\n", "%").empty());
  EXPECT_TRUE(documents_from_text("", "%").empty());
}

TEST_F(TokenFiles, DefaultCorpusIsTheTopLevelTextFilesSorted) {
  write_text(path("wisdom"), "a\n%\nb\n");
  write_text(path("art"), "c\n");
  write_text(path("art.dat"), "index");
  write_text(path("misc.u8"), "not a symlink but a .u8 name");
  fs::create_symlink(path("art"), path("art.u8"));
  fs::create_directories(path("off"));
  write_text(path("off/rude"), "skipped");
  EXPECT_EQ(default_corpus_files(dir_.string()), (std::vector<std::string>{path("art"), path("wisdom")}));

  expect_contains(input_error([&] { (void)default_corpus_files(path("missing")); }),
                  {path("missing"), "does not exist", "fortunes", "apt-get install fortunes", "pass text files"});
  expect_contains(input_error([&] { (void)default_corpus_files(path("off/rude")); }), {"is not a folder"});
  fs::create_directories(path("empty"));
  write_text(path("empty/x.dat"), "index only");
  expect_contains(input_error([&] { (void)default_corpus_files(path("empty")); }),
                  {path("empty"), "holds no text file", "apt-get install fortunes"});
}

TEST_F(TokenFiles, InputsExpandFoldersAndReadDocuments) {
  fs::create_directories(path("d/sub"));
  write_text(path("d/b.txt"), "B1\n%\nB2\n");
  write_text(path("d/a.txt"), "A\n");
  write_text(path("d/a.txt.dat"), "strfile index of a.txt");  // X.dat beside X: skipped
  write_text(path("d/lone.dat"), "kept: no 'lone' beside it\n");
  write_text(path("d/.hidden"), "skipped");
  write_text(path("d/sub/deep.txt"), "skipped");
  fs::create_symlink(path("d/a.txt"), path("d/link.txt"));
  write_text(path("single.txt"), "S\n");
  const std::vector<std::string> inputs = {path("single.txt"), path("d")};
  const std::vector<std::string> files = expand_inputs(inputs);
  EXPECT_EQ(files,
            (std::vector<std::string>{path("single.txt"), path("d/a.txt"), path("d/b.txt"), path("d/lone.dat")}));
  EXPECT_EQ(read_documents(files, "%"),
            (std::vector<std::string>{"S\n", "A\n", "B1\n", "B2\n", "kept: no 'lone' beside it\n"}));
  EXPECT_EQ(read_documents(files, "").size(), 4u);

  expect_contains(input_error([&] { (void)expand_inputs(std::vector<std::string>{path("nope.txt")}); }),
                  {path("nope.txt"), "no such file or folder"});
  fs::create_directories(path("e/inner"));
  write_text(path("e/.only_hidden"), "x");
  expect_contains(input_error([&] { (void)expand_inputs(std::vector<std::string>{path("e")}); }),
                  {"input folder " + path("e"), "holds no file"});
}

TEST(TokenCorpus, DebianFortunesWhenInstalled) {
  if (!fs::is_directory(kFortunesDir)) GTEST_SKIP() << kFortunesDir << " is missing (apt-get install fortunes)";
  const std::vector<std::string> files = default_corpus_files();
  ASSERT_FALSE(files.empty());
  EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
  for (const std::string& f : files) {
    EXPECT_FALSE(f.ends_with(".dat") || f.ends_with(".u8")) << f;
    EXPECT_FALSE(fs::is_symlink(f)) << f;
  }
  const std::vector<std::string> docs = read_documents(files, "%");
  EXPECT_GT(docs.size(), 1000u);
  const TokenSplit split = split_documents(docs, 0.1, 1);
  EXPECT_EQ(split.train_docs + split.val_docs, static_cast<std::int64_t>(docs.size()));
  std::printf("[ corpus   ] %zu fortune files, %zu documents: %zu train / %zu val tokens\n", files.size(),
              docs.size(), split.train.size(), split.val.size());
}

// ---- Split ----------------------------------------------------------------------------------------

TEST(TokenSplitTest, DeterministicCompleteAndNearTheFraction) {
  std::vector<std::string> docs;
  for (int i = 0; i < 2000; ++i) docs.push_back("doc " + std::to_string(i) + "\n");
  const TokenSplit a = split_documents(docs, 0.1, 42);
  const TokenSplit b = split_documents(docs, 0.1, 42);
  const TokenSplit c = split_documents(docs, 0.1, 43);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  EXPECT_EQ(a.train_docs + a.val_docs, 2000);
  EXPECT_GT(a.val_docs, 150);  // binomial(2000, 0.1): mean 200, sd 13.4
  EXPECT_LT(a.val_docs, 250);
  // Each split is its documents in corpus order, each followed by the end of text.
  std::vector<std::uint16_t> train, val;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    Rng rng(42, meridian::stream_id(StreamPurpose::data, i, 0));
    auto& dst = rng.uniform_double() < 0.1 ? val : train;
    const Tokens t = encode(docs[i]);
    dst.insert(dst.end(), t.begin(), t.end());
    dst.push_back(kEndOfText);
  }
  EXPECT_EQ(a.train, train);
  EXPECT_EQ(a.val, val);
  EXPECT_EQ(std::count(a.val.begin(), a.val.end(), kEndOfText), a.val_docs);
  EXPECT_EQ(std::count(a.train.begin(), a.train.end(), kEndOfText), a.train_docs);

  const TokenSplit none = split_documents(docs, 0.0, 42);
  EXPECT_EQ(none.val_docs, 0);
  EXPECT_TRUE(none.val.empty());
  EXPECT_EQ(none.train_docs, 2000);
}

TEST(TokenSplitTest, EachSplitGetsADocumentWhenThereAreTwo) {
  const std::vector<std::string> two = {"first\n", "second\n"};
  const std::vector<std::string> five = {"a", "b", "c", "d", "e"};
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    for (const double f : {1e-9, 0.01, 0.5, 0.99, 0.999999}) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << " fraction " << f);
      const TokenSplit s = split_documents(two, f, seed);
      EXPECT_EQ(s.train_docs, 1);
      EXPECT_EQ(s.val_docs, 1);
      const TokenSplit s5 = split_documents(five, f, seed);
      EXPECT_GE(s5.train_docs, 1);
      EXPECT_GE(s5.val_docs, 1);
      EXPECT_EQ(s5.train_docs + s5.val_docs, 5);
    }
    // A single document always trains.
    const TokenSplit one = split_documents(std::vector<std::string>{"only"}, 0.9, seed);
    EXPECT_EQ(one.train_docs, 1);
    EXPECT_EQ(one.train, (Tokens{'o', 'n', 'l', 'y', kEndOfText}));
  }
}

TEST(TokenSplitTest, BadFractionsAndNoDocumentsAreInputErrors) {
  const std::vector<std::string> docs = {"a", "b"};
  for (const double f : {-0.1, 1.0, 1.5, std::nan("")})
    expect_contains(input_error([&] { (void)split_documents(docs, f, 1); }), {"validation fraction", "[0, 1)"});
  expect_contains(input_error([&] { (void)split_documents(std::vector<std::string>{}, 0.1, 1); }),
                  {"no document"});
}

// ---- Loader ---------------------------------------------------------------------------------------

TEST(TokenLoaderTest, WindowsShiftByOneAndCoverEachEpochOnce) {
  const Tokens tokens = pattern_tokens(24 * 8 + 5);  // W = (197 - 1) / 8 = 24
  TokenLoader loader(tokens, loader_options(8, 6));
  ASSERT_EQ(loader.windows(), 24);
  EXPECT_EQ(loader.local_batch(), 6);
  EXPECT_EQ(loader.tokens_per_step(), 48);
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::int64_t> seen;
    for (int step = 0; step < 4; ++step) {
      const TokenBatch b = loader.next_batch();
      ASSERT_EQ(b.inputs.shape(), (meridian::Shape{6, 8}));
      ASSERT_EQ(b.targets.shape(), (meridian::Shape{6, 8}));
      ASSERT_EQ(b.inputs.dtype(), meridian::DType::i32);
      const std::int32_t* x = b.inputs.data<std::int32_t>();
      const std::int32_t* y = b.targets.data<std::int32_t>();
      for (std::size_t r = 0; r < 6; ++r) {
        const auto w = static_cast<std::size_t>(b.windows[r]);
        for (std::size_t t = 0; t < 8; ++t) {
          ASSERT_EQ(x[r * 8 + t], tokens[w * 8 + t]);
          ASSERT_EQ(y[r * 8 + t], tokens[w * 8 + t + 1]);
          if (t + 1 < 8) {
            ASSERT_EQ(y[r * 8 + t], x[r * 8 + t + 1]);  // targets are inputs shifted by one
          }
        }
      }
      seen.insert(seen.end(), b.windows.begin(), b.windows.end());
    }
    EXPECT_EQ(seen, loader.epoch_order(epoch));
    std::sort(seen.begin(), seen.end());
    std::vector<std::int64_t> all(24);
    std::iota(all.begin(), all.end(), std::int64_t{0});
    EXPECT_EQ(seen, all) << "epoch " << epoch;
    EXPECT_EQ(loader.state(), (LoaderState{epoch + 1, 0}));
  }
  EXPECT_NE(loader.epoch_order(0), loader.epoch_order(1));
}

TEST(TokenLoaderTest, StepsRunThroughTheEpochOrdersEndToEnd) {
  // B does not divide W, and B > W: steps cross one or several epoch boundaries.
  const Tokens tokens = pattern_tokens(5 * 4 + 1);  // T = 4: W = 5
  for (const std::int64_t batch : {std::int64_t{3}, std::int64_t{8}, std::int64_t{12}}) {
    TokenLoader loader(tokens, loader_options(4, batch, 0, 1, 99));
    std::vector<std::int64_t> expected, got;
    for (std::uint64_t e = 0; e < 20; ++e) {
      const auto order = loader.epoch_order(e);
      expected.insert(expected.end(), order.begin(), order.end());
    }
    for (int step = 0; step < 7; ++step) {
      const TokenBatch b = loader.next_batch();
      got.insert(got.end(), b.windows.begin(), b.windows.end());
    }
    expected.resize(got.size());
    EXPECT_EQ(got, expected) << "batch " << batch;
    EXPECT_EQ(loader.state(), (LoaderState{static_cast<std::uint64_t>(7 * batch / 5), 7 * batch % 5}));
  }
}

TEST(TokenLoaderTest, DeterministicBySeed) {
  const Tokens tokens = pattern_tokens(1001);
  TokenLoader a(tokens, loader_options(10, 4, 0, 1, 5)), b(tokens, loader_options(10, 4, 0, 1, 5));
  TokenLoader c(tokens, loader_options(10, 4, 0, 1, 6));
  bool differs = false;
  for (int step = 0; step < 30; ++step) {
    const TokenBatch ba = a.next_batch(), bb = b.next_batch(), bc = c.next_batch();
    ASSERT_EQ(values(ba.inputs), values(bb.inputs));
    ASSERT_EQ(values(ba.targets), values(bb.targets));
    differs = differs || ba.windows != bc.windows;
  }
  EXPECT_TRUE(differs);
}

TEST(TokenLoaderTest, DataParallelSlicesConcatenateToTheWholeBatch) {
  const auto tokens = std::make_shared<const Tokens>(pattern_tokens(37 * 6 + 1));  // W = 37, T = 6
  for (const int dp : {2, 4}) {
    TokenLoader whole(tokens, loader_options(6, 8, 0, 1, 3));
    std::vector<TokenLoader> ranks;
    for (int r = 0; r < dp; ++r) ranks.emplace_back(tokens, loader_options(6, 8, r, dp, 3));
    for (int step = 0; step < 12; ++step) {  // crosses epochs (8 * 12 > 2 * 37)
      const TokenBatch all = whole.next_batch();
      std::vector<double> x, y;
      std::vector<std::int64_t> w;
      for (TokenLoader& rank : ranks) {
        const TokenBatch part = rank.next_batch();
        ASSERT_EQ(part.inputs.shape(), (meridian::Shape{8 / dp, 6}));
        const auto px = values(part.inputs), py = values(part.targets);
        x.insert(x.end(), px.begin(), px.end());
        y.insert(y.end(), py.begin(), py.end());
        w.insert(w.end(), part.windows.begin(), part.windows.end());
        ASSERT_EQ(rank.state(), whole.state());  // every rank advances by the global batch
      }
      ASSERT_EQ(w, all.windows) << "dp " << dp << " step " << step;
      ASSERT_EQ(x, values(all.inputs));
      ASSERT_EQ(y, values(all.targets));
    }
  }
}

TEST(TokenLoaderTest, RestoreContinuesExactlyLikeAnUninterruptedRun) {
  const Tokens tokens = pattern_tokens(23 * 5 + 3);  // W = 23, T = 5
  for (const int k : {0, 1, 4, 9}) {
    TokenLoader straight(tokens, loader_options(5, 6, 1, 2, 11));
    for (int s = 0; s < k; ++s) (void)straight.next_batch();
    const LoaderState saved = straight.state();
    // A fresh loader, and one that has run ahead (another epoch cached), both restored.
    TokenLoader fresh(tokens, loader_options(5, 6, 1, 2, 11));
    TokenLoader ahead(tokens, loader_options(5, 6, 1, 2, 11));
    for (int s = 0; s < 17; ++s) (void)ahead.next_batch();
    fresh.restore(saved);
    ahead.restore(saved);
    for (int s = 0; s < 10; ++s) {
      const TokenBatch want = straight.next_batch();
      for (TokenLoader* l : {&fresh, &ahead}) {
        const TokenBatch got = l->next_batch();
        ASSERT_EQ(got.windows, want.windows) << "k " << k << " step " << s;
        ASSERT_EQ(values(got.inputs), values(want.inputs));
        ASSERT_EQ(values(got.targets), values(want.targets));
      }
    }
    EXPECT_EQ(fresh.state(), straight.state());
  }
}

TEST(TokenLoaderTest, EvalBatchesWalkTheWindowsInOrderAndWrap) {
  const Tokens tokens = pattern_tokens(10 * 4 + 1);  // W = 10, T = 4
  TokenLoader r0(tokens, loader_options(4, 4, 0, 2)), r1(tokens, loader_options(4, 4, 1, 2));
  EXPECT_EQ(r0.eval_steps(), 3);  // ceil(10 / 4)
  EXPECT_EQ(r0.eval_batch(0).windows, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(r1.eval_batch(0).windows, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(r0.eval_batch(2).windows, (std::vector<std::int64_t>{8, 9}));
  EXPECT_EQ(r1.eval_batch(2).windows, (std::vector<std::int64_t>{0, 1}));  // wraps
  const TokenBatch b = r1.eval_batch(1);
  EXPECT_EQ(b.windows, (std::vector<std::int64_t>{6, 7}));
  EXPECT_EQ(b.inputs.item({0, 0}), tokens[24]);
  EXPECT_EQ(b.targets.item({1, 3}), tokens[7 * 4 + 4]);
  EXPECT_EQ(r0.state(), LoaderState{});  // evaluation leaves the training position alone
  EXPECT_EQ(values(r0.eval_batch(1).inputs), values(r0.eval_batch(1).inputs));
}

TEST(TokenLoaderTest, BadOptionsAndStatesAreInputErrors) {
  const Tokens tokens = pattern_tokens(100);
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(0, 4)); }), {"sequence length T = 0"});
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(8, 0)); }), {"global batch B = 0"});
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(8, 6, 0, 4)); }),
                  {"global batch B = 6", "not divisible by the 4 data-parallel ranks"});
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(8, 4, 2, 2)); }),
                  {"data-parallel rank 2", "outside [0, 2)"});
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(8, 4, -1, 2)); }),
                  {"data-parallel rank -1"});
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(8, 4, 0, 0)); }),
                  {"data-parallel size 0"});
  expect_contains(input_error([&] { (void)TokenLoader(tokens, loader_options(100, 4)); }),
                  {"100 tokens are too few for sequence length T = 100", "T + 1 = 101"});
  EXPECT_EQ(TokenLoader(tokens, loader_options(99, 4)).windows(), 1);  // exactly one window
  EXPECT_EQ(TokenLoader(TokenFile{kByteVocab, tokens}, loader_options(9, 4)).windows(), 11);

  TokenLoader loader(tokens, loader_options(9, 4));  // W = 11
  expect_contains(input_error([&] { loader.restore(LoaderState{0, 11}); }),
                  {"saved position 11", "11 windows", "another token file or sequence length"});
  expect_contains(input_error([&] { loader.restore(LoaderState{0, -1}); }), {"saved position -1"});
  loader.restore(LoaderState{5, 10});
  EXPECT_EQ(loader.state(), (LoaderState{5, 10}));
}
