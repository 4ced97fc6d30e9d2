/* `-hpcmap:log FILE`: one JSON object per line for every mapping decision, so C++ decisions can
 * be compared with hpcmap.dsl.evaluate point by point. A '%' in FILE becomes the node number. */
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace hpcmap {

class DecisionLog {
public:
  /* Opens the log (truncating it); a null or empty path means no log. */
  void open(const char *path, int node);
  bool enabled() const { return file_ != nullptr; }
  void write(const std::string &line);

private:
  FILE *file_ = nullptr;
  std::mutex mutex_;
};

/* Helpers that build the JSON text of a line. */
std::string json_string(const std::string &s);
std::string json_ints(const std::vector<long long> &v);

}  // namespace hpcmap
