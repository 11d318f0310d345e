// Small text helpers shared by the parsers of user files and flags.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace meridian {

// `s` with ASCII letters lower-cased (locale-independent; other bytes unchanged).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace meridian
