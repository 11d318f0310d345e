// Fashion-MNIST (and any MNIST-style pair of unsigned-byte IDX files) read into a Dataset:
// images (N, 1, rows, cols) f32, normalised as stated by a PixelNormalization; labels (N) in
// [0, classes). Default location: Debian's dataset-fashion-mnist package.
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.hpp"

namespace meridian::data {

inline constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";
inline constexpr float kFashionMnistMean = 0.2860f;  // of pixel/255 over the training set
inline constexpr float kFashionMnistStd = 0.3530f;

// x = pixel / 255, then, when `standardize`, x = (x - mean) / std.
struct PixelNormalization {
  bool standardize = true;
  float mean = kFashionMnistMean;
  float std = kFashionMnistStd;
  static PixelNormalization unit_range() { return {false, 0.0f, 1.0f}; }  // pixel / 255 only
};

// The value a pixel becomes (the same float the readers store).
float normalize_pixel(std::uint8_t pixel, const PixelNormalization& norm);

struct IdxDatasetOptions {
  PixelNormalization normalization{};
  std::int64_t rows = 28;  // expected image height; 0 accepts any
  std::int64_t cols = 28;  // expected image width; 0 accepts any
  int classes = 10;        // every label must be below this
  std::string fix_hint;    // how to fix a bad file; ends every error message
};

// Reads an images file (magic 0x00000803: N x rows x cols) and a labels file (magic 0x00000801: N),
// gzip-compressed or raw, and checks them against each other and the options. Throws InputError
// naming the file for anything wrong (see read_idx, plus image size, count mismatch, label range).
Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const IdxDatasetOptions& options = {});

enum class Split { train, test };  // train-*: 60000 images; t10k-*: 10000

struct FashionMnistOptions {
  std::string dir = kFashionMnistDefaultDir;  // the app's --data DIR
  PixelNormalization normalization{};
};

// Reads DIR/{train,t10k}-images-idx3-ubyte[.gz] and the matching labels (the .gz file is used when
// both exist). A missing directory or file is an InputError naming the package
// (`apt-get install dataset-fashion-mnist`) and the --data option.
Dataset load_fashion_mnist(Split split, const FashionMnistOptions& options = {});

// The file a split's images or labels are read from in `dir` ("" when neither form exists).
std::string fashion_mnist_file(const std::string& dir, Split split, bool labels);

}  // namespace meridian::data
