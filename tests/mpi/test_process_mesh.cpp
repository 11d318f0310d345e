// ProcessMesh over the MPI world: for every DP×TP×PP shape that fits the world, the members of
// each group communicator (found by an all-gather of world ranks) must be the groups of the
// Megatron ordering (rank = tp + TP·(dp + DP·pp)), written out here from that formula.
#include <gtest/gtest.h>
#include <mpi.h>

#include <string>
#include <vector>

#include "mpi_world.hpp"
#include "comm/process_mesh.hpp"

namespace meridian {
namespace {

using testing::world_rank;
using testing::world_size;

// World ranks of the members of `comm`, in its rank order.
std::vector<int> members(Communicator& comm) {
  int me = world_rank();
  std::vector<int> all(static_cast<std::size_t>(comm.size()), -1);
  comm.all_gather(&me, all.data(), 1, DType::i32);
  return all;
}

std::vector<int> range(int first, int count, int stride = 1) {
  std::vector<int> v;
  for (int i = 0; i < count; ++i) v.push_back(first + i * stride);
  return v;
}

TEST(ProcessMesh, GroupsOfEveryShapeThatFits) {
  const int w = world_size(), r = world_rank();
  int shapes_run = 0;
  for (int tp = 1; tp <= w; ++tp)
    for (int pp = 1; pp <= w; ++pp) {
      if (w % (tp * pp) != 0) continue;
      const MeshShape shape{.dp = w / (tp * pp), .tp = tp, .pp = pp};
      SCOPED_TRACE(mesh_shape_string(shape));
      MeshOptions options;
      options.shape = shape;
      ProcessMesh mesh(MPI_COMM_WORLD, options);
      const int dp = shape.dp;
      // From the definition: tp varies fastest, then dp, then pp.
      const int my_tp = r % tp, my_dp = (r / tp) % dp, my_pp = r / (tp * dp);
      EXPECT_EQ(mesh.coord(), (MeshCoord{my_dp, my_tp, my_pp}));
      EXPECT_EQ(members(mesh.tp()), range(r - my_tp, tp));
      EXPECT_EQ(members(mesh.dp()), range(my_tp + tp * dp * my_pp, dp, tp));
      EXPECT_EQ(members(mesh.pp()), range(my_tp + tp * my_dp, pp, tp * dp));
      EXPECT_EQ(members(mesh.world()), range(0, w));
      EXPECT_EQ(mesh.tp().rank(), my_tp);
      EXPECT_EQ(mesh.dp().rank(), my_dp);
      EXPECT_EQ(mesh.pp().rank(), my_pp);
      // The layout agrees with the communicators.
      EXPECT_EQ(members(mesh.tp()), mesh.layout().tp_group(r));
      EXPECT_EQ(members(mesh.dp()), mesh.layout().dp_group(r));
      EXPECT_EQ(members(mesh.pp()), mesh.layout().pp_group(r));
      // The group communicators work: sum of world ranks over the DP group.
      int mine = r, sum = 0, expected = 0;
      for (int q : mesh.layout().dp_group(r)) expected += q;
      mesh.dp().iall_reduce(&mine, &sum, 1, DType::i32, ReduceOp::sum).wait();
      EXPECT_EQ(sum, expected);
      ++shapes_run;
    }
  EXPECT_GE(shapes_run, w == 4 ? 6 : 3);  // 4 ranks: 4x1x1, 2x2x1, 2x1x2, 1x4x1, 1x2x2, 1x1x4
}

TEST(ProcessMesh, NodesFromSharedMemoryAndFromRanksPerNode) {
  const int w = world_size(), r = world_rank();
  {
    ProcessMesh mesh(MPI_COMM_WORLD, MeshOptions{});
    // One machine here: every rank shares the node.
    EXPECT_EQ(mesh.layout().num_nodes(), 1);
    EXPECT_EQ(members(mesh.node()), range(0, w));
  }
  for (int per_node : {1, 2}) {
    if (w % per_node != 0) continue;
    MeshOptions options;
    options.ranks_per_node = per_node;
    ProcessMesh mesh(MPI_COMM_WORLD, options);
    EXPECT_EQ(mesh.layout().num_nodes(), w / per_node);
    EXPECT_EQ(mesh.node_id(), r / per_node);
    EXPECT_EQ(members(mesh.node()), range(r - r % per_node, per_node));
  }
}

TEST(ProcessMesh, DataCentersAndTheirLeaders) {
  const int w = world_size(), r = world_rank();
  {
    MeshOptions options;
    options.dcs = 2;
    ProcessMesh mesh(MPI_COMM_WORLD, options);
    const int half = w / 2;
    EXPECT_EQ(mesh.dc_id(), r / half);
    EXPECT_EQ(members(mesh.dc()), range(r - r % half, half));
    EXPECT_EQ(mesh.is_dc_leader(), r % half == 0);
    if (r % half == 0) {
      ASSERT_NE(mesh.dc_leaders(), nullptr);
      EXPECT_EQ(members(*mesh.dc_leaders()), (std::vector<int>{0, half}));
      EXPECT_EQ(mesh.dc_leaders()->rank(), mesh.dc_id());
    } else {
      EXPECT_EQ(mesh.dc_leaders(), nullptr);
    }
  }
  {
    // Interleaved map, data center 0 listed second: 1,0,1,0,...
    std::string map;
    for (int q = 0; q < w; ++q) {
      if (q > 0) map += ',';
      map += std::to_string((q + 1) % 2);
    }
    MeshOptions options;
    options.dc_map = map;
    ProcessMesh mesh(MPI_COMM_WORLD, options);
    EXPECT_EQ(mesh.dc_id(), (r + 1) % 2);
    std::vector<int> same;
    for (int q = 0; q < w; ++q)
      if (q % 2 == r % 2) same.push_back(q);
    EXPECT_EQ(members(mesh.dc()), same);
    const bool leader = r == 0 || r == 1;  // lowest rank of each data center
    EXPECT_EQ(mesh.is_dc_leader(), leader);
    if (leader) {
      ASSERT_NE(mesh.dc_leaders(), nullptr);
      // Ranked by data-center id: dc 0 (led by rank 1) first.
      EXPECT_EQ(members(*mesh.dc_leaders()), (std::vector<int>{1, 0}));
    } else {
      EXPECT_EQ(mesh.dc_leaders(), nullptr);
    }
  }
}

TEST(ProcessMesh, BadOptionsAreTheSameInputErrorOnEveryRank) {
  const int w = world_size();
  auto expect_error = [](const MeshOptions& options, const std::string& part) {
    try {
      ProcessMesh mesh(MPI_COMM_WORLD, options);
      ADD_FAILURE() << "accepted bad mesh options";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto with = [](auto&& change) {
    MeshOptions options;
    change(options);
    return options;
  };
  expect_error(with([&](MeshOptions& o) { o.shape = {.dp = w + 1, .tp = 1, .pp = 1}; }), "does not factor into");
  expect_error(with([&](MeshOptions& o) { o.dcs = w + 1; }), "--dcs");
  expect_error(with([](MeshOptions& o) { o.dc_map.assign(1, '0'); }), "--dc-map");
  expect_error(with([](MeshOptions& o) {
                 o.dcs = 2;
                 o.dc_map.assign("0,1");
               }),
               "not both");
  expect_error(with([](MeshOptions& o) { o.ranks_per_node = -1; }), "--ranks-per-node");
  // The world is still in step after the refusals.
  int one = 1, total = 0;
  MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(total, w);
}

}  // namespace
}  // namespace meridian
