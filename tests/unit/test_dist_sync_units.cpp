// lib/dist/dp: the sync-unit layout of a model (whole layers, and layers cut under a byte cap),
// the flat-range copies the data-parallel trainer stages its all-reduces through (against
// Model's whole-vector copies, on ranges that straddle parameter boundaries), and
// SchemeOptions::validate's InputErrors. The model: make_mlp(16, {12, 8}, 4), i.e. layers
// flatten, fc1 (16x12 + 12 = 204), relu1, fc2 (12x8 + 8 = 104), relu2, fc3 (8x4 + 4 = 36).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/input_error.hpp"
#include "core/error.hpp"
#include "dist/dp/data_parallel.hpp"
#include "dist/dp/sync_units.hpp"
#include "nn/flatten.hpp"
#include "nn/model.hpp"
#include "nn/models.hpp"

namespace meridian::dist {
namespace {

using meridian::testing::input_error;

nn::Model small_mlp() { return nn::make_mlp(16, {12, 8}, 4, 7); }

// Per layer of small_mlp: parameter elements (0 for the parameter-free ones).
const std::vector<std::int64_t> kLayerCounts = {0, 204, 0, 104, 0, 36};

// Invariants every layout holds: ascending contiguous units covering [0, total) once, each inside
// its layer's range, first_unit/unit_count consistent with the units.
void expect_consistent(nn::Model& model, const UnitLayout& layout) {
  ASSERT_EQ(layout.total, model.parameter_count());
  ASSERT_EQ(layout.first_unit.size(), static_cast<std::size_t>(model.size()));
  ASSERT_EQ(layout.unit_count.size(), static_cast<std::size_t>(model.size()));
  std::int64_t next = 0;
  for (const SyncUnit& u : layout.units) {
    EXPECT_EQ(u.offset, next) << u.name;
    EXPECT_GT(u.count, 0) << u.name;
    EXPECT_EQ(u.bytes(), u.count * 4);
    next = u.offset + u.count;
  }
  EXPECT_EQ(next, layout.total);
  std::int64_t layer_start = 0;
  int expected_first = 0;
  for (int l = 0; l < model.size(); ++l) {
    std::int64_t count = 0;
    for (const nn::Parameter* p : model.layer(l).parameters()) count += p->value.numel();
    int first = -2;
    const int n = layout.units_of(l, &first);
    if (count == 0) {
      EXPECT_EQ(n, 0) << "layer " << l;
      EXPECT_EQ(first, -1) << "layer " << l;
      continue;
    }
    ASSERT_GE(n, 1) << "layer " << l;
    EXPECT_EQ(first, expected_first) << "layer " << l;
    std::int64_t covered = 0;
    for (int u = first; u < first + n; ++u) {
      const SyncUnit& unit = layout.units[static_cast<std::size_t>(u)];
      EXPECT_EQ(unit.layer, l);
      EXPECT_GE(unit.offset, layer_start);
      EXPECT_LE(unit.offset + unit.count, layer_start + count);
      covered += unit.count;
    }
    EXPECT_EQ(covered, count) << "layer " << l;
    expected_first += n;
    layer_start += count;
  }
  EXPECT_EQ(static_cast<std::size_t>(expected_first), layout.units.size());
}

TEST(DistSyncUnits, WholeLayersWhenNoCap) {
  nn::Model model = small_mlp();
  for (std::int64_t cap : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{-4096}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    const UnitLayout layout = make_unit_layout(model, cap);
    expect_consistent(model, layout);
    ASSERT_EQ(layout.units.size(), 3u);
    const std::vector<std::string> names = {"fc1", "fc2", "fc3"};
    const std::vector<int> layers = {1, 3, 5};
    const std::vector<std::int64_t> offsets = {0, 204, 308}, counts = {204, 104, 36};
    for (std::size_t u = 0; u < 3; ++u) {
      EXPECT_EQ(layout.units[u].name, names[u]);
      EXPECT_EQ(layout.units[u].layer, layers[u]);
      EXPECT_EQ(layout.units[u].offset, offsets[u]);
      EXPECT_EQ(layout.units[u].count, counts[u]);
    }
    EXPECT_EQ(layout.first_unit, (std::vector<int>{-1, 0, -1, 1, -1, 2}));
    EXPECT_EQ(layout.unit_count, (std::vector<int>{0, 1, 0, 1, 0, 1}));
    EXPECT_EQ(layout.total, 344);
  }
}

TEST(DistSyncUnits, CutLayersAreEvenAndUnderTheCap) {
  nn::Model model = small_mlp();
  // Caps in whole floats (multiples of 4 bytes), from one element per unit to one unit per layer.
  for (std::int64_t cap : {std::int64_t{4}, std::int64_t{8}, std::int64_t{100}, std::int64_t{200},
                           std::int64_t{400}, std::int64_t{816}, std::int64_t{1000}, std::int64_t{1} << 20}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    const UnitLayout layout = make_unit_layout(model, cap);
    expect_consistent(model, layout);
    for (int l = 0; l < model.size(); ++l) {
      const std::int64_t count = kLayerCounts[static_cast<std::size_t>(l)];
      int first = 0;
      const int n = layout.units_of(l, &first);
      if (count == 0) continue;
      // As few pieces as the cap allows: ceil(bytes / cap) (these caps are whole floats).
      EXPECT_EQ(n, (count * 4 + cap - 1) / cap) << "layer " << l;
      std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = 0;
      for (int u = first; u < first + n; ++u) {
        const SyncUnit& unit = layout.units[static_cast<std::size_t>(u)];
        EXPECT_LE(unit.bytes(), cap) << unit.name;
        lo = std::min(lo, unit.count);
        hi = std::max(hi, unit.count);
        const std::string base = model.layer(l).name();
        const std::string expected =
            n == 1 ? base : base + "[" + std::to_string(u - first + 1) + "/" + std::to_string(n) + "]";
        EXPECT_EQ(unit.name, expected);
      }
      EXPECT_LE(hi - lo, 1) << "layer " << l << ": unit sizes differ by more than one element";
    }
  }
  // The example of the header: fc1 (816 bytes) under a 200-byte cap is cut in 5 (40 or 41 elements).
  const UnitLayout layout = make_unit_layout(model, 200);
  ASSERT_EQ(layout.unit_count[1], 5);
  EXPECT_EQ(layout.units[1].name, "fc1[2/5]");
  EXPECT_EQ(layout.units[4].name, "fc1[5/5]");
  EXPECT_EQ(layout.unit_count[3], 3);  // fc2: 416 bytes
  EXPECT_EQ(layout.unit_count[5], 1);  // fc3: 144 bytes, not cut, named without a suffix
  EXPECT_EQ(layout.units[static_cast<std::size_t>(layout.first_unit[5])].name, "fc3");
  // A cap below one float: one element per unit (a float cannot be cut).
  const UnitLayout tiny = make_unit_layout(model, 1);
  expect_consistent(model, tiny);
  EXPECT_EQ(tiny.units.size(), 344u);
  // Caps that are not whole floats (the dreamddp default, model bytes / H, is one): the cap is
  // rounded down to whole floats and never exceeded; as few pieces as that allows.
  for (std::int64_t cap : {std::int64_t{6}, std::int64_t{163}, std::int64_t{165}, std::int64_t{459}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    const UnitLayout odd = make_unit_layout(model, cap);
    expect_consistent(model, odd);
    for (const SyncUnit& unit : odd.units) EXPECT_LE(unit.bytes(), cap) << unit.name;
    const std::int64_t per = cap / 4;
    for (int l : {1, 3, 5}) {
      const std::int64_t count = kLayerCounts[static_cast<std::size_t>(l)];
      EXPECT_EQ(odd.unit_count[static_cast<std::size_t>(l)], (count + per - 1) / per) << "layer " << l;
    }
  }
}

TEST(DistSyncUnits, ModelWithoutParametersIsAnError) {
  nn::Model model;
  model.emplace<nn::Flatten>("flatten");
  EXPECT_THROW(make_unit_layout(model, 0), Error);
}

// Elements of the flat parameter vector (value or grad) through Model's whole-vector copies.
std::vector<float> flat_of(nn::Model& model, nn::ParamField field) {
  std::vector<float> flat(static_cast<std::size_t>(model.parameter_count()));
  if (field == nn::ParamField::value)
    model.copy_parameters_to(flat);
  else
    model.copy_grads_to(flat);
  return flat;
}

TEST(DistSyncUnits, RangeCopiesMatchTheWholeVector) {
  nn::Model model = small_mlp();
  const std::vector<nn::Parameter*> params = model.parameters();
  // Give the gradients distinct values too.
  {
    std::vector<float> g(344);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = 1000.f + static_cast<float>(i);
    model.copy_grads_from(g);
  }
  // fc1.weight [0, 192), fc1.bias [192, 204), fc2.weight [204, 300), fc2.bias [300, 308),
  // fc3.weight [308, 340), fc3.bias [340, 344).
  const std::vector<std::pair<std::int64_t, std::int64_t>> ranges = {
      {0, 344}, {0, 1}, {343, 1}, {190, 4}, {192, 12}, {200, 10}, {180, 130}, {298, 12}, {305, 39}, {100, 0}, {344, 0}};
  for (nn::ParamField field : {nn::ParamField::value, nn::ParamField::grad}) {
    for (const auto& [offset, count] : ranges) {
      SCOPED_TRACE("range [" + std::to_string(offset) + ", " + std::to_string(offset + count) + ") of " +
                   (field == nn::ParamField::value ? "values" : "grads"));
      const std::vector<float> whole = flat_of(model, field);
      std::vector<float> part(static_cast<std::size_t>(count), -7.f);
      copy_range_to_flat(params, field, offset, part);
      for (std::int64_t i = 0; i < count; ++i)
        ASSERT_EQ(part[static_cast<std::size_t>(i)], whole[static_cast<std::size_t>(offset + i)]) << "element " << i;

      // Writing the range back changed: exactly those elements change, in that field only.
      const std::vector<float> other_before =
          flat_of(model, field == nn::ParamField::value ? nn::ParamField::grad : nn::ParamField::value);
      for (std::int64_t i = 0; i < count; ++i) part[static_cast<std::size_t>(i)] = -1.f - static_cast<float>(i);
      copy_range_from_flat(params, field, offset, part);
      const std::vector<float> after = flat_of(model, field);
      for (std::int64_t i = 0; i < 344; ++i) {
        const bool inside = i >= offset && i < offset + count;
        const float expected = inside ? -1.f - static_cast<float>(i - offset) : whole[static_cast<std::size_t>(i)];
        ASSERT_EQ(after[static_cast<std::size_t>(i)], expected) << "element " << i;
      }
      EXPECT_EQ(flat_of(model, field == nn::ParamField::value ? nn::ParamField::grad : nn::ParamField::value),
                other_before);
      // Restore, so that the next range reads the original values.
      std::vector<float> restore(whole.begin() + offset, whole.begin() + offset + count);
      copy_range_from_flat(params, field, offset, restore);
      ASSERT_EQ(flat_of(model, field), whole);
    }
  }
}

TEST(DistSyncUnits, RangeOutsideTheParametersThrows) {
  nn::Model model = small_mlp();
  const std::vector<nn::Parameter*> params = model.parameters();
  std::vector<float> buf(10, 0.f);
  EXPECT_THROW(copy_range_to_flat(params, nn::ParamField::value, 340, buf), Error);   // runs past the end
  EXPECT_THROW(copy_range_to_flat(params, nn::ParamField::grad, 344, buf), Error);    // starts at the end
  EXPECT_THROW(copy_range_to_flat(params, nn::ParamField::value, -2, buf), Error);    // starts before 0
  EXPECT_THROW(copy_range_from_flat(params, nn::ParamField::value, 335, buf), Error);
  EXPECT_THROW(copy_range_from_flat(params, nn::ParamField::grad, 1000, buf), Error);
  EXPECT_NO_THROW(copy_range_to_flat(params, nn::ParamField::value, 334, buf));       // ends exactly at the end
}

TEST(DistSyncUnits, SchemeOptionsValidateNamesTheOption) {
  SchemeOptions ok;
  EXPECT_NO_THROW(ok.validate());
  ok.period = 1;
  ok.profile_iterations = 1;
  ok.replan_threshold = 0;
  EXPECT_NO_THROW(ok.validate());

  SchemeOptions h0;
  h0.period = 0;
  EXPECT_NE(input_error([&] { h0.validate(); }).find("--H"), std::string::npos);
  h0.period = -3;
  EXPECT_NE(input_error([&] { h0.validate(); }).find("--H"), std::string::npos);

  SchemeOptions profile0;
  profile0.profile_iterations = 0;
  EXPECT_NE(input_error([&] { profile0.validate(); }).find("--profile-iters"), std::string::npos);

  SchemeOptions negative;
  negative.replan_threshold = -0.1;
  EXPECT_NE(input_error([&] { negative.validate(); }).find("--replan-threshold"), std::string::npos);
  negative.replan_threshold = std::nan("");
  EXPECT_NE(input_error([&] { negative.validate(); }).find("--replan-threshold"), std::string::npos);
  negative.replan_threshold = std::numeric_limits<double>::infinity();
  EXPECT_NE(input_error([&] { negative.validate(); }).find("--replan-threshold"), std::string::npos);
}

}  // namespace
}  // namespace meridian::dist
