// Whole numbers from the JSON model files, range-checked: nlohmann::json's get<Integer>() converts any
// number without a check, so 1e300 read as an int is undefined behaviour and -1 read as a count wraps
// to 2^64 - 1. Used by the from_json functions of the model files (lib/trace, lib/dist).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/common/error.hpp"

namespace meridian {

// `v` as T when it is a JSON number with a whole value that T holds (2 and 2.0 do; 2.5, -1 for an
// unsigned T, 1e300, strings and null do not); nullopt otherwise.
template <class T>
std::optional<T> json_integer(const nlohmann::json& v) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (std::in_range<T>(u)) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (std::in_range<T>(i)) return static_cast<T>(i);
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    // Up to 2^53 in magnitude every whole double converts to int64 exactly.
    if (d == std::floor(d) && std::fabs(d) <= 0x1p53) {
      const auto i = static_cast<std::int64_t>(d);
      if (std::in_range<T>(i)) return static_cast<T>(i);
    }
  }
  return std::nullopt;
}

// json_integer or InputError "<what> is <v>; expected a whole number from <min> to <max>".
template <class T>
T checked_json_integer(const nlohmann::json& v, const std::string& what) {
  const std::optional<T> x = json_integer<T>(v);
  if (!x)
    throw InputError(cat(what, " is ", v.dump().substr(0, 40), "; expected a whole number from ",
                         +std::numeric_limits<T>::min(), " to ", +std::numeric_limits<T>::max()));
  return *x;
}

// The elements of the JSON array `v` as T; InputError naming `what` when it is not an array, or
// naming the first element that does not fit (as checked_json_integer).
template <class T>
std::vector<T> checked_json_integers(const nlohmann::json& v, const std::string& what) {
  if (!v.is_array())
    throw InputError(cat(what, " is ", v.dump().substr(0, 40), "; expected an array of whole numbers"));
  std::vector<T> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(checked_json_integer<T>(v[i], cat(what, "[", i, "]")));
  return out;
}

}  // namespace meridian
