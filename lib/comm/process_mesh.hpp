// ProcessMesh: every communicator of a DP×TP×PP run built from one MeshLayout (TP innermost, PP
// outermost, as Megatron), plus the ranks sharing a node (failure domain) and a data center, and
// one communicator of data-center leaders. Collective over the world communicator it is given.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "comm/communicator.hpp"
#include "comm/mesh_layout.hpp"

namespace meridian {

struct MeshOptions {
  MeshShape shape{.dp = 0};                // --dp --tp --pp; dp 0 = world / (tp·pp)
  int dcs = 1;                             // --dcs N: N contiguous data centers of equal size
  std::string dc_map;                      // --dc-map 0,0,1,1: explicit data center per rank
  int ranks_per_node = 0;                  // --ranks-per-node: 0 = the real nodes (shared memory)
  CommBackend backend = CommBackend::mpi;  // of every communicator of the mesh
};

class ProcessMesh {
 public:
  // Collective over `world` (duplicated; the caller keeps it). InputError, on every rank alike,
  // when the world does not factor into the shape or the data-center / node options are wrong.
  ProcessMesh(MPI_Comm world, const MeshOptions& options);

  const MeshLayout& layout() const { return layout_; }
  int rank() const { return rank_; }  // in the world given to the constructor
  MeshCoord coord() const { return layout_.coord(rank_); }
  int node_id() const { return layout_.node_of(rank_); }
  int dc_id() const { return layout_.dc_of(rank_); }

  Communicator& world() { return *world_; }
  // The world over MPI whatever the mesh's backend: for host-memory scalars (losses, norms, verdicts)
  // when the groups are NCCL communicators of device memory. The world itself under MPI.
  Communicator& control() { return control_ ? *control_ : *world_; }
  Communicator& tp() { return *tp_; }  // ranked by tp coordinate
  Communicator& dp() { return *dp_; }  // ranked by dp coordinate
  Communicator& pp() { return *pp_; }  // ranked by pp coordinate (stage)
  Communicator& node() { return *node_; }  // ranks sharing this rank's node, by world rank
  Communicator& dc() { return *dc_; }      // ranks sharing this rank's data center, by world rank
  // One rank per data center (its lowest), ranked by data-center id. Only leaders are members:
  // on every other rank this is nullptr.
  Communicator* dc_leaders() { return dc_leaders_.get(); }
  bool is_dc_leader() const { return layout_.dc_leader(dc_id()) == rank_; }

 private:
  int rank_ = 0;
  MeshLayout layout_;
  std::unique_ptr<Communicator> world_, tp_, dp_, pp_, node_, dc_, dc_leaders_, control_;
};

}  // namespace meridian
