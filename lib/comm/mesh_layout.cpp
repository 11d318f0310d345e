// MeshLayout arithmetic and the parsing of node / data-center assignments. Ranks are ordered TP
// innermost, DP, then PP outermost (rank = tp + TP·(dp + DP·pp)); ids of nodes and data centers
// are dense (0..K-1).
#include "comm/mesh_layout.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>
#include <unordered_map>

#include "kernels/common/error.hpp"

namespace meridian {

std::string mesh_shape_string(const MeshShape& shape) {
  return cat("dp=", shape.dp, " × tp=", shape.tp, " × pp=", shape.pp);
}

namespace {

// A shape with dp·tp·pp == world_size that keeps as much of the requested one as possible.
MeshShape suggest_shape(int world_size, const MeshShape& wanted) {
  const std::int64_t tp = std::max(1, wanted.tp), pp = std::max(1, wanted.pp);
  if (world_size % (tp * pp) == 0) return {static_cast<int>(world_size / (tp * pp)), wanted.tp, wanted.pp};
  if (world_size % tp == 0) return {static_cast<int>(world_size / tp), wanted.tp, 1};
  if (world_size % pp == 0) return {static_cast<int>(world_size / pp), 1, wanted.pp};
  return {world_size, 1, 1};
}

}  // namespace

MeshShape resolve_shape(int world_size, MeshShape shape) {
  if (shape.dp != 0) return shape;
  MERIDIAN_INPUT_CHECK(shape.tp >= 1, "mesh dimension tp must be >= 1, got tp=", shape.tp);
  MERIDIAN_INPUT_CHECK(shape.pp >= 1, "mesh dimension pp must be >= 1, got pp=", shape.pp);
  const std::int64_t tp_pp = std::int64_t{shape.tp} * shape.pp;
  if (world_size >= 1 && world_size % tp_pp == 0) return {static_cast<int>(world_size / tp_pp), shape.tp, shape.pp};
  const MeshShape fit = suggest_shape(world_size, shape);
  throw InputError(cat("world size ", world_size, " is not a multiple of tp=", shape.tp, " × pp=", shape.pp, " = ",
                       tp_pp, ", so no dp fits; choose tp·pp dividing ", world_size, ", e.g. ", mesh_shape_string(fit)));
}

MeshLayout::MeshLayout(int world_size, MeshShape shape)
    : world_size_(world_size),
      shape_(shape),
      node_of_rank_(static_cast<std::size_t>(std::max(world_size, 0)), 0),
      dc_of_rank_(static_cast<std::size_t>(std::max(world_size, 0)), 0) {
  MERIDIAN_INPUT_CHECK(world_size >= 1, "the world size must be >= 1, got ", world_size);
  MERIDIAN_INPUT_CHECK(shape.dp >= 1, "mesh dimension dp must be >= 1, got dp=", shape.dp);
  MERIDIAN_INPUT_CHECK(shape.tp >= 1, "mesh dimension tp must be >= 1, got tp=", shape.tp);
  MERIDIAN_INPUT_CHECK(shape.pp >= 1, "mesh dimension pp must be >= 1, got pp=", shape.pp);
  const std::int64_t product = std::int64_t{shape.dp} * shape.tp * shape.pp;
  if (product != world_size) {
    const MeshShape fit = suggest_shape(world_size, shape);
    throw InputError(cat("world size ", world_size, " does not factor into ", mesh_shape_string(shape), " = ",
                         product, "; choose dp·tp·pp = ", world_size, ", e.g. ", mesh_shape_string(fit),
                         ", or launch ", product, " ranks"));
  }
}

void MeshLayout::check_rank(int rank) const {
  MERIDIAN_CHECK(rank >= 0 && rank < world_size_, "rank ", rank, " is outside the mesh of ", world_size_, " ranks");
}

MeshCoord MeshLayout::coord(int rank) const {
  check_rank(rank);
  return {(rank / shape_.tp) % shape_.dp, rank % shape_.tp, rank / (shape_.tp * shape_.dp)};
}

int MeshLayout::rank_of(MeshCoord c) const {
  MERIDIAN_CHECK(c.dp >= 0 && c.dp < shape_.dp && c.tp >= 0 && c.tp < shape_.tp && c.pp >= 0 && c.pp < shape_.pp,
                 "mesh coordinate (dp=", c.dp, ", tp=", c.tp, ", pp=", c.pp, ") is outside ", mesh_shape_string(shape_));
  return c.tp + shape_.tp * (c.dp + shape_.dp * c.pp);
}

std::vector<int> MeshLayout::tp_group(int rank) const {
  MeshCoord c = coord(rank);
  std::vector<int> ranks;
  for (c.tp = 0; c.tp < shape_.tp; ++c.tp) ranks.push_back(rank_of(c));
  return ranks;
}

std::vector<int> MeshLayout::dp_group(int rank) const {
  MeshCoord c = coord(rank);
  std::vector<int> ranks;
  for (c.dp = 0; c.dp < shape_.dp; ++c.dp) ranks.push_back(rank_of(c));
  return ranks;
}

std::vector<int> MeshLayout::pp_group(int rank) const {
  MeshCoord c = coord(rank);
  std::vector<int> ranks;
  for (c.pp = 0; c.pp < shape_.pp; ++c.pp) ranks.push_back(rank_of(c));
  return ranks;
}

int MeshLayout::dp_group_id(int rank) const {
  const MeshCoord c = coord(rank);
  return c.pp * shape_.tp + c.tp;
}

namespace {

// Checks that `ids` has one entry per rank and uses exactly 0..K-1; returns K.
int check_dense(const std::vector<int>& ids, int world_size, const char* what) {
  MERIDIAN_INPUT_CHECK(static_cast<std::int64_t>(ids.size()) == world_size, what, " assignment has ", ids.size(),
                       " entries but the world has ", world_size, " ranks; give one id per rank");
  int count = 0;
  for (int id : ids) {
    MERIDIAN_INPUT_CHECK(id >= 0, what, " ids must be >= 0, got ", id);
    count = std::max(count, id + 1);
  }
  std::vector<bool> used(static_cast<std::size_t>(count), false);
  for (int id : ids) used[static_cast<std::size_t>(id)] = true;
  for (int id = 0; id < count; ++id)
    MERIDIAN_INPUT_CHECK(used[static_cast<std::size_t>(id)], what, " ids must be 0..K-1 with each one used, but ",
                         id, " is missing (largest id ", count - 1, ")");
  return count;
}

}  // namespace

void MeshLayout::set_nodes(std::vector<int> node_of_rank) {
  num_nodes_ = check_dense(node_of_rank, world_size_, "node");
  node_of_rank_ = std::move(node_of_rank);
}

void MeshLayout::set_data_centers(std::vector<int> dc_of_rank) {
  num_dcs_ = check_dense(dc_of_rank, world_size_, "data-center");
  dc_of_rank_ = std::move(dc_of_rank);
}

int MeshLayout::node_of(int rank) const {
  check_rank(rank);
  return node_of_rank_[static_cast<std::size_t>(rank)];
}

int MeshLayout::dc_of(int rank) const {
  check_rank(rank);
  return dc_of_rank_[static_cast<std::size_t>(rank)];
}

namespace {

std::vector<int> ranks_with(const std::vector<int>& ids, int id) {
  std::vector<int> ranks;
  for (std::size_t r = 0; r < ids.size(); ++r)
    if (ids[r] == id) ranks.push_back(static_cast<int>(r));
  return ranks;
}

}  // namespace

std::vector<int> MeshLayout::node_ranks(int node) const {
  MERIDIAN_CHECK(node >= 0 && node < num_nodes_, "node ", node, " does not exist (", num_nodes_, " nodes)");
  return ranks_with(node_of_rank_, node);
}

std::vector<int> MeshLayout::dc_ranks(int dc) const {
  MERIDIAN_CHECK(dc >= 0 && dc < num_dcs_, "data center ", dc, " does not exist (", num_dcs_, " data centers)");
  return ranks_with(dc_of_rank_, dc);
}

int MeshLayout::dc_leader(int dc) const { return dc_ranks(dc).front(); }

std::string MeshLayout::describe() const {
  return cat(world_size_, " ranks = ", mesh_shape_string(shape_), ", ", num_nodes_, num_nodes_ == 1 ? " node" : " nodes",
             ", ", num_dcs_, num_dcs_ == 1 ? " data center" : " data centers");
}

// ---------------------------------------------------------------------------------------------
// Assignments from options

namespace {

std::string divisors_of(int n) {
  std::string out;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) out += cat(out.empty() ? "" : ", ", d);
  return out;
}

std::vector<int> contiguous_blocks(int world_size, int blocks) {
  std::vector<int> ids(static_cast<std::size_t>(world_size));
  const int per_block = world_size / blocks;
  for (int r = 0; r < world_size; ++r) ids[static_cast<std::size_t>(r)] = r / per_block;
  return ids;
}

}  // namespace

std::vector<int> data_centers_from_count(int world_size, int dcs) {
  MERIDIAN_INPUT_CHECK(world_size >= 1, "the world size must be >= 1, got ", world_size);
  MERIDIAN_INPUT_CHECK(dcs >= 1, "--dcs must be >= 1, got ", dcs);
  MERIDIAN_INPUT_CHECK(dcs <= world_size, "--dcs ", dcs, " asks for more data centers than there are ranks (",
                       world_size, "); use at most ", world_size, ", or launch more ranks");
  MERIDIAN_INPUT_CHECK(world_size % dcs == 0, "--dcs ", dcs, ": the ", world_size,
                       " ranks do not split into ", dcs, " data centers of equal size; choose one of ",
                       divisors_of(world_size), ", or give the assignment explicitly with --dc-map");
  return contiguous_blocks(world_size, dcs);
}

std::vector<int> parse_data_center_map(std::string_view map, int world_size) {
  const std::string shown(map);
  MERIDIAN_INPUT_CHECK(!map.empty(), "--dc-map is empty; give one data-center id per rank, e.g. 0,0,1,1");
  std::vector<int> ids;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = map.find(',', start);
    std::string_view item = map.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    int id = -1;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), id);
    MERIDIAN_INPUT_CHECK(!item.empty() && error == std::errc() && end == item.data() + item.size() && id >= 0,
                         "--dc-map '", shown, "': entry ", ids.size() + 1, " ('", std::string(item),
                         "') is not a data-center id (a non-negative integer)");
    ids.push_back(id);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  MERIDIAN_INPUT_CHECK(static_cast<std::int64_t>(ids.size()) == world_size, "--dc-map '", shown, "' has ",
                       ids.size(), " entries but the world has ", world_size, " ranks; give one id per rank");
  int count = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    MERIDIAN_INPUT_CHECK(ids[i] < world_size, "--dc-map '", shown, "': entry ", i + 1, " is data-center id ",
                         ids[i], ", but the world has ", world_size, " ranks, so the ids must be 0..K-1 with K <= ",
                         world_size, " (each one used)");
    count = std::max(count, ids[i] + 1);
  }
  for (int id = 0; id < count; ++id)
    MERIDIAN_INPUT_CHECK(std::find(ids.begin(), ids.end(), id) != ids.end(), "--dc-map '", shown,
                         "': data-center ids must be 0..K-1 with each one used, but ", id, " is missing");
  return ids;
}

std::vector<int> nodes_from_ranks_per_node(int world_size, int ranks_per_node) {
  MERIDIAN_INPUT_CHECK(world_size >= 1, "the world size must be >= 1, got ", world_size);
  MERIDIAN_INPUT_CHECK(ranks_per_node >= 1, "--ranks-per-node must be >= 1, got ", ranks_per_node);
  MERIDIAN_INPUT_CHECK(world_size % ranks_per_node == 0, "--ranks-per-node ", ranks_per_node, ": the ",
                       world_size, " ranks do not fill whole nodes; choose one of ", divisors_of(world_size));
  return contiguous_blocks(world_size, world_size / ranks_per_node);
}

std::vector<int> dense_ids(std::span<const int> labels) {
  std::unordered_map<int, int> id_of_label;
  std::vector<int> ids;
  ids.reserve(labels.size());
  for (int label : labels) {
    const int next = static_cast<int>(id_of_label.size());
    ids.push_back(id_of_label.try_emplace(label, next).first->second);
  }
  return ids;
}

}  // namespace meridian
