/* Slots of InstanceLimit. */
#include "instance_limits.h"

namespace hpcmap {

bool InstanceLimits::try_start(const std::string &name, Legion::UniqueID id, int64_t limit, Legion::Processor self,
                               const Note &note)
{
  std::lock_guard<std::mutex> lock(mutex_);
  if (holders_.count(id)) return true;
  int64_t &count = in_flight_[name];
  if (count >= limit) {
    waiting_.insert(self);  // under the lock, so a slot freed right now still wakes `self`
    return false;
  }
  note(++count);
  holders_[id] = name;
  return true;
}

std::vector<Legion::Processor> InstanceLimits::finish(Legion::UniqueID id, const Note &note)
{
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = holders_.find(id);
  if (it == holders_.end()) return {};
  note(--in_flight_[it->second]);
  holders_.erase(it);
  frees_++;
  std::vector<Legion::Processor> wake(waiting_.begin(), waiting_.end());
  waiting_.clear();
  return wake;
}

uint64_t InstanceLimits::frees()
{
  std::lock_guard<std::mutex> lock(mutex_);
  return frees_;
}

}  // namespace hpcmap
