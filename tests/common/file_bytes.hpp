// Test helpers: a whole file as bytes, and bytes written as a whole file (what the file-format tests
// corrupt, truncate and write back).
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace meridian::testing {

using Bytes = std::vector<std::uint8_t>;

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Writes the elements of `data` (any trivially copyable T) as raw bytes, replacing the file.
template <class T>
void write_raw(const std::string& path, const std::vector<T>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(T)));
}

}  // namespace meridian::testing
