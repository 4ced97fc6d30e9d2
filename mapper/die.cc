/* The one way a mapping-time error ends the process: one line on stderr, exit status 3, no hang. */
#include <cstdio>
#include <string>
#include <unistd.h>

#include "mapping_error.h"

namespace hpcmap {

void die(const std::string &file, int line, const std::string &message)
{
  std::string text = "hpcmap-mapper: error: " + file + ":" + std::to_string(line) + ": " + message + "\n";
  fflush(stdout);
  ssize_t ignored = write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
  _exit(3);  // no destructors, no Legion shutdown: other threads may hold runtime locks
}

}  // namespace hpcmap
