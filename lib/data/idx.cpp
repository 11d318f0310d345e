// IDX reading through zlib's gz* interface (it reads gzip and raw files alike), with every header
// field, the payload length and the stream's integrity checked before anything is returned.
#include "data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <sstream>

#include "kernels/common/error.hpp"

namespace meridian::data {
namespace {

constexpr unsigned kBufferBytes = 1u << 20;       // zlib's input buffer
constexpr std::uint64_t kChunkBytes = 1u << 24;   // payload read per gzread call
constexpr std::uint64_t kReserveLimit = 1u << 26; // never reserve more up front (corrupt dims)

std::string hex32(std::uint32_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << std::setw(8) << std::setfill('0') << v;
  return os.str();
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

const char* type_name(std::uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

constexpr std::string_view kDefaultHint =
    "Check that the file is a complete IDX file, raw or gzip-compressed";

template <class... Args>
[[noreturn]] void fail_file(const std::string& path, std::string_view hint, const Args&... parts) {
  throw InputError(cat("IDX file ", path, ": ", parts..., ". ", hint.empty() ? kDefaultHint : hint));
}

// One open file; reads fail soft (short counts) and the caller turns them into messages.
class GzReader {
 public:
  GzReader(const std::string& path, std::string_view hint) : path_(path), hint_(hint) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      const int err = errno;
      fail("cannot open it (", err != 0 ? std::strerror(err) : "out of memory", ")");
    }
    gzbuffer(file_, kBufferBytes);
  }
  ~GzReader() {
    if (file_ != nullptr) gzclose_r(file_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes into dst; returns how many arrived (fewer only at the end of the data).
  // A corrupt gzip stream throws here, except a stream cut short, which reads as an early end.
  std::uint64_t read(std::uint8_t* dst, std::uint64_t n) {
    std::uint64_t got = 0;
    while (got < n) {
      const unsigned want = static_cast<unsigned>(std::min<std::uint64_t>(n - got, kChunkBytes));
      const int r = gzread(file_, dst + got, want);
      if (r < 0) check_stream();
      if (r <= 0) break;
      got += static_cast<std::uint64_t>(r);
      offset_ += static_cast<std::uint64_t>(r);
      if (static_cast<unsigned>(r) < want) break;
    }
    check_stream();
    return got;
  }

  // Throws when zlib has seen corrupt data. A stream cut short (Z_BUF_ERROR) is reported by the
  // caller with the offsets when it matters, and here when it does not (at the very end).
  void check_stream(bool at_end = false) {
    int errnum = Z_OK;
    const char* msg = gzerror(file_, &errnum);
    if (errnum == Z_OK) return;
    if (errnum == Z_BUF_ERROR) {
      truncated_gzip_ = true;
      if (!at_end) return;
      fail("the gzip stream ends early (", msg, ") after ", offset_,
           " decompressed bytes: the file is truncated");
    }
    if (errnum == Z_ERRNO) {
      const int err = errno;
      fail("read error (", std::strerror(err), ")");
    }
    fail("corrupt gzip data after ", offset_, " decompressed bytes (zlib: ", msg, ")");
  }

  void close() {
    const int rc = gzclose_r(file_);
    file_ = nullptr;
    if (rc != Z_OK) fail("the gzip stream is damaged (zlib gzclose error ", rc, ")");
  }

  bool compressed() const { return file_ != nullptr && gzdirect(file_) == 0; }
  bool truncated_gzip() const { return truncated_gzip_; }
  std::uint64_t offset() const { return offset_; }
  const char* offset_unit() const { return compressed_ ? " of the decompressed data" : ""; }
  void note_compression() { compressed_ = compressed(); }

  template <class... Args>
  [[noreturn]] void fail(const Args&... parts) const {
    fail_file(path_, hint_, parts...);
  }

 private:
  std::string path_;
  std::string_view hint_;
  gzFile file_ = nullptr;
  std::uint64_t offset_ = 0;
  bool compressed_ = false;
  bool truncated_gzip_ = false;
};

}  // namespace

std::uint64_t IdxArray::numel() const {
  std::uint64_t n = 1;
  for (const std::uint32_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path, int expected_ndims, std::string_view fix_hint) {
  MERIDIAN_CHECK(expected_ndims >= 0 && expected_ndims <= 255, "read_idx: expected_ndims ", expected_ndims);
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status))
    fail_file(path, fix_hint, "no such file");
  if (std::filesystem::is_directory(status))
    fail_file(path, fix_hint, "is a directory, not a file");

  GzReader in(path, fix_hint);
  std::uint8_t magic_bytes[4];
  const std::uint64_t got_magic = in.read(magic_bytes, 4);
  in.note_compression();
  if (got_magic < 4)
    in.fail("the data has only ", got_magic, " bytes", in.offset_unit(),
            ", too short for the 4-byte IDX magic number (file empty or truncated)");
  const std::uint32_t magic = load_be32(magic_bytes);
  const std::uint8_t type = magic_bytes[2];
  const int ndims = magic_bytes[3];
  const bool ndims_ok = expected_ndims > 0 ? ndims == expected_ndims : (ndims >= 1 && ndims <= 4);
  if (magic_bytes[0] != 0 || magic_bytes[1] != 0 || type != kIdxTypeU8 || !ndims_ok) {
    const std::string expected = expected_ndims > 0
        ? hex32(0x0800u | static_cast<std::uint32_t>(expected_ndims))
        : std::string("0x00000801 to 0x00000804");
    const std::string found = magic_bytes[0] != 0 || magic_bytes[1] != 0
        ? std::string("not an IDX header")
        : cat("type ", type_name(type), ", ", ndims, " dimension", ndims == 1 ? "" : "s");
    in.fail("bad magic number at byte 0", in.offset_unit(), ": expected ", expected,
            " (unsigned bytes, ", expected_ndims > 0 ? cat(expected_ndims) : std::string("1 to 4"),
            " dimension", expected_ndims == 1 ? "" : "s", "), found ", hex32(magic), " (", found, ")");
  }

  IdxArray out;
  out.dims.resize(static_cast<std::size_t>(ndims));
  std::uint64_t numel = 1;
  for (int d = 0; d < ndims; ++d) {
    std::uint8_t word[4];
    const std::uint64_t at = in.offset();
    if (in.read(word, 4) < 4)
      in.fail("the header ends at byte ", in.offset(), in.offset_unit(), " inside dimension ", d,
              " (bytes ", at, "-", at + 3, "): the file is truncated");
    const std::uint32_t size = load_be32(word);
    if (size == 0) in.fail("dimension ", d, " (at byte ", at, in.offset_unit(), ") is 0: the array is empty");
    out.dims[static_cast<std::size_t>(d)] = size;
    if (numel > std::numeric_limits<std::uint64_t>::max() / size)
      in.fail("the dimensions overflow 64 bits (dimension ", d, " = ", size, " at byte ", at, ")");
    numel *= size;
  }
  const std::uint64_t header_bytes = 4 + 4 * static_cast<std::uint64_t>(ndims);
  if (numel > static_cast<std::uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()))
    in.fail("the dimensions describe ", numel, " bytes, more than this machine can address");

  // Grow as data arrives, so a corrupt header cannot make us allocate a huge buffer up front.
  out.bytes.reserve(static_cast<std::size_t>(std::min(numel, kReserveLimit)));
  while (out.bytes.size() < numel) {
    const std::uint64_t have = out.bytes.size();
    const std::uint64_t want = std::min(numel - have, std::max<std::uint64_t>(kChunkBytes, have));
    out.bytes.resize(static_cast<std::size_t>(have + want));
    const std::uint64_t got = in.read(out.bytes.data() + have, want);
    out.bytes.resize(static_cast<std::size_t>(have + got));
    if (got < want) break;
  }
  if (out.bytes.size() < numel) {
    std::ostringstream shape;
    for (std::size_t d = 0; d < out.dims.size(); ++d) shape << (d ? "x" : "") << out.dims[d];
    in.fail("truncated: the header says ", shape.str(), " = ", numel, " payload bytes (",
            header_bytes + numel, " bytes with the header) but the data ends at byte ", in.offset(), in.offset_unit(),
            in.truncated_gzip() ? " (the gzip stream itself is cut short)" : "");
  }
  std::uint8_t extra[4096];
  const std::uint64_t trailing = in.read(extra, sizeof extra);
  if (trailing > 0)
    in.fail("unexpected data after the payload: the header's dimensions account for ", header_bytes + numel,
            " bytes but there are ", trailing == sizeof extra ? "at least " : "", trailing,
            " more from byte ", header_bytes + numel, in.offset_unit(), " on (trailing garbage, or wrong dimensions)");
  in.check_stream(/*at_end=*/true);
  in.close();
  return out;
}

std::vector<std::uint8_t> encode_idx(const IdxArray& array) {
  MERIDIAN_CHECK(!array.dims.empty() && array.dims.size() <= 255, "encode_idx: ", array.dims.size(), " dimensions");
  MERIDIAN_CHECK(array.numel() == array.bytes.size(), "encode_idx: dims describe ", array.numel(),
                 " bytes but the payload has ", array.bytes.size());
  std::vector<std::uint8_t> out(4 + 4 * array.dims.size() + array.bytes.size());
  store_be32(out.data(), 0x0800u | static_cast<std::uint32_t>(array.dims.size()));
  for (std::size_t d = 0; d < array.dims.size(); ++d) store_be32(out.data() + 4 + 4 * d, array.dims[d]);
  const auto payload = static_cast<std::ptrdiff_t>(4 + 4 * array.dims.size());
  std::copy(array.bytes.begin(), array.bytes.end(), out.begin() + payload);
  return out;
}

void write_file(const std::string& path, std::span<const std::uint8_t> bytes, bool gzip) {
  gzFile f = gzopen(path.c_str(), gzip ? "wb6" : "wbT");  // T: transparent (no compression)
  MERIDIAN_CHECK(f != nullptr, "cannot create ", path, " (", std::strerror(errno), ")");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const unsigned n = static_cast<unsigned>(std::min<std::size_t>(bytes.size() - done, kChunkBytes));
    const int w = gzwrite(f, bytes.data() + done, n);
    if (w <= 0) {
      int errnum = Z_OK;
      const std::string msg = gzerror(f, &errnum);
      gzclose_w(f);
      MERIDIAN_CHECK(false, "writing ", path, " failed (", msg, ")");
    }
    done += static_cast<std::size_t>(w);
  }
  MERIDIAN_CHECK(gzclose_w(f) == Z_OK, "closing ", path, " failed");
}

}  // namespace meridian::data
