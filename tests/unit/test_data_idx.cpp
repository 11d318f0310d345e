// lib/data IDX and Fashion-MNIST reading: synthetic files (gzip and raw) written to a temp directory
// and read back exactly; every kind of damage gives one InputError naming the file; a fuzz pass of
// random byte flips and truncations; the real dataset when Debian's package is installed.
// Images are (N, 1, 28, 28) f32, labels (N) i32.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/file_bytes.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "kernels/common/error.hpp"
#include "common/input_error.hpp"

namespace fs = std::filesystem;
using meridian::InputError;
using meridian::Rng;
using meridian::StreamPurpose;
using namespace meridian::data;

namespace {

using meridian::testing::Bytes;

// A temp directory per test, removed afterwards.
class DataFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("meridian_data_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// n images of rows x cols with a recognisable pattern, and labels (i * 7 + 3) mod classes.
IdxArray make_images(std::uint32_t n, std::uint32_t rows = 28, std::uint32_t cols = 28) {
  IdxArray a{{n, rows, cols}, {}};
  a.bytes.resize(static_cast<std::size_t>(a.numel()));
  for (std::size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<std::uint8_t>((i * 131 + i / 7) & 0xFF);
  return a;
}
IdxArray make_labels(std::uint32_t n, int classes = 10) {
  IdxArray a{{n}, {}};
  for (std::uint32_t i = 0; i < n; ++i)
    a.bytes.push_back(static_cast<std::uint8_t>((i * 7 + 3) % static_cast<std::uint32_t>(classes)));
  return a;
}

using meridian::testing::read_bytes;
using meridian::testing::write_raw;

using meridian::testing::input_error;

void expect_contains(const std::string& message, std::initializer_list<std::string> parts) {
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "missing \"" << part << "\" in: " << message;
}

}  // namespace

TEST_F(DataFiles, IdxRoundTripsRawAndGzipExactly) {
  const std::vector<IdxArray> arrays = {make_images(5), make_labels(17), IdxArray{{3, 4}, Bytes(12, 7)},
                                        IdxArray{{2, 1, 3, 2}, Bytes{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}}};
  for (const bool gzip : {false, true}) {
    for (std::size_t k = 0; k < arrays.size(); ++k) {
      std::string name = "a";  // (built in steps: g++ 12 warns falsely on a + b + c here)
      name += std::to_string(k);
      if (gzip) name += ".gz";
      const std::string p = path(name);
      write_file(p, encode_idx(arrays[k]), gzip);
      EXPECT_EQ(read_bytes(p).size() < encode_idx(arrays[k]).size() + 8, !gzip || arrays[k].bytes.size() > 100);
      EXPECT_EQ(read_idx(p), arrays[k]) << p;
      EXPECT_EQ(read_idx(p, static_cast<int>(arrays[k].dims.size())), arrays[k]) << p;
    }
  }
  // The header is big-endian: 0x00000803, then 5, 28, 28.
  const Bytes encoded = encode_idx(make_images(5));
  const Bytes head(encoded.begin(), encoded.begin() + 16);
  EXPECT_EQ(head, (Bytes{0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28}));
}

TEST_F(DataFiles, DatasetHoldsNormalisedPixelsAndLabels) {
  const IdxArray images = make_images(6), labels = make_labels(6);
  write_file(path("i.gz"), encode_idx(images), true);
  write_file(path("l"), encode_idx(labels), false);
  for (const PixelNormalization norm : {PixelNormalization{}, PixelNormalization::unit_range()}) {
    IdxDatasetOptions options;
    options.normalization = norm;
    const Dataset d = load_idx_dataset(path("i.gz"), path("l"), options);
    ASSERT_EQ(d.images.shape(), (meridian::Shape{6, 1, 28, 28}));
    EXPECT_EQ(d.classes, 10);
    ASSERT_EQ(d.size(), 6);
    const float* x = d.images.data<float>();
    for (std::size_t i = 0; i < images.bytes.size(); ++i) ASSERT_EQ(x[i], normalize_pixel(images.bytes[i], norm)) << i;
    for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(d.labels[i], labels.bytes[i]);
  }
  EXPECT_EQ(normalize_pixel(0, PixelNormalization::unit_range()), 0.0f);
  EXPECT_EQ(normalize_pixel(255, PixelNormalization::unit_range()), 1.0f);
  EXPECT_FLOAT_EQ(normalize_pixel(0, {}), -0.2860f / 0.3530f);
  EXPECT_FLOAT_EQ(normalize_pixel(255, {}), (1.0f - 0.2860f) / 0.3530f);
}

TEST_F(DataFiles, FashionMnistLayoutFromAnyDirectoryGzipPreferred) {
  for (const char* split : {"train", "t10k"}) {
    write_file(path(std::string(split) + "-images-idx3-ubyte.gz"), encode_idx(make_images(4)), true);
    write_file(path(std::string(split) + "-labels-idx1-ubyte.gz"), encode_idx(make_labels(4)), true);
  }
  // A raw file next to the .gz one is ignored (the .gz is read); a raw file alone is read.
  write_file(path("train-images-idx3-ubyte"), encode_idx(make_images(9)), false);
  FashionMnistOptions options;
  options.dir = dir_.string();
  const Dataset train = load_fashion_mnist(Split::train, options);
  EXPECT_EQ(train.size(), 4);
  EXPECT_EQ(fashion_mnist_file(dir_.string(), Split::train, false), path("train-images-idx3-ubyte.gz"));
  fs::remove(path("t10k-labels-idx1-ubyte.gz"));
  write_file(path("t10k-labels-idx1-ubyte"), encode_idx(make_labels(4)), false);
  const Dataset test = load_fashion_mnist(Split::test, options);
  EXPECT_EQ(test.size(), 4);
  EXPECT_EQ(test.labels, train.labels);
}

// Each damaged pair must fail with the damaged file's name and what was wrong, raw and gzip alike.
TEST_F(DataFiles, EveryCorruptionIsAnInputErrorNamingTheFile) {
  const Bytes good_images = encode_idx(make_images(5)), good_labels = encode_idx(make_labels(5));
  struct Case {
    const char* name;
    Bytes images, labels;
    bool bad_is_labels;
    std::vector<std::string> expect;
  };
  auto with = [](Bytes b, std::size_t at, std::uint8_t v) { b[at] = v; return b; };
  auto cut = [](Bytes b, std::size_t n) { b.resize(b.size() - n); return b; };
  auto plus = [](Bytes b, Bytes extra) { b.insert(b.end(), extra.begin(), extra.end()); return b; };
  Bytes labels_ten = good_labels;
  labels_ten[8 + 3] = 10;
  const std::vector<Case> cases = {
      {"bad_magic_labels_as_images", good_labels, good_labels, false,
       {"bad magic number at byte 0", "expected 0x00000803", "found 0x00000801"}},
      {"bad_magic_type", with(good_images, 2, 0x0D), good_labels, false, {"bad magic", "float32"}},
      {"bad_magic_not_idx", with(good_images, 0, 0x1F), good_labels, false, {"bad magic", "not an IDX header"}},
      {"bad_magic_labels", good_images, good_images, true, {"expected 0x00000801", "found 0x00000803"}},
      {"wrong_dims", encode_idx(make_images(5, 27, 28)), good_labels, false, {"27x28", "28x28"}},
      {"zero_dim", with(good_images, 7, 0), good_labels, false, {"dimension 0", "is 0"}},
      {"truncated_payload", cut(good_images, 100), good_labels, false,
       {"truncated", "3920 payload bytes", "ends at byte 3836"}},
      {"truncated_header", Bytes(good_images.begin(), good_images.begin() + 10), good_labels, false,
       {"header ends at byte 10", "truncated"}},
      {"empty_file", Bytes{}, good_labels, false, {"only 0 bytes"}},
      {"truncated_labels", good_images, cut(good_labels, 1), true, {"truncated"}},
      {"count_mismatch", good_images, encode_idx(make_labels(6)), true, {"holds 5 images", "holds 6 labels"}},
      {"label_out_of_range", good_images, labels_ten, true, {"label 10 of sample 3", "byte 11", "10 classes"}},
      {"trailing_bytes", plus(good_images, {1, 2, 3}), good_labels, false,
       {"after the payload", "3 more from byte 3936"}},
      {"trailing_labels", good_images, plus(good_labels, Bytes(5000, 0)), true,
       {"after the payload", "at least 4096 more"}},
      {"huge_count", with(good_images, 4, 0xFF), good_labels, false, {"truncated", "4278190085x28x28"}},
      {"dims_overflow", with(with(good_images, 4, 0xFF), 8, 0xFF), good_labels, false, {"overflow 64 bits"}},
  };
  for (const Case& c : cases) {
    for (const bool gzip : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (gzip ? " gzip" : " raw"));
      const std::string suffix = gzip ? ".gz" : "";
      const std::string images = path(std::string(c.name) + "-images" + suffix);
      const std::string labels = path(std::string(c.name) + "-labels" + suffix);
      write_file(images, c.images, gzip);
      write_file(labels, c.labels, gzip);
      const std::string msg = input_error([&] { (void)load_idx_dataset(images, labels); });
      expect_contains(msg, {c.bad_is_labels ? labels : images});
      for (const std::string& part : c.expect) expect_contains(msg, {part});
      // Offsets into a gzip file's content say so.
      const std::string name = c.name;
      if (gzip && (name.starts_with("bad_magic") || name.starts_with("truncated") || name.starts_with("trailing")))
        expect_contains(msg, {"of the decompressed data"});
    }
  }
}

TEST_F(DataFiles, DamagedGzipStreamsAreInputErrors) {
  const Bytes idx = encode_idx(make_images(20));
  write_file(path("full.gz"), idx, true);
  const Bytes gz = read_bytes(path("full.gz"));
  // Cut anywhere: in the deflate data, inside the 8-byte CRC/size trailer, after the header.
  for (const std::size_t keep : {gz.size() / 2, gz.size() - 5, gz.size() - 1, std::size_t{12}}) {
    write_raw(path("cut.gz"), Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(keep)));
    expect_contains(input_error([&] { (void)read_idx(path("cut.gz")); }), {path("cut.gz")});
  }
  // A wrong CRC-32 in the trailer (the data itself intact).
  Bytes bad_crc = gz;
  bad_crc[gz.size() - 8] ^= 0x55;
  write_raw(path("crc.gz"), bad_crc);
  expect_contains(input_error([&] { (void)read_idx(path("crc.gz")); }),
                  {path("crc.gz"), "corrupt gzip data", "incorrect data check"});
}

TEST_F(DataFiles, MissingFilesNameThePackageAndTheDataOption) {
  FashionMnistOptions options;
  options.dir = path("nowhere");
  const std::string no_dir = input_error([&] { (void)load_fashion_mnist(Split::train, options); });
  expect_contains(no_dir, {path("nowhere"), "does not exist", "apt-get install dataset-fashion-mnist", "--data DIR"});

  options.dir = dir_.string();
  write_file(path("train-images-idx3-ubyte.gz"), encode_idx(make_images(3)), true);
  const std::string no_labels = input_error([&] { (void)load_fashion_mnist(Split::train, options); });
  expect_contains(no_labels, {path("train-labels-idx1-ubyte.gz"), path("train-labels-idx1-ubyte") + " exists",
                              "apt-get install dataset-fashion-mnist", "--data DIR"});
  const std::string no_test = input_error([&] { (void)load_fashion_mnist(Split::test, options); });
  expect_contains(no_test, {path("t10k-images-idx3-ubyte.gz"), "apt-get install dataset-fashion-mnist"});

  options.dir = path("train-images-idx3-ubyte.gz");  // a file, not a directory
  expect_contains(input_error([&] { (void)load_fashion_mnist(Split::train, options); }),
                  {"is not a directory", "--data"});
  expect_contains(input_error([&] { (void)read_idx(path("absent")); }), {path("absent"), "no such file"});
  // A damaged Fashion-MNIST file says how to reinstall.
  write_file(path("train-labels-idx1-ubyte.gz"), encode_idx(make_labels(4)), true);
  options.dir = dir_.string();
  expect_contains(input_error([&] { (void)load_fashion_mnist(Split::train, options); }),
                  {"holds 3 images", "holds 4 labels", "apt-get install --reinstall dataset-fashion-mnist"});
}

// Hundreds of random mutations of a valid file: every read either throws InputError or returns
// exactly what the (mutated) bytes say; it never crashes or throws anything else. Under gzip the
// CRC-32 must catch any change of the content, so a successful read returns the original array.
TEST_F(DataFiles, FuzzedFilesReadCorrectlyOrFailWithInputError) {
  const IdxArray images = make_images(3, 6, 5), labels = make_labels(3);
  Rng rng(2024, meridian::stream_id(StreamPurpose::test, 11, 0));
  int errors = 0, reads = 0;
  for (const bool gzip : {false, true}) {
    const std::string clean = path(gzip ? "clean.gz" : "clean");
    write_file(clean, encode_idx(images), gzip);
    write_file(path(gzip ? "labels.gz" : "labels"), encode_idx(labels), gzip);
    const Bytes original = read_bytes(clean);
    for (int trial = 0; trial < 400; ++trial) {
      Bytes bytes = original;
      const auto kind = rng.below(4);
      if (kind == 0) {
        bytes.resize(static_cast<std::size_t>(rng.below(bytes.size())));
      } else {
        const auto flips = 1 + rng.below(kind == 3 ? 8 : 2);
        for (std::uint64_t f = 0; f < flips; ++f)
          bytes[static_cast<std::size_t>(rng.below(bytes.size()))] ^= static_cast<std::uint8_t>(1 + rng.below(255));
        if (kind == 2 && !gzip)  // and one bit of the header
          bytes[static_cast<std::size_t>(rng.below(16))] ^= static_cast<std::uint8_t>(1u << rng.below(8));
      }
      const std::string p = path(gzip ? "fuzz.gz" : "fuzz");
      write_raw(p, bytes);
      try {
        const IdxArray got = read_idx(p, 3);
        ++reads;
        if (gzip) {
          ASSERT_EQ(got, images) << "trial " << trial;
        } else {
          ASSERT_EQ(bytes.size(), 16 + got.bytes.size()) << "trial " << trial;
          ASSERT_EQ(got.dims, images.dims) << "trial " << trial;  // a dims change must break the length
          ASSERT_TRUE(std::equal(got.bytes.begin(), got.bytes.end(), bytes.begin() + 16)) << "trial " << trial;
        }
        // The whole dataset path as well: a clean labels file with the mutated images.
        IdxDatasetOptions any_size;
        any_size.rows = any_size.cols = 0;
        const Dataset d = load_idx_dataset(p, path(gzip ? "labels.gz" : "labels"), any_size);
        ASSERT_EQ(d.size(), 3);
      } catch (const InputError& e) {
        ++errors;
        ASSERT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
      }
    }
  }
  std::printf("[ fuzz     ] %d mutated files: %d read, %d InputError\n", reads + errors, reads, errors);
  EXPECT_GT(errors, 400);
  EXPECT_GT(reads, 50);
}

// The installed Debian dataset: counts, class balance, the first training label, the published
// mean and std of the pixels, and the read time.
TEST(FashionMnistReal, TrainAndTestSetsWhenInstalled) {
  const std::string dir = kFashionMnistDefaultDir;
  if (fashion_mnist_file(dir, Split::train, false).empty() || fashion_mnist_file(dir, Split::test, true).empty())
    GTEST_SKIP() << "Fashion-MNIST is not installed in " << dir << " (apt-get install dataset-fashion-mnist)";
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset train = load_fashion_mnist(Split::train);
  const double train_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ timing   ] read + normalised 60000 Fashion-MNIST training images in %.1f ms\n", train_ms);
  ASSERT_EQ(train.images.shape(), (meridian::Shape{60000, 1, 28, 28}));
  EXPECT_EQ(train.labels[0], 9);  // ankle boot
  EXPECT_EQ(label_histogram(train.labels, 10), std::vector<std::int64_t>(10, 6000));

  const Dataset test = load_fashion_mnist(Split::test);
  ASSERT_EQ(test.images.shape(), (meridian::Shape{10000, 1, 28, 28}));
  EXPECT_EQ(label_histogram(test.labels, 10), std::vector<std::int64_t>(10, 1000));

  // Standardised training pixels have mean ~0 and std ~1 (the constants are rounded to 4 digits).
  double sum = 0, sum2 = 0;
  const float* x = train.images.data<float>();
  const auto n = static_cast<std::size_t>(train.images.numel());
  for (std::size_t i = 0; i < n; ++i) {
    sum += x[i];
    sum2 += static_cast<double>(x[i]) * x[i];
  }
  const double mean = sum / static_cast<double>(n), std = std::sqrt(sum2 / static_cast<double>(n) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(std, 1.0, 0.002);
}
