// Host-only half of the CUDA N:M dispatcher (declared in nm_sparse.hpp): which configurations can
// run a problem, the heuristic choice, the autotune candidates, their names and the cache file.
// Needs no device, so tests/gpu runs it everywhere. Shapes: C (rows x cols) = A (rows x k) · B.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/common/error.hpp"
#include "kernels/cuda/nm_sparse.hpp"
#include "kernels/cuda/nm_sparse_tiles.hpp"

namespace meridian::kernels::cuda {
namespace {

using namespace nm_detail;

const char* path_name(NmSpmmPath path) {
  switch (path) {
    case NmSpmmPath::tiled: return "tiled";
    case NmSpmmPath::tensor_core: return "tensor_core";
    case NmSpmmPath::decode: return "decode";
    case NmSpmmPath::widened: return "widened";
  }
  return "?";
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// The number of k chunks a configuration splits over (its split-k limit).
std::int64_t work_chunks(const NMLayout& l, const NmSpmmConfig& c) {
  switch (c.path) {
    case NmSpmmPath::tiled:
    case NmSpmmPath::widened: return tiled_geometry(kF32Tiles[c.tile], 1, l).chunks;
    case NmSpmmPath::tensor_core: return bf16_chunks(l);
    case NmSpmmPath::decode: return l.windows();
  }
  return 0;
}

int max_split(const NMLayout& l, const NmSpmmConfig& c) {
  return static_cast<int>(std::clamp<std::int64_t>(work_chunks(l, c), 1, kMaxSplit));
}

// Splits that bring `blocks` up to about `target` with at least 4 chunks per split, at most 16.
int split_to_fill(std::int64_t blocks, std::int64_t chunks, std::int64_t target) {
  if (blocks >= target) return 1;
  const std::int64_t want = ceil_div(target, std::max<std::int64_t>(blocks, 1));
  return static_cast<int>(std::max<std::int64_t>(1, std::min({want, std::int64_t{16}, chunks / 4})));
}

NmSpmmConfig tiled_heuristic(std::int64_t rows, const NMLayout& l, int sm_count, NmSpmmPath path) {
  const auto blocks = [&](int tile) {
    const TiledGeometry g = tiled_geometry(kF32Tiles[tile], rows, l);
    return g.row_blocks * g.col_blocks;
  };
  if (l.m > 32) {
    const int tile = 4;
    return {path, tile, split_to_fill(blocks(tile), tiled_geometry(kF32Tiles[tile], rows, l).chunks, sm_count)};
  }
  // The 32x64 tile (4x4 per thread, fewer FMAs per shared-memory load) only for rows <= 32.
  for (int tile : {0, 1, 2}) {
    const F32Tile& t = kF32Tiles[tile];
    const double row_use = static_cast<double>(rows) / static_cast<double>(ceil_div(rows, t.bm) * t.bm);
    if (blocks(tile) >= sm_count && row_use >= 0.75) return {path, tile, 1};
  }
  const int tile = rows <= 32 ? 3 : 2;
  return {path, tile, split_to_fill(blocks(tile), tiled_geometry(kF32Tiles[tile], rows, l).chunks, sm_count)};
}

NmSpmmConfig decode_heuristic(std::int64_t rows, const NMLayout& l, NmSpmmType type, int sm_count) {
  const std::int64_t strips = ceil_div(l.cols, kDecodeStrip);
  std::int64_t split = ceil_div(4 * std::int64_t{sm_count}, std::max<std::int64_t>(strips, 1));
  split = std::min<std::int64_t>({split, 32, std::max<std::int64_t>(l.windows(), 1)});
  // Partials (written and read once: 8 bytes per element and split) within 10% of the values' bytes.
  const double element = type == NmSpmmType::f32 ? 4.0 : 2.0;
  const auto cap = static_cast<std::int64_t>(0.1 * static_cast<double>(l.kept_rows()) * element /
                                             (8.0 * static_cast<double>(std::max<std::int64_t>(rows, 1))));
  split = std::max<std::int64_t>(1, std::min(split, cap));
  return {NmSpmmPath::decode, 0, static_cast<int>(split)};
}

}  // namespace

std::string nm_spmm_config_problem(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                                   const NmSpmmConfig& c) {
  try {
    check_nm_layout(layout);
  } catch (const InputError& e) {
    return e.what();
  }
  if (rows < 0) return cat("rows = ", rows, " is negative");
  const bool f32 = type == NmSpmmType::f32;
  switch (c.path) {
    case NmSpmmPath::tiled:
    case NmSpmmPath::widened:
      if (f32 != (c.path == NmSpmmPath::tiled))
        return cat("path ", path_name(c.path), " is for ", f32 ? "bf16" : "fp32", " operands (use ",
                   f32 ? "tiled" : "widened", ")");
      if (c.tile < 0 || c.tile >= kF32TileCount) return cat("tile ", c.tile, " is not in 0..", kF32TileCount - 1);
      if (layout.m > kF32Tiles[c.tile].kd)
        return cat("tile ", c.tile, " walks k in chunks of ", kF32Tiles[c.tile].kd, " rows, fewer than m = ", layout.m);
      break;
    case NmSpmmPath::tensor_core:
      if (f32) return "path tensor_core takes bf16 operands";
      if (c.tile < 0 || c.tile >= kBf16TileCount) return cat("tile ", c.tile, " is not in 0..", kBf16TileCount - 1);
      if (layout.v < kBf16Tiles[c.tile].bn)
        return cat("tile ", c.tile, " needs v >= ", kBf16Tiles[c.tile].bn, " (all its columns share one index list), v = ",
                   layout.v);
      break;
    case NmSpmmPath::decode:
      if (rows > kDecodeMaxRows) return cat("path decode takes at most ", kDecodeMaxRows, " rows, got ", rows);
      if (c.tile != 0) return "path decode has only tile 0";
      break;
    default: return "unknown path";
  }
  if (c.split_k < 1 || c.split_k > max_split(layout, c))
    return cat("split_k = ", c.split_k, " is not in 1..", max_split(layout, c), " (the k chunks of this configuration)");
  return "";
}

NmSpmmConfig nm_spmm_heuristic(std::int64_t rows, const NMLayout& layout, NmSpmmType type, int sm_count) {
  check_nm_layout(layout);
  sm_count = std::max(sm_count, 1);
  if (rows <= kDecodeMaxRows) return decode_heuristic(rows, layout, type, sm_count);
  if (type == NmSpmmType::f32) return tiled_heuristic(rows, layout, sm_count, NmSpmmPath::tiled);
  if (layout.v < kBf16Tiles[2].bn) return tiled_heuristic(rows, layout, sm_count, NmSpmmPath::widened);
  const auto blocks = [&](int tile) {
    const Bf16Tile& t = kBf16Tiles[tile];
    return ceil_div(rows, t.bm) * ceil_div(layout.cols, t.bn);
  };
  if (layout.v >= kBf16Tiles[0].bn && blocks(0) >= sm_count) return {NmSpmmPath::tensor_core, 0, 1};
  if (blocks(1) >= sm_count) return {NmSpmmPath::tensor_core, 1, 1};
  return {NmSpmmPath::tensor_core, 2, split_to_fill(blocks(2), bf16_chunks(layout), sm_count)};
}

std::vector<NmSpmmConfig> nm_spmm_candidates(std::int64_t rows, const NMLayout& layout, NmSpmmType type,
                                             int sm_count) {
  std::vector<NmSpmmConfig> out;
  const auto add = [&](const NmSpmmConfig& c) {
    if (nm_spmm_config_problem(rows, layout, type, c).empty() && std::find(out.begin(), out.end(), c) == out.end())
      out.push_back(c);
  };
  add(nm_spmm_heuristic(rows, layout, type, sm_count));
  if (rows <= kDecodeMaxRows)
    for (int split : {1, 2, 4, 8, 16, 32}) add({NmSpmmPath::decode, 0, split});
  const bool f32 = type == NmSpmmType::f32;
  if (f32 || layout.v < kBf16Tiles[2].bn) {
    const NmSpmmPath path = f32 ? NmSpmmPath::tiled : NmSpmmPath::widened;
    for (int tile = 0; tile < kF32TileCount; ++tile)
      for (int split : {1, 2, 4, 8}) add({path, tile, split});
  } else {
    for (int tile = 0; tile < kBf16TileCount; ++tile)
      for (int split : {1, 2, 4, 8}) add({NmSpmmPath::tensor_core, tile, split});
  }
  return out;
}

std::string nm_spmm_config_string(const NmSpmmConfig& c) {
  return cat(path_name(c.path), ":", c.tile, ":", c.split_k);
}

std::optional<NmSpmmConfig> nm_spmm_parse_config(const std::string& text) {
  const std::size_t a = text.find(':');
  const std::size_t b = a == std::string::npos ? a : text.find(':', a + 1);
  if (b == std::string::npos || text.find(':', b + 1) != std::string::npos) return std::nullopt;
  const std::string name = text.substr(0, a);
  NmSpmmConfig c;
  bool known = false;
  for (NmSpmmPath p : {NmSpmmPath::tiled, NmSpmmPath::tensor_core, NmSpmmPath::decode, NmSpmmPath::widened})
    if (name == path_name(p)) {
      c.path = p;
      known = true;
    }
  const auto number = [](const std::string& s, int* out) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    *out = std::stoi(s);
    return true;
  };
  if (!known || !number(text.substr(a + 1, b - a - 1), &c.tile) || !number(text.substr(b + 1), &c.split_k))
    return std::nullopt;
  return c;
}

std::string nm_spmm_describe(std::int64_t rows, const NMLayout& layout, NmSpmmType type, const NmSpmmConfig& c) {
  const std::string problem = nm_spmm_config_problem(rows, layout, type, c);
  if (!problem.empty()) return cat(nm_spmm_config_string(c), " (invalid: ", problem, ")");
  switch (c.path) {
    case NmSpmmPath::tiled:
    case NmSpmmPath::widened: {
      const F32Tile& t = kF32Tiles[c.tile];
      const TiledGeometry g = tiled_geometry(t, rows, layout);
      return cat(c.path == NmSpmmPath::widened ? "widened->tiled " : "tiled ", t.bm, "x", t.bn, " k", t.kd,
                 " idx=", index_mode_name(f32_index_mode(t, layout.v)), g.use_masks ? " union" : "", " split=",
                 c.split_k);
    }
    case NmSpmmPath::tensor_core: {
      const Bf16Tile& t = kBf16Tiles[c.tile];
      return cat("tensor_core ", t.bm, "x", t.bn, " split=", c.split_k);
    }
    case NmSpmmPath::decode:
      return cat("decode rows<=", decode_rows_bucket(rows), " split=", c.split_k);
  }
  return nm_spmm_config_string(c);
}

std::string nm_spmm_shape_key(const std::string& device_name, std::int64_t rows, const NMLayout& l, NmSpmmType type) {
  std::string device = device_name.empty() ? std::string("unknown") : device_name;
  for (char& ch : device)
    if (ch == ' ' || ch == '|' || ch == '\t' || ch == '#') ch = '_';
  return cat(device, "|", type == NmSpmmType::f32 ? "f32" : "bf16", "|", rows, "x", l.cols, "x", l.k, "|", l.n, ":", l.m,
             ":", l.v);
}

NmAutotuneCache NmAutotuneCache::load(const std::string& path) {
  NmAutotuneCache cache;
  std::ifstream in(path);
  if (!in) return cache;  // missing: empty
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    std::string key, config_text, time_text, extra;
    if (!(fields >> key >> config_text >> time_text) || (fields >> extra)) {
      ++cache.skipped_lines_;
      continue;
    }
    const std::optional<NmSpmmConfig> config = nm_spmm_parse_config(config_text);
    char* end = nullptr;
    const double time_us = std::strtod(time_text.c_str(), &end);
    if (!config || end == time_text.c_str() || *end != '\0' || !std::isfinite(time_us) || time_us < 0) {
      ++cache.skipped_lines_;
      continue;
    }
    cache.entries_[key] = Entry{*config, time_us};
  }
  return cache;
}

void NmAutotuneCache::save(const std::string& path) const {
  const std::string temp = cat(path, ".tmp.", getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    MERIDIAN_CHECK(out.good(), "cannot write the N:M autotune cache '", temp, "': ", std::strerror(errno));
    out << "# meridian CUDA N:M SpMM autotune cache: KEY PATH:TILE:SPLIT TIME_US (the fastest configuration per problem)\n";
    char time_text[64];
    for (const auto& [key, entry] : entries_) {
      std::snprintf(time_text, sizeof(time_text), "%.3f", entry.time_us);
      out << key << ' ' << nm_spmm_config_string(entry.config) << ' ' << time_text << '\n';
    }
    out.flush();
    MERIDIAN_CHECK(out.good(), "cannot write the N:M autotune cache '", temp, "'");
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    MERIDIAN_CHECK(false, "cannot replace the N:M autotune cache '", path, "'");
  }
}

std::optional<NmAutotuneCache::Entry> NmAutotuneCache::find(const std::string& key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

}  // namespace meridian::kernels::cuda
