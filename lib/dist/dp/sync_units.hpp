// Sync units: the pieces of a model's flat parameter vector that the data-parallel schemes
// all-reduce one at a time. A unit is a contiguous slice of one layer's parameters; a layer larger
// than `max_unit_bytes` is cut into equal slices, so that a scheme that spreads the model over the
// iterations of a period (PLSGD, DreamDDP) can spread a dominant layer too (the CNN's first fully
// connected layer holds 96 % of its parameters). Units are numbered in forward order; backprop
// makes the units of layer L-1 ready first. The flat vector is Model::parameters() in order.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nn/model.hpp"

namespace meridian::dist {

struct SyncUnit {
  int layer = 0;            // index of the model layer the slice belongs to
  std::int64_t offset = 0;  // first element in the flat parameter vector
  std::int64_t count = 0;   // elements
  std::string name;         // "fc1" or "fc1[2/5]"
  std::int64_t bytes() const { return count * static_cast<std::int64_t>(sizeof(float)); }
};

struct UnitLayout {
  std::vector<SyncUnit> units;    // forward order, ascending offsets, covering [0, total) once
  std::vector<int> first_unit;    // per model layer: its first unit, or -1 for a layer without parameters
  std::vector<int> unit_count;    // per model layer: its number of units (0 without parameters)
  std::int64_t total = 0;         // elements of the flat vector

  int units_of(int layer, int* first) const;  // count, and the first in *first
};

// Units of `model`: one per layer with parameters when max_unit_bytes <= 0, otherwise each layer cut
// into the fewest slices of at most max(1, max_unit_bytes / 4) elements, sizes within one element.
UnitLayout make_unit_layout(nn::Model& model, std::int64_t max_unit_bytes);

// Copies elements [offset, offset + flat.size()) of the flat vector between the parameters' chosen
// field and `flat`, in either direction. Throws Error when the range is outside the parameters.
void copy_range_to_flat(std::span<nn::Parameter* const> params, nn::ParamField field, std::int64_t offset,
                        std::span<float> flat);
void copy_range_from_flat(std::span<nn::Parameter* const> params, nn::ParamField field, std::int64_t offset,
                          std::span<const float> flat);

}  // namespace meridian::dist
