/* The machine as the policy sees it: processors of each kind numbered per node in Legion's
 * machine-query order, and the best memory of a kind for a processor. */
#pragma once

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "evaluator.h"
#include "legion.h"

namespace hpcmap {

class MachineView {
public:
  explicit MachineView(Legion::Machine machine);

  int64_t nodes() const { return nodes_; }
  /* Processors of `kind` on `node`, in query order (empty when none). */
  const std::vector<Legion::Processor> &procs(Legion::Processor::Kind kind, int64_t node) const;
  /* (node, index within its kind on that node). */
  std::pair<int64_t, int64_t> coords(Legion::Processor p) const;
  /* The processor at (kind, node, index), or NO_PROC. */
  Legion::Processor proc(Legion::Processor::Kind kind, int64_t node, int64_t index) const;
  /* Nodes and per-node counts of each kind (the local node's counts) for the evaluator. */
  MachineShape shape(int64_t local_node) const;
  /* The memory of `kind` with affinity to `p` and the highest bandwidth to it (capacity > 0), or NO_MEMORY. */
  Legion::Memory best_memory(Legion::Processor p, Legion::Memory::Kind kind) const;

private:
  Legion::Machine machine_;
  int64_t nodes_ = 1;
  std::map<std::pair<Legion::Processor::Kind, int64_t>, std::vector<Legion::Processor>> by_kind_;
  std::map<Legion::Processor, std::pair<int64_t, int64_t>> coords_;
  mutable std::mutex mutex_;
  mutable std::map<std::pair<Legion::Processor, Legion::Memory::Kind>, Legion::Memory> memory_cache_;
};

}  // namespace hpcmap
