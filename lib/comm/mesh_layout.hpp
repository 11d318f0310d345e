// The rank layout of a DP×TP×PP run, as pure logic (no MPI): which coordinates a rank has, which
// ranks form its TP/DP/PP groups, and which share a node (failure domain) or a data center.
// Ordering as Megatron: TP innermost, then DP, PP outermost: rank = tp + TP·(dp + DP·pp).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace meridian {

struct MeshShape {
  int dp = 1;
  int tp = 1;
  int pp = 1;
  bool operator==(const MeshShape&) const = default;
};
std::string mesh_shape_string(const MeshShape& shape);  // "dp=2 × tp=2 × pp=1"

// `shape` with dp == 0 replaced by world_size / (tp·pp) ("data parallel over whatever is left");
// other shapes are returned as they are. InputError when tp·pp does not divide the world.
MeshShape resolve_shape(int world_size, MeshShape shape);

struct MeshCoord {
  int dp = 0;
  int tp = 0;
  int pp = 0;
  bool operator==(const MeshCoord&) const = default;
};

class MeshLayout {
 public:
  // InputError when a dimension is < 1 or world_size != dp·tp·pp (the message proposes a shape
  // that fits). Every rank starts on node 0 and in data center 0.
  MeshLayout(int world_size, MeshShape shape);

  int world_size() const { return world_size_; }
  const MeshShape& shape() const { return shape_; }

  MeshCoord coord(int rank) const;
  int rank_of(MeshCoord coord) const;

  // The world ranks of `rank`'s group along one dimension, in order of that dimension's
  // coordinate (so entry i has coordinate i). TP groups are runs of consecutive ranks.
  std::vector<int> tp_group(int rank) const;
  std::vector<int> dp_group(int rank) const;
  std::vector<int> pp_group(int rank) const;
  // Which group of that dimension `rank` is in: 0 .. (number of such groups - 1). Ranks with the
  // same id form one group (the color for a communicator split).
  int tp_group_id(int rank) const { return rank / shape_.tp; }
  int dp_group_id(int rank) const;
  int pp_group_id(int rank) const { return rank % (shape_.tp * shape_.dp); }

  // Nodes (failure domains) and data centers: one id per rank, ids 0..K-1 each used.
  // Throw InputError otherwise (the ids usually come from user options).
  void set_nodes(std::vector<int> node_of_rank);
  void set_data_centers(std::vector<int> dc_of_rank);
  int node_of(int rank) const;
  int dc_of(int rank) const;
  int num_nodes() const { return num_nodes_; }
  int num_dcs() const { return num_dcs_; }
  std::vector<int> node_ranks(int node) const;  // ascending
  std::vector<int> dc_ranks(int dc) const;      // ascending
  int dc_leader(int dc) const;                  // lowest rank of the data center
  const std::vector<int>& node_of_rank() const { return node_of_rank_; }
  const std::vector<int>& dc_of_rank() const { return dc_of_rank_; }

  // "8 ranks = dp=2 × tp=2 × pp=2, 2 nodes, 2 data centers"
  std::string describe() const;

 private:
  void check_rank(int rank) const;

  int world_size_;
  MeshShape shape_;
  std::vector<int> node_of_rank_;
  std::vector<int> dc_of_rank_;
  int num_nodes_ = 1;
  int num_dcs_ = 1;
};

// Data centers as `dcs` contiguous blocks of equal size (option --dcs N). InputError when
// dcs < 1, dcs > world_size or world_size % dcs != 0.
std::vector<int> data_centers_from_count(int world_size, int dcs);
// Data centers from an explicit map "0,0,1,1" (option --dc-map): one id per rank, ids 0..K-1
// each used. InputError naming the problem otherwise.
std::vector<int> parse_data_center_map(std::string_view map, int world_size);
// Nodes as blocks of `ranks_per_node` consecutive ranks (option --ranks-per-node, to emulate
// several failure domains on one machine). InputError when it is < 1 or does not divide world_size.
std::vector<int> nodes_from_ranks_per_node(int world_size, int ranks_per_node);
// Renumbers arbitrary labels 0..K-1 in order of first appearance ({7,7,3,7,3} -> {0,0,1,0,1}).
std::vector<int> dense_ids(std::span<const int> labels);

}  // namespace meridian
