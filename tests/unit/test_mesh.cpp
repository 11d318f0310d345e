// MeshLayout (lib/comm/mesh_layout.hpp) without MPI: coordinates and groups of DP×TP×PP layouts
// (TP innermost, PP outermost), every validation error, and node / data-center assignments.
// Expected groups are written out by hand or derived from the coordinate definition, not the code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "comm/mesh_layout.hpp"
#include "kernels/common/error.hpp"

namespace meridian {
namespace {

using Ranks = std::vector<int>;

// Runs `f`, expects an InputError whose message contains every one of `parts`.
template <class F>
void expect_input_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const std::string& part : parts) EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an InputError, got: " << e.what();
  }
}

TEST(MeshLayout, EightRanksTwoByTwoByTwo) {
  const MeshLayout m(8, {.dp = 2, .tp = 2, .pp = 2});
  // rank = tp + 2 * (dp + 2 * pp)
  EXPECT_EQ(m.coord(0), (MeshCoord{.dp = 0, .tp = 0, .pp = 0}));
  EXPECT_EQ(m.coord(1), (MeshCoord{.dp = 0, .tp = 1, .pp = 0}));
  EXPECT_EQ(m.coord(2), (MeshCoord{.dp = 1, .tp = 0, .pp = 0}));
  EXPECT_EQ(m.coord(5), (MeshCoord{.dp = 0, .tp = 1, .pp = 1}));
  EXPECT_EQ(m.coord(7), (MeshCoord{.dp = 1, .tp = 1, .pp = 1}));
  EXPECT_EQ(m.tp_group(5), (Ranks{4, 5}));
  EXPECT_EQ(m.dp_group(5), (Ranks{5, 7}));
  EXPECT_EQ(m.pp_group(5), (Ranks{1, 5}));
  EXPECT_EQ(m.tp_group(2), (Ranks{2, 3}));
  EXPECT_EQ(m.dp_group(2), (Ranks{0, 2}));
  EXPECT_EQ(m.pp_group(2), (Ranks{2, 6}));
  EXPECT_EQ(m.rank_of({.dp = 1, .tp = 0, .pp = 1}), 6);
}

TEST(MeshLayout, SixteenRanksTwoByFourByTwo) {
  const MeshLayout m(16, {.dp = 2, .tp = 4, .pp = 2});
  // rank = tp + 4 * (dp + 2 * pp)
  EXPECT_EQ(m.coord(13), (MeshCoord{.dp = 1, .tp = 1, .pp = 1}));
  EXPECT_EQ(m.tp_group(13), (Ranks{12, 13, 14, 15}));
  EXPECT_EQ(m.dp_group(13), (Ranks{9, 13}));
  EXPECT_EQ(m.pp_group(13), (Ranks{5, 13}));
  EXPECT_EQ(m.dp_group(6), (Ranks{2, 6}));
  EXPECT_EQ(m.pp_group(6), (Ranks{6, 14}));
  EXPECT_EQ(m.tp_group_id(13), 3);
  EXPECT_EQ(m.rank_of({.dp = 0, .tp = 3, .pp = 1}), 11);
}

TEST(MeshLayout, CoordinatesRoundTripAndGroupsPartitionTheWorld) {
  const std::vector<MeshShape> shapes = {
      {1, 1, 1}, {4, 1, 1}, {1, 4, 1}, {1, 1, 4}, {2, 2, 1}, {2, 1, 2}, {1, 2, 2},
      {2, 2, 2}, {2, 4, 2}, {3, 2, 2}, {1, 3, 5}, {5, 1, 3}};
  for (const MeshShape& s : shapes) {
    SCOPED_TRACE(mesh_shape_string(s));
    const int world = s.dp * s.tp * s.pp;
    const MeshLayout m(world, s);
    std::set<MeshCoord, bool (*)(const MeshCoord&, const MeshCoord&)> seen(
        [](const MeshCoord& a, const MeshCoord& b) { return std::tie(a.dp, a.tp, a.pp) < std::tie(b.dp, b.tp, b.pp); });
    for (int r = 0; r < world; ++r) {
      const MeshCoord c = m.coord(r);
      // The definition, written independently of the implementation.
      EXPECT_EQ(c.tp, r % s.tp);
      EXPECT_EQ(c.dp, (r / s.tp) % s.dp);
      EXPECT_EQ(c.pp, r / (s.tp * s.dp));
      EXPECT_EQ(m.rank_of(c), r);
      seen.insert(c);
      // Group i-th entries have coordinate i along the group's dimension and agree elsewhere.
      const Ranks tp = m.tp_group(r), dp = m.dp_group(r), pp = m.pp_group(r);
      ASSERT_EQ(static_cast<int>(tp.size()), s.tp);
      ASSERT_EQ(static_cast<int>(dp.size()), s.dp);
      ASSERT_EQ(static_cast<int>(pp.size()), s.pp);
      for (int i = 0; i < s.tp; ++i) EXPECT_EQ(m.coord(tp[i]), (MeshCoord{c.dp, i, c.pp}));
      for (int i = 0; i < s.dp; ++i) EXPECT_EQ(m.coord(dp[i]), (MeshCoord{i, c.tp, c.pp}));
      for (int i = 0; i < s.pp; ++i) EXPECT_EQ(m.coord(pp[i]), (MeshCoord{c.dp, c.tp, i}));
      // Group ids: same id <=> same group.
      for (int q = 0; q < world; ++q) {
        const bool same_tp = std::find(tp.begin(), tp.end(), q) != tp.end();
        const bool same_dp = std::find(dp.begin(), dp.end(), q) != dp.end();
        const bool same_pp = std::find(pp.begin(), pp.end(), q) != pp.end();
        EXPECT_EQ(m.tp_group_id(q) == m.tp_group_id(r), same_tp);
        EXPECT_EQ(m.dp_group_id(q) == m.dp_group_id(r), same_dp);
        EXPECT_EQ(m.pp_group_id(q) == m.pp_group_id(r), same_pp);
      }
    }
    EXPECT_EQ(static_cast<int>(seen.size()), world);
  }
}

TEST(MeshLayout, MegatronOrderTpGroupsAreContiguous) {
  for (const MeshShape& s : std::vector<MeshShape>{{2, 2, 2}, {2, 4, 2}, {4, 2, 1}, {1, 8, 2}}) {
    const int world = s.dp * s.tp * s.pp;
    const MeshLayout m(world, s);
    for (int r = 0; r < world; ++r) {
      const Ranks g = m.tp_group(r);
      const int first = (r / s.tp) * s.tp;
      for (int i = 0; i < s.tp; ++i) EXPECT_EQ(g[static_cast<std::size_t>(i)], first + i);
      // PP is outermost: the stage changes only every tp*dp ranks.
      EXPECT_EQ(m.coord(r).pp, r / (s.tp * s.dp));
    }
  }
}

TEST(MeshLayout, WorldThatDoesNotFactorIsAClearError) {
  expect_input_error([] { MeshLayout(6, {.dp = 4, .tp = 2, .pp = 1}); },
                     {"world size 6", "dp=4 × tp=2 × pp=1 = 8", "dp·tp·pp = 6", "e.g. dp=3 × tp=2 × pp=1"});
  // tp does not divide the world: the suggestion drops to a shape that fits.
  expect_input_error([] { MeshLayout(6, {.dp = 1, .tp = 4, .pp = 1}); }, {"world size 6", "= 4", "e.g. dp=6 × tp=1 × pp=1"});
  expect_input_error([] { MeshLayout(4, {.dp = 2, .tp = 2, .pp = 2}); }, {"= 8", "e.g. dp=1 × tp=2 × pp=2"});
  expect_input_error([] { MeshLayout(8, {.dp = 1, .tp = 1, .pp = 1}); }, {"world size 8", "e.g. dp=8 × tp=1 × pp=1"});
  // The suggestion always multiplies out to the world size.
  for (int world = 1; world <= 24; ++world)
    for (int tp = 1; tp <= 5; ++tp)
      for (int pp = 1; pp <= 3; ++pp) {
        if (world % (tp * pp) == 0) continue;
        try {
          MeshLayout(world, {.dp = 1, .tp = tp, .pp = pp});
          ADD_FAILURE() << "no error for world " << world;
        } catch (const InputError& e) {
          const std::string what = e.what();
          const auto at = what.find("e.g. dp=");
          ASSERT_NE(at, std::string::npos);
          int d = 0, t = 0, p = 0;
          ASSERT_EQ(std::sscanf(what.c_str() + at, "e.g. dp=%d × tp=%d × pp=%d", &d, &t, &p), 3) << what;
          EXPECT_EQ(d * t * p, world) << what;
        }
      }
}

TEST(MeshLayout, ResolveShapeFillsInDataParallel) {
  EXPECT_EQ(resolve_shape(8, {.dp = 0, .tp = 2, .pp = 1}), (MeshShape{.dp = 4, .tp = 2, .pp = 1}));
  EXPECT_EQ(resolve_shape(16, {.dp = 0, .tp = 4, .pp = 2}), (MeshShape{.dp = 2, .tp = 4, .pp = 2}));
  EXPECT_EQ(resolve_shape(6, {.dp = 0, .tp = 1, .pp = 1}), (MeshShape{.dp = 6, .tp = 1, .pp = 1}));
  // An explicit dp is left alone (MeshLayout validates it).
  EXPECT_EQ(resolve_shape(6, {.dp = 4, .tp = 2, .pp = 1}), (MeshShape{.dp = 4, .tp = 2, .pp = 1}));
  expect_input_error([] { resolve_shape(6, {.dp = 0, .tp = 4, .pp = 1}); },
                     {"world size 6 is not a multiple of tp=4 × pp=1 = 4", "e.g. dp=6 × tp=1 × pp=1"});
  expect_input_error([] { resolve_shape(6, {.dp = 0, .tp = 0, .pp = 1}); }, {"tp must be >= 1"});
}

TEST(MeshLayout, DimensionsMustBePositive) {
  expect_input_error([] { MeshLayout(4, {.dp = 0, .tp = 2, .pp = 2}); }, {"dp must be >= 1", "dp=0"});
  expect_input_error([] { MeshLayout(4, {.dp = 4, .tp = 0, .pp = 1}); }, {"tp must be >= 1"});
  expect_input_error([] { MeshLayout(4, {.dp = 4, .tp = 1, .pp = -1}); }, {"pp must be >= 1"});
  expect_input_error([] { MeshLayout(0, {.dp = 1, .tp = 1, .pp = 1}); }, {"world size must be >= 1"});
}

TEST(MeshLayout, RankOutsideTheMeshThrows) {
  const MeshLayout m(4, {.dp = 2, .tp = 2, .pp = 1});
  EXPECT_THROW(m.coord(4), Error);
  EXPECT_THROW(m.coord(-1), Error);
  EXPECT_THROW(m.rank_of({.dp = 2, .tp = 0, .pp = 0}), Error);
}

TEST(DataCenters, FromCountAreContiguousEqualBlocks) {
  EXPECT_EQ(data_centers_from_count(8, 2), (Ranks{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(data_centers_from_count(6, 3), (Ranks{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(data_centers_from_count(4, 4), (Ranks{0, 1, 2, 3}));
  EXPECT_EQ(data_centers_from_count(5, 1), (Ranks{0, 0, 0, 0, 0}));
}

TEST(DataCenters, FromCountErrors) {
  expect_input_error([] { data_centers_from_count(4, 5); }, {"--dcs 5", "more data centers than there are ranks (4)"});
  expect_input_error([] { data_centers_from_count(6, 4); }, {"--dcs 4", "6 ranks", "equal size", "1, 2, 3, 6", "--dc-map"});
  expect_input_error([] { data_centers_from_count(4, 0); }, {"--dcs must be >= 1"});
}

TEST(DataCenters, ParseMap) {
  EXPECT_EQ(parse_data_center_map("0,0,1,1", 4), (Ranks{0, 0, 1, 1}));
  EXPECT_EQ(parse_data_center_map("1,0,1,0", 4), (Ranks{1, 0, 1, 0}));
  EXPECT_EQ(parse_data_center_map(" 0, 2 ,1,2", 4), (Ranks{0, 2, 1, 2}));
  EXPECT_EQ(parse_data_center_map("0", 1), (Ranks{0}));
}

TEST(DataCenters, ParseMapErrors) {
  expect_input_error([] { parse_data_center_map("0,0,1", 4); }, {"--dc-map '0,0,1'", "3 entries", "4 ranks"});
  expect_input_error([] { parse_data_center_map("0,0,1,1,1", 4); }, {"5 entries", "4 ranks"});
  expect_input_error([] { parse_data_center_map("0,2,2,0", 4); }, {"0..K-1", "1 is missing"});
  expect_input_error([] { parse_data_center_map("1,1,1,1", 4); }, {"0 is missing"});
  expect_input_error([] { parse_data_center_map("0,a,1,1", 4); }, {"entry 2", "'a'"});
  expect_input_error([] { parse_data_center_map("0,,1,1", 4); }, {"entry 2"});
  expect_input_error([] { parse_data_center_map("0,-1,1,1", 4); }, {"entry 2", "'-1'"});
  expect_input_error([] { parse_data_center_map("0,1x,1,1", 4); }, {"entry 2", "'1x'"});
  expect_input_error([] { parse_data_center_map("0,1,1,", 4); }, {"entry 4"});
  expect_input_error([] { parse_data_center_map("", 4); }, {"--dc-map is empty"});
  // An id of at least the world size is refused before any arithmetic on it (id + 1 overflowed).
  expect_input_error([] { parse_data_center_map("0,5", 2); }, {"entry 2", "id 5", "2 ranks", "K <= 2"});
  expect_input_error([] { parse_data_center_map("2147483647", 1); }, {"entry 1", "id 2147483647", "K <= 1"});
}

TEST(Nodes, FromRanksPerNode) {
  EXPECT_EQ(nodes_from_ranks_per_node(4, 2), (Ranks{0, 0, 1, 1}));
  EXPECT_EQ(nodes_from_ranks_per_node(4, 1), (Ranks{0, 1, 2, 3}));
  EXPECT_EQ(nodes_from_ranks_per_node(4, 4), (Ranks{0, 0, 0, 0}));
  expect_input_error([] { nodes_from_ranks_per_node(6, 4); }, {"--ranks-per-node 4", "1, 2, 3, 6"});
  expect_input_error([] { nodes_from_ranks_per_node(6, 0); }, {"--ranks-per-node must be >= 1"});
}

TEST(Nodes, DenseIdsNumberInOrderOfFirstAppearance) {
  const std::vector<int> labels = {7, 7, 3, 7, 3, 9};
  EXPECT_EQ(dense_ids(labels), (Ranks{0, 0, 1, 0, 1, 2}));
  EXPECT_TRUE(dense_ids(std::vector<int>{}).empty());
}

TEST(MeshLayout, NodesAndDataCenters) {
  MeshLayout m(8, {.dp = 2, .tp = 2, .pp = 2});
  EXPECT_EQ(m.num_nodes(), 1);
  EXPECT_EQ(m.num_dcs(), 1);
  EXPECT_EQ(m.dc_ranks(0), (Ranks{0, 1, 2, 3, 4, 5, 6, 7}));
  m.set_nodes(nodes_from_ranks_per_node(8, 2));
  m.set_data_centers(parse_data_center_map("1,1,0,0,1,1,0,0", 8));
  EXPECT_EQ(m.num_nodes(), 4);
  EXPECT_EQ(m.num_dcs(), 2);
  EXPECT_EQ(m.node_of(5), 2);
  EXPECT_EQ(m.node_ranks(2), (Ranks{4, 5}));
  EXPECT_EQ(m.dc_of(2), 0);
  EXPECT_EQ(m.dc_ranks(0), (Ranks{2, 3, 6, 7}));
  EXPECT_EQ(m.dc_ranks(1), (Ranks{0, 1, 4, 5}));
  EXPECT_EQ(m.dc_leader(0), 2);
  EXPECT_EQ(m.dc_leader(1), 0);
  EXPECT_EQ(m.describe(), "8 ranks = dp=2 × tp=2 × pp=2, 4 nodes, 2 data centers");
  expect_input_error([&] { m.set_nodes({0, 0, 1}); }, {"node assignment has 3 entries", "8 ranks"});
  expect_input_error([&] { m.set_data_centers({0, 0, 0, 0, 2, 2, 2, 2}); }, {"1 is missing"});
  EXPECT_THROW(m.dc_ranks(2), Error);
}

}  // namespace
}  // namespace meridian
