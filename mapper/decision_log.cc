/* JSON-lines writer shared by all mapper instances of a process. */
#include "decision_log.h"

namespace hpcmap {

void DecisionLog::open(const char *path, int node)
{
  if (!path || !*path) return;
  std::string name = path;
  size_t at = name.find('%');
  if (at != std::string::npos) name.replace(at, 1, std::to_string(node));
  file_ = fopen(name.c_str(), "w");
  if (!file_) fprintf(stderr, "hpcmap-mapper: warning: cannot write the decision log %s\n", name.c_str());
}

void DecisionLog::write(const std::string &line)
{
  if (!file_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  fputs(line.c_str(), file_);
  fputc('\n', file_);
  fflush(file_);  // the process may end with _exit on a mapping error
}

std::string json_string(const std::string &s)
{
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if ((unsigned char)c < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

std::string json_ints(const std::vector<long long> &v)
{
  std::string out = "[";
  for (size_t k = 0; k < v.size(); k++) out += (k ? "," : "") + std::to_string(v[k]);
  return out + "]";
}

}  // namespace hpcmap
