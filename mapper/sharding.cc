/* Sharding by the node part of a mapping function's answer. */
#include "sharding.h"

#include <set>

#include "mapping_error.h"
#include "shared_state.h"
#include "task_view.h"

namespace hpcmap {

PolicyShardingFunctor::PolicyShardingFunctor(const SharedState &state, std::string function, int64_t local_node)
    : state_(state), function_(std::move(function)), local_node_(local_node),
      evaluator_(state.policy.ir(), state.machine.shape(local_node))
{
}

Legion::ShardID PolicyShardingFunctor::shard(const Legion::DomainPoint &point, const Legion::Domain &full_space,
                                             const size_t total_shards)
{
  auto view = std::make_shared<TaskView>();
  view->ipoint = point_tuple(point);
  view->ispace = extents_tuple(full_space);
  view->node = local_node_;
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_tuple(view->ipoint, view->ispace, total_shards);
  auto hit = cache_.find(key);
  if (hit != cache_.end()) return hit->second;
  try {
    Value v = evaluator_.map(function_, view);
    return cache_[key] = (Legion::ShardID)(v.procs[0].node % (int64_t)total_shards);
  } catch (const MappingError &e) {
    die(state_.policy.source(), e.line, e.what());
  }
}

void register_sharding_functors(Legion::Runtime *runtime, SharedState &state, int64_t local_node)
{
  std::set<std::string> functions;
  for (const TaskListRule &r : state.policy.ir().index_maps)
    if (state.policy.applies(r)) functions.insert(r.function);
  if (functions.empty()) return;
  Legion::ShardingID base = runtime->generate_library_sharding_ids("hpcmap", functions.size());
  for (const std::string &f : functions) {
    Legion::ShardingID id = base++;
    runtime->register_sharding_functor(id, new PolicyShardingFunctor(state, f, local_node), true);
    state.sharding[f] = id;
  }
}

}  // namespace hpcmap
