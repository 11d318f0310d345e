// Small text helpers shared by the parsers of user files and flags.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace meridian {

// `s` without the spaces and tabs at either end, nor a carriage return at its end (CRLF files).
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// `s` with ASCII letters lower-cased (locale-independent; other bytes unchanged).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace meridian
