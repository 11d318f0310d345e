// IDX files (the MNIST family's format): a 4-byte magic (0, 0, type, number of dimensions), one
// big-endian u32 per dimension, then the row-major payload. Unsigned-byte payloads (type 0x08) only;
// files may be gzip-compressed or raw (zlib reads both). Every malformed file is an InputError.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::data {

inline constexpr std::uint8_t kIdxTypeU8 = 0x08;
inline constexpr std::uint32_t kIdxMagicImages = 0x00000803;  // u8, 3 dimensions (N, rows, cols)
inline constexpr std::uint32_t kIdxMagicLabels = 0x00000801;  // u8, 1 dimension (N)

// An IDX array: dims (outermost first) and the payload of prod(dims) bytes, row-major.
struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> bytes;
  std::uint64_t numel() const;
  bool operator==(const IdxArray&) const = default;
};

// Reads an unsigned-byte IDX file, gzip-compressed or not. expected_ndims > 0 pins the number of
// dimensions (i.e. the magic must be 0x0000 08 <expected_ndims>); 0 accepts 1 to 4. Throws
// InputError naming `path` for a missing or unreadable file, a corrupt gzip stream, a wrong magic,
// a zero dimension, a payload shorter than the dimensions say, or bytes after the payload; offsets
// in messages count bytes of the decompressed content. `fix_hint` ends every message (how to fix).
IdxArray read_idx(const std::string& path, int expected_ndims = 0, std::string_view fix_hint = {});

// The bytes of an IDX file holding `array` (header + payload); for tests and small exports.
std::vector<std::uint8_t> encode_idx(const IdxArray& array);

// Writes `bytes` to `path`, gzip-compressed when `gzip` (level 6) or as they are. Throws Error.
void write_file(const std::string& path, std::span<const std::uint8_t> bytes, bool gzip);

}  // namespace meridian::data
