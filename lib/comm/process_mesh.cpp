// Builds the mesh's communicators: the layout first (options validated identically on every rank,
// so a bad option is the same InputError everywhere before any communication), then one split of
// the world per group kind, with the group's coordinate as the key (TP innermost, PP outermost).
#include "comm/process_mesh.hpp"

#include <vector>

#include "core/error.hpp"

namespace meridian {
namespace {

int rank_in(MPI_Comm comm) {
  int rank = 0;
  MPI_CHECK(MPI_Comm_rank(comm, &rank));
  return rank;
}

int size_of(MPI_Comm comm) {
  int size = 0;
  MPI_CHECK(MPI_Comm_size(comm, &size));
  return size;
}

// Node of every rank from the shared-memory split: each rank names its node by the lowest world
// rank on it, the names are gathered and renumbered 0..K-1 in rank order.
std::vector<int> nodes_from_shared_memory(MPI_Comm world) {
  const int rank = rank_in(world);
  MPI_Comm node = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
  int lowest = rank;
  const int rc = MPI_Allreduce(&rank, &lowest, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  MPI_CHECK(rc);
  std::vector<int> lowest_of_rank(static_cast<std::size_t>(size_of(world)));
  MPI_CHECK(MPI_Allgather(&lowest, 1, MPI_INT, lowest_of_rank.data(), 1, MPI_INT, world));
  return dense_ids(lowest_of_rank);
}

MeshLayout build_layout(MPI_Comm world, const MeshOptions& options) {
  MERIDIAN_CHECK(world != MPI_COMM_NULL, "ProcessMesh: the world communicator is MPI_COMM_NULL");
  const int size = size_of(world);
  // Everything that can be wrong with the options is checked before the first collective call.
  MeshLayout layout(size, resolve_shape(size, options.shape));
  MERIDIAN_INPUT_CHECK(options.dc_map.empty() || options.dcs == 1,
                       "give either --dcs or --dc-map, not both (got --dcs ", options.dcs, " and --dc-map '",
                       options.dc_map, "')");
  layout.set_data_centers(options.dc_map.empty() ? data_centers_from_count(size, options.dcs)
                                                 : parse_data_center_map(options.dc_map, size));
  MERIDIAN_INPUT_CHECK(options.ranks_per_node >= 0, "--ranks-per-node must be >= 1, or 0 for the real nodes; got ",
                       options.ranks_per_node);
  if (options.ranks_per_node > 0) {
    layout.set_nodes(nodes_from_ranks_per_node(size, options.ranks_per_node));
  } else {
    layout.set_nodes(nodes_from_shared_memory(world));
  }
  return layout;
}

}  // namespace

ProcessMesh::ProcessMesh(MPI_Comm world, const MeshOptions& options)
    : rank_(world != MPI_COMM_NULL ? rank_in(world) : 0), layout_(build_layout(world, options)) {
  world_ = make_communicator(options.backend, world);
  if (options.backend != CommBackend::mpi) control_ = make_communicator(CommBackend::mpi, world);
  const MeshCoord c = coord();
  tp_ = world_->split(layout_.tp_group_id(rank_), c.tp);
  dp_ = world_->split(layout_.dp_group_id(rank_), c.dp);
  pp_ = world_->split(layout_.pp_group_id(rank_), c.pp);
  node_ = world_->split(node_id(), rank_);
  dc_ = world_->split(dc_id(), rank_);
  dc_leaders_ = world_->split(is_dc_leader() ? 0 : Communicator::no_color, dc_id());
}

}  // namespace meridian
