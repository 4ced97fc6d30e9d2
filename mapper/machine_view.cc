/* Processor numbering and memory choice. */
#include "machine_view.h"

#include "kinds.h"

namespace hpcmap {

using Legion::Machine;
using Legion::Memory;
using Legion::Processor;

MachineView::MachineView(Machine machine) : machine_(machine)
{
  Machine::ProcessorQuery all(machine);
  for (Machine::ProcessorQuery::iterator it = all.begin(); it != all.end(); it++) {
    int64_t node = it->address_space();
    nodes_ = std::max(nodes_, node + 1);
    auto &list = by_kind_[{it->kind(), node}];
    coords_[*it] = {node, (int64_t)list.size()};
    list.push_back(*it);
  }
}

const std::vector<Processor> &MachineView::procs(Processor::Kind kind, int64_t node) const
{
  static const std::vector<Processor> none;
  auto it = by_kind_.find({kind, node});
  return it == by_kind_.end() ? none : it->second;
}

std::pair<int64_t, int64_t> MachineView::coords(Processor p) const
{
  auto it = coords_.find(p);
  return it == coords_.end() ? std::make_pair(int64_t(p.address_space()), int64_t(0)) : it->second;
}

Processor MachineView::proc(Processor::Kind kind, int64_t node, int64_t index) const
{
  const auto &list = procs(kind, node);
  return index >= 0 && index < (int64_t)list.size() ? list[index] : Processor::NO_PROC;
}

MachineShape MachineView::shape(int64_t local_node) const
{
  MachineShape s;
  s.nodes = nodes_;
  for (const char *word : {"CPU", "GPU", "OMP", "IO", "PY", "PROC"}) {
    const auto &list = procs(proc_kind(word), local_node);
    s.procs[word] = (int64_t)list.size();
    for (const char *mem : {"SYSMEM", "FBMEM", "ZCMEM", "RDMEM", "SOCKMEM"})
      if (!list.empty() && best_memory(list[0], mem_kind(mem)).exists()) s.sees[word].insert(mem);
  }
  return s;
}

Memory MachineView::best_memory(Processor p, Memory::Kind kind) const
{
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(p, kind);
  auto hit = memory_cache_.find(key);
  if (hit != memory_cache_.end()) return hit->second;
  Memory best = Memory::NO_MEMORY;
  unsigned best_bandwidth = 0;
  Machine::MemoryQuery query(machine_);
  query.has_affinity_to(p).only_kind(kind);
  for (Machine::MemoryQuery::iterator it = query.begin(); it != query.end(); it++) {
    if (it->capacity() == 0) continue;
    std::vector<Machine::ProcessorMemoryAffinity> affinity;
    machine_.get_proc_mem_affinity(affinity, p, *it);
    unsigned bandwidth = affinity.empty() ? 0 : affinity[0].bandwidth;
    if (!best.exists() || bandwidth > best_bandwidth) best = *it, best_bandwidth = bandwidth;
  }
  memory_cache_[key] = best;
  return best;
}

}  // namespace hpcmap
