// Fashion-MNIST loading: locate the files, read both IDX arrays, cross-check them, then convert the
// pixels through a 256-entry table (u8 -> normalised f32), so that the conversion is exact and fast.
#include "data/fashion_mnist.hpp"

#include <array>
#include <filesystem>

#include "data/idx.hpp"
#include "kernels/common/error.hpp"

namespace meridian::data {
namespace {

constexpr const char* kInstallHint =
    "Install Debian's package (`apt-get install dataset-fashion-mnist`, files in "
    "/usr/share/datasets/fashion-mnist) or pass --data DIR with the four IDX files "
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz (raw, uncompressed files are accepted too)";

constexpr const char* kCorruptHint =
    "The file is damaged or not Fashion-MNIST: reinstall it (`apt-get install --reinstall "
    "dataset-fashion-mnist`) or pass --data DIR with intact files";

std::string base_name(Split split, bool labels) {
  return std::string(split == Split::train ? "train" : "t10k") +
         (labels ? "-labels-idx1-ubyte" : "-images-idx3-ubyte");
}

}  // namespace

float normalize_pixel(std::uint8_t pixel, const PixelNormalization& norm) {
  const float x = static_cast<float>(pixel) / 255.0f;
  return norm.standardize ? (x - norm.mean) / norm.std : x;
}

Dataset load_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const IdxDatasetOptions& options) {
  MERIDIAN_CHECK(options.classes > 0 && options.rows >= 0 && options.cols >= 0,
                 "load_idx_dataset: classes ", options.classes, ", rows ", options.rows, ", cols ", options.cols);
  MERIDIAN_CHECK(!options.normalization.standardize || options.normalization.std > 0.0f,
                 "PixelNormalization: std must be positive, not ", options.normalization.std);
  const std::string_view hint = options.fix_hint;
  const IdxArray images = read_idx(images_path, 3, hint);
  const std::int64_t rows = images.dims[1], cols = images.dims[2];
  const auto fail_images = [&](const auto&... parts) {
    throw InputError(cat("IDX file ", images_path, ": ", parts..., ". ",
                         hint.empty() ? std::string_view("Check the file") : hint));
  };
  if ((options.rows != 0 && rows != options.rows) || (options.cols != 0 && cols != options.cols))
    fail_images("images are ", rows, "x", cols, " (dimensions 1 and 2, bytes 8-15 of the header) but ",
                options.rows, "x", options.cols, " are expected");

  const IdxArray labels = read_idx(labels_path, 1, hint);
  const std::int64_t n = images.dims[0];
  if (static_cast<std::int64_t>(labels.dims[0]) != n)
    throw InputError(cat("IDX files disagree: ", images_path, " holds ", n, " images but ", labels_path,
                         " holds ", labels.dims[0], " labels (count at bytes 4-7 of each header); both must come "
                         "from the same split. ", hint.empty() ? std::string_view("Check the files") : hint));
  for (std::size_t i = 0; i < labels.bytes.size(); ++i)
    if (labels.bytes[i] >= options.classes)
      throw InputError(cat("IDX file ", labels_path, ": label ", int{labels.bytes[i]}, " of sample ", i,
                           " (byte ", 8 + i, " of the data) is not below the ", options.classes,
                           " classes. ", hint.empty() ? std::string_view("Check the file") : hint));

  std::array<float, 256> table{};
  for (int p = 0; p < 256; ++p)
    table[static_cast<std::size_t>(p)] = normalize_pixel(static_cast<std::uint8_t>(p), options.normalization);
  Dataset out;
  out.classes = options.classes;
  out.images = Tensor::empty({n, 1, rows, cols}, DType::f32);
  float* dst = out.images.data<float>();
  const std::uint8_t* src = images.bytes.data();
  const std::size_t total = images.bytes.size();
  for (std::size_t i = 0; i < total; ++i) dst[i] = table[src[i]];
  out.labels.assign(labels.bytes.begin(), labels.bytes.end());
  return out;
}

std::string fashion_mnist_file(const std::string& dir, Split split, bool labels) {
  const std::filesystem::path base = std::filesystem::path(dir) / base_name(split, labels);
  std::error_code ec;
  for (const std::string& candidate : {base.string() + ".gz", base.string()})
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  return {};
}

Dataset load_fashion_mnist(Split split, const FashionMnistOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.dir, ec))
    throw InputError(cat("Fashion-MNIST not found: the directory ", options.dir,
                         std::filesystem::exists(options.dir, ec) ? " is not a directory. " : " does not exist. ",
                         kInstallHint));
  std::string paths[2];
  for (const bool labels : {false, true}) {
    std::string& path = paths[labels ? 1 : 0];
    path = fashion_mnist_file(options.dir, split, labels);
    if (path.empty()) {
      const std::string base = (std::filesystem::path(options.dir) / base_name(split, labels)).string();
      throw InputError(cat("Fashion-MNIST file missing: neither ", base, ".gz nor ", base, " exists. ",
                           kInstallHint));
    }
  }
  IdxDatasetOptions idx;
  idx.normalization = options.normalization;
  idx.rows = 28;
  idx.cols = 28;
  idx.classes = 10;
  idx.fix_hint = kCorruptHint;
  return load_idx_dataset(paths[0], paths[1], idx);
}

}  // namespace meridian::data
