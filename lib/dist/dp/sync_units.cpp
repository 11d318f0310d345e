#include "dist/dp/sync_units.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace meridian::dist {

int UnitLayout::units_of(int layer, int* first) const {
  *first = first_unit[static_cast<std::size_t>(layer)];
  return unit_count[static_cast<std::size_t>(layer)];
}

UnitLayout make_unit_layout(nn::Model& model, std::int64_t max_unit_bytes) {
  UnitLayout out;
  out.first_unit.assign(static_cast<std::size_t>(model.size()), -1);
  out.unit_count.assign(static_cast<std::size_t>(model.size()), 0);
  for (int l = 0; l < model.size(); ++l) {
    std::int64_t count = 0;
    for (const nn::Parameter* p : model.layer(l).parameters()) count += p->value.numel();
    if (count == 0) continue;
    const std::int64_t per_piece = std::max<std::int64_t>(1, max_unit_bytes / static_cast<std::int64_t>(sizeof(float)));
    const std::int64_t pieces = max_unit_bytes <= 0 ? 1 : (count + per_piece - 1) / per_piece;
    out.first_unit[static_cast<std::size_t>(l)] = static_cast<int>(out.units.size());
    out.unit_count[static_cast<std::size_t>(l)] = static_cast<int>(pieces);
    for (std::int64_t k = 0; k < pieces; ++k) {
      const std::int64_t lo = count * k / pieces, hi = count * (k + 1) / pieces;
      std::string name = model.layer(l).name();
      if (pieces > 1) {  // (appended piece by piece: GCC 12 misreads the chained + as overlapping copies)
        name.push_back('[');
        name.append(std::to_string(k + 1)).push_back('/');
        name.append(std::to_string(pieces)).push_back(']');
      }
      out.units.push_back(SyncUnit{l, out.total + lo, hi - lo, std::move(name)});
    }
    out.total += count;
  }
  MERIDIAN_CHECK(!out.units.empty(), "data parallelism: the model has no parameters to synchronise");
  return out;
}

namespace {

// Calls fn(parameter span, flat span) for every overlap of [offset, offset + n) with a parameter.
template <class Fn>
void for_range(std::span<nn::Parameter* const> params, nn::ParamField field, std::int64_t offset, std::int64_t n,
               Fn fn) {
  std::int64_t base = 0, done = 0;
  for (nn::Parameter* p : params) {
    Tensor& t = field == nn::ParamField::value ? p->value : p->grad;
    const std::int64_t size = t.numel();
    const std::int64_t lo = std::max(offset, base), hi = std::min(offset + n, base + size);
    if (lo < hi) {
      fn(t.data<float>() + (lo - base), lo - offset, hi - lo);
      done += hi - lo;
    }
    base += size;
    if (base >= offset + n) break;
  }
  MERIDIAN_CHECK(done == n, "flat parameter range [", offset, ", ", offset + n, ") is outside the ", base,
                 " parameter elements");
}

}  // namespace

void copy_range_to_flat(std::span<nn::Parameter* const> params, nn::ParamField field, std::int64_t offset,
                        std::span<float> flat) {
  for_range(params, field, offset, static_cast<std::int64_t>(flat.size()),
            [&](float* p, std::int64_t at, std::int64_t n) {
              std::memcpy(flat.data() + at, p, static_cast<std::size_t>(n) * sizeof(float));
            });
}

void copy_range_from_flat(std::span<nn::Parameter* const> params, nn::ParamField field, std::int64_t offset,
                          std::span<const float> flat) {
  for_range(params, field, offset, static_cast<std::int64_t>(flat.size()),
            [&](float* p, std::int64_t at, std::int64_t n) {
              std::memcpy(p, flat.data() + at, static_cast<std::size_t>(n) * sizeof(float));
            });
}

}  // namespace meridian::dist
