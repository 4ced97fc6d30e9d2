/* Sharding functor of one mapping function: the node part of its answer picks the shard
 * (used under control replication; one shard per node). Answers are cached: the runtime asks
 * for every point of every launch, and the answer depends only on the point and the domain. */
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "evaluator.h"
#include "legion.h"

namespace hpcmap {

struct SharedState;

class PolicyShardingFunctor : public Legion::ShardingFunctor {
public:
  PolicyShardingFunctor(const SharedState &state, std::string function, int64_t local_node);

  Legion::ShardID shard(const Legion::DomainPoint &point, const Legion::Domain &full_space,
                        const size_t total_shards) override;

private:
  const SharedState &state_;
  std::string function_;
  int64_t local_node_;
  std::mutex mutex_;  // shard() may run on several threads at once
  Evaluator evaluator_;
  std::map<std::tuple<Tuple, Tuple, size_t>, Legion::ShardID> cache_;  // (point, extents, shards)
};

/* Registers one functor per function named by an IndexTaskMap that applies; fills state.sharding. */
void register_sharding_functors(Legion::Runtime *runtime, SharedState &state, int64_t local_node);

}  // namespace hpcmap
